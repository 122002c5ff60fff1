"""The two faces: httpx_resilient (httpx) and httpx_resilient.httpx2, from one source.

Checks that each face imports only its own package, that the shared modules touch
neither, that the generated tree is up to date, that mixing the faces fails with an
error naming the fix, and that an ``httpx2.AsyncClient`` gets the whole stack on a real
socket, every refusal an ``httpx2.HTTPError``.
"""

from __future__ import annotations

import importlib.util
import pathlib
import socket
import subprocess
import sys
import types
import uuid

import anyio
import httpx
import pytest

import httpx_resilient

httpx2 = pytest.importorskip("httpx2", reason="the httpx2 face needs httpx2 (Python 3.11+)")

import httpx_resilient.httpx2 as h2  # noqa: E402
import httpx_resilient.httpx2.testing  # noqa: E402
import httpx_resilient.testing  # noqa: E402
from httpx_resilient.testing import FakeClock  # noqa: E402
from tests.loopback import LoopbackServer, Reply, Seen  # noqa: E402
from tests.test_redis import coredis_leaks  # noqa: E402, F401 (a fixture)
from tests.test_redis import redis as redis_command  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def generator() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("gen_httpx2", ROOT / "scripts" / "gen_httpx2.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_httpx2_face_never_imports_httpx() -> None:
    out = run(
        "import sys, httpx_resilient.httpx2 as f, httpx_resilient.httpx2.testing\n"
        "[getattr(f, n) for n in f.__all__]\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'httpcore')))"
    )
    assert out == "[]"


def test_the_httpx_face_never_imports_httpx2() -> None:
    out = run(
        "import sys, httpx_resilient as f, httpx_resilient.testing\n"
        "[getattr(f, n) for n in f.__all__]\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx2', 'httpcore2')))"
    )
    assert out == "[]"


def test_both_faces_have_the_same_public_names() -> None:
    assert h2.__all__ == httpx_resilient.__all__
    assert h2.testing.__all__ == httpx_resilient.testing.__all__


def test_the_httpx2_face_is_built_on_httpx2_types() -> None:
    assert issubclass(h2.ResilienceError, httpx2.TransportError)
    assert not issubclass(h2.ResilienceError, httpx.HTTPError)
    assert issubclass(h2.TimeoutBudgetExceeded, httpx2.TimeoutException)
    assert issubclass(h2.RateLimitedAPIClient, httpx2.AsyncClient)
    assert issubclass(h2.TokenAuth, httpx2.Auth)
    for name in ("ResilientTransport", "RetryTransport", "CacheTransport", "DedupTransport",
                 "RateLimitTransport", "CircuitBreakerTransport", "PriorityQueueTransport",
                 "MetricsTransport"):  # fmt: skip
        assert issubclass(getattr(h2, name), httpx2.AsyncBaseTransport), name
        assert not issubclass(getattr(h2, name), httpx.AsyncBaseTransport), name
    assert issubclass(h2.testing.ScriptedTransport, httpx2.AsyncBaseTransport)
    assert issubclass(h2.testing.FaultInjectionTransport, httpx2.AsyncBaseTransport)


def test_configs_and_neutral_names_are_shared_by_both_faces() -> None:
    for name in ("RetryConfig", "RateLimitConfig", "CacheConfig", "DedupConfig", "QueueConfig",
                 "CircuitBreakerConfig", "ConfigError", "ErrorType", "SQLiteStorage",
                 "MemoryStorage", "Clock", "SystemClock", "HealthStatus"):  # fmt: skip
        assert getattr(h2, name) is getattr(httpx_resilient, name), name


def test_shared_modules_import_neither_package_and_the_tree_is_fresh() -> None:
    gen = generator()
    mods = gen.source_modules()
    face = gen.classify(mods)
    must_share = [
        "_core.outcomes", "_core.faces", "_core.keys", "_core.clock", "_core.snapshots",
        "_core.validate", "_core.headers", "_core.credentials", "_breaker.config",
        "_breaker.policy", "_breaker.store", "_retry.config", "_retry.budget",
        "_cache.config", "_cache.storage", "_cache.memory", "_cache.sqlite",
        "_dedup.config", "_queue.config", "_queue.waitqueue", "_ratelimit.config",
        "_ratelimit.bucket", "_ratelimit.backend", "_ratelimit.waiters",
        "_redis.scripts", "_redis.bucket_scripts", "_redis.breaker_scripts",
        "_metrics.config", "_metrics.histogram", "_metrics.health", "_metrics.snapshot",
        "_core.redact", "_redis.backend", "_redis.link", "_redis.client", "_redis.breaker",
        "_redis.ratelimit", "_redis.storage", "_cache.policy", "_cache.directives",
        "_cache.keys",
    ]  # fmt: skip
    assert [m for m in must_share if f"httpx_resilient.{m}" in face] == []
    for name, path in mods.items():
        _, external = gen.runtime_imports(name, path)
        if name not in face:
            assert not external & {"httpx", "httpcore", "httpx2", "httpcore2"}, name
    stale = [p for p, text in gen.expected().items() if not p.exists() or p.read_text() != text]
    assert stale == [], "run: python scripts/gen_httpx2.py"


def test_the_check_fails_on_a_stale_tree() -> None:
    """``--check`` sees an edited, a missing and an orphaned generated file."""
    gen = generator()
    want = gen.expected()
    path = ROOT / "httpx_resilient" / "httpx2" / "_core" / "layer.py"
    orphan = ROOT / "httpx_resilient" / "httpx2" / "gone.py"
    assert gen.stale_paths(want, dict(want)) == []
    assert gen.stale_paths(want, {**want, path: want[path] + "# edited\n"}) == [path]
    assert gen.stale_paths(want, {p: t for p, t in want.items() if p != path}) == [path]
    assert gen.stale_paths(want, {**want, orphan: ""}) == [orphan]
    done = subprocess.run(
        [sys.executable, "scripts/gen_httpx2.py", "--check"], cwd=ROOT, check=False
    )
    assert done.returncode == 0


def test_the_rewrite_renames_packages_and_points_imports_at_twins() -> None:
    gen = generator()
    mods = gen.source_modules()
    rewriter = gen.Rewriter(gen.classify(mods), set(mods))
    source = (
        "import httpx\nfrom httpcore import X\nfrom .errors import ResilienceError\n"
        "from .clock import Clock\ns = 'an httpx.Request, not httpx_resilient'\n"
    )
    out = rewriter.rewrite(source, "httpx_resilient._core.layer", False)
    assert out == (
        "import httpx2\nfrom httpcore2 import X\n"
        "from httpx_resilient.httpx2._core.errors import ResilienceError\n"
        "from httpx_resilient._core.clock import Clock\n"
        "s = 'an httpx2.Request, not httpx_resilient'\n"
    )


# -- mixing the faces fails with an error that names the fix ---------------------------


def test_an_httpx2_inner_in_the_httpx_face_names_the_fix() -> None:
    inner = httpx2.MockTransport(lambda r: httpx2.Response(200))
    with pytest.raises(
        httpx_resilient.ConfigError, match=r"import the same names from httpx_resilient\.httpx2"
    ):
        httpx_resilient.ResilientTransport(inner=inner)
    with pytest.raises(TypeError, match=r"httpx_resilient\.httpx2"):
        httpx_resilient.RetryTransport(inner, httpx_resilient.RetryConfig())


def test_an_httpx_inner_in_the_httpx2_face_names_the_fix() -> None:
    inner = httpx.MockTransport(lambda r: httpx.Response(200))
    with pytest.raises(
        h2.ConfigError, match=r"httpx object.*import the same names from httpx_resilient$"
    ):
        h2.ResilientTransport(inner=inner)
    with pytest.raises(TypeError, match=r"httpx object.*from httpx_resilient$"):
        h2.CacheTransport(inner, h2.CacheConfig())


@pytest.mark.anyio
async def test_an_httpx2_client_with_the_httpx_face_names_the_fix() -> None:
    transport = httpx_resilient.ResilientTransport(
        inner=httpx.MockTransport(lambda r: httpx.Response(200))
    )
    async with httpx2.AsyncClient(transport=transport) as client:  # type: ignore[arg-type]
        with pytest.raises(
            TypeError, match=r"with httpx2, import the same names from httpx_resilient\.httpx2"
        ):
            await client.get("http://example.test/")
    transport2 = h2.ResilientTransport(inner=httpx2.MockTransport(lambda r: httpx2.Response(200)))
    async with httpx.AsyncClient(transport=transport2) as client1:  # type: ignore[arg-type]
        with pytest.raises(
            TypeError, match=r"with httpx, import the same names from httpx_resilient$"
        ):
            await client1.get("http://example.test/")


# -- an httpx2 client on a real socket ----------------------------------------------------


def flaky(failures: int) -> object:
    count = [0]

    def route(seen: Seen) -> Reply:
        count[0] += 1
        if count[0] <= failures:
            return Reply(503, {}, b"busy")
        return Reply(200, {"Content-Type": "text/plain"}, b"finally")

    return route


def slow(seen: Seen) -> Reply:
    return Reply(200, {"Content-Type": "text/plain", "Cache-Control": "no-store"}, b"shared", 0.05)


@pytest.mark.anyio
async def test_httpx2_client_streams_retries_caches_and_dedups(server: LoopbackServer) -> None:
    server.route("/flaky", flaky(2))  # type: ignore[arg-type]
    server.route(
        "/cached",
        lambda seen: Reply(200, {"Cache-Control": "max-age=60"}, b"fresh"),
    )
    server.route("/slow", slow)
    transport = h2.ResilientTransport(
        retry=h2.RetryConfig(max_retries=3, base_delay=0.001, jitter="none"),
        cache=True,
        dedup=True,
    )
    async with httpx2.AsyncClient(transport=transport, base_url=server.url) as client:
        retried = await client.get("/flaky")
        assert (retried.status_code, retried.text) == (200, "finally")
        assert server.hits("/flaky") == 3

        first, second = await client.get("/cached"), await client.get("/cached")
        assert first.text == second.text == "fresh"
        assert server.hits("/cached") == 1
        assert isinstance(second, httpx2.Response)

        async with client.stream("GET", "/bytes/200000") as streamed:
            chunks = [chunk async for chunk in streamed.aiter_bytes()]
        assert sum(map(len, chunks)) == 200_000
        assert len(chunks) > 1

        results: list[httpx2.Response] = []

        async def one() -> None:
            results.append(await client.get("/slow"))

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(one)
        assert [r.text for r in results] == ["shared"] * 5
        assert server.hits("/slow") == 1


async def refusals(server: LoopbackServer) -> list[BaseException]:
    """One of each refusal of the httpx2 face, each caught as ``httpx2.HTTPError``."""
    caught: list[BaseException] = []
    server.route("/down", lambda seen: Reply(503, {}, b"down"))
    server.route("/slow", slow)

    async def expect(client: httpx2.AsyncClient, path: str, **kw: object) -> None:
        try:
            await client.get(path, **kw)  # type: ignore[arg-type]
        except httpx2.HTTPError as error:
            caught.append(error)

    clock = FakeClock(autojump=True)
    limited = h2.ResilientTransport(
        rate_limit=h2.RateLimitConfig(max_requests=1, window_seconds=3600, max_wait=0),
        clock=clock,
    )
    async with httpx2.AsyncClient(transport=limited, base_url=server.url) as client:
        await client.get("/")
        await expect(client, "/")  # RateLimitExceeded
    breaker = h2.ResilientTransport(circuit_breaker=h2.CircuitBreakerConfig(failure_threshold=1))
    async with httpx2.AsyncClient(transport=breaker, base_url=server.url) as client:
        await client.get("/down")
        await expect(client, "/down")  # CircuitOpenError
    queue = h2.ResilientTransport(
        queue=h2.QueueConfig(max_concurrency=1, max_queue_size=1, queue_timeout=0.01)
    )
    async with (
        httpx2.AsyncClient(transport=queue, base_url=server.url) as client,
        anyio.create_task_group() as tg,
    ):
        for _ in range(3):  # one runs, one times out waiting, one finds the queue full
            tg.start_soon(expect, client, "/slow")
    budget = h2.ResilientTransport(
        rate_limit=h2.RateLimitConfig(max_requests=1, window_seconds=3600), clock=clock
    )
    async with httpx2.AsyncClient(transport=budget, base_url=server.url) as client:
        await client.get("/")
        # the token wait would outlast the budget: TimeoutBudgetExceeded at once
        await expect(client, "/", extensions={"timeout_budget": 1.0})
    server.route("/hang", lambda seen: Reply(200, {}, b"late", 2.0))
    closed = h2.ResilientTransport(close_grace=0.05)
    async with (
        httpx2.AsyncClient(transport=closed, base_url=server.url) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(expect, client, "/hang")
        await anyio.sleep(0.1)  # the request is waiting for headers
        await closed.aclose()  # the grace runs out: ClientClosedError
    return caught


@pytest.mark.anyio
async def test_except_httpx2_http_error_catches_every_refusal(server: LoopbackServer) -> None:
    caught = await refusals(server)
    kinds = {type(error).__name__ for error in caught}
    assert kinds >= {"RateLimitExceeded", "CircuitOpenError", "QueueFullError",
                     "QueueTimeoutError", "TimeoutBudgetExceeded", "ClientClosedError"}  # fmt: skip
    assert all(isinstance(error, h2.ResilienceError) for error in caught)


# -- one RedisBackend shared by both faces in one process ----------------------------------


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_redis_backend_shared_by_both_faces_refuses_in_each_face() -> None:
    """Shared code raises no httpx-typed error: each face names the refusal itself."""
    if not redis_answers():
        pytest.skip("no Redis server on 127.0.0.1:6379 (scripts/test starts one)")
    prefix = f"httpx_resilient:test:{uuid.uuid4().hex}:"
    backend = httpx_resilient.RedisBackend.from_url("redis://127.0.0.1:6379/0", prefix=prefix)
    config = httpx_resilient.CircuitBreakerConfig(failure_threshold=1, backend=backend)
    assert h2.CircuitBreakerConfig is httpx_resilient.CircuitBreakerConfig
    down1 = httpx_resilient.ResilientTransport(
        circuit_breaker=config, inner=httpx.MockTransport(lambda r: httpx.Response(503))
    )
    down2 = h2.ResilientTransport(
        circuit_breaker=config, inner=httpx2.MockTransport(lambda r: httpx2.Response(503))
    )
    async with httpx.AsyncClient(transport=down1) as c1, httpx2.AsyncClient(transport=down2) as c2:
        assert (await c1.get("http://shared.test/")).status_code == 503  # opens it, in Redis
        with pytest.raises(httpx2.HTTPError) as caught2:
            await c2.get("http://shared.test/")
        with pytest.raises(httpx.HTTPError) as caught1:
            await c1.get("http://shared.test/")
    assert type(caught2.value) is h2.CircuitOpenError
    assert type(caught1.value) is httpx_resilient.CircuitOpenError
    assert caught2.value.request.url == "http://shared.test/"
    for key in redis_command("KEYS", f"{prefix}*"):
        redis_command("DEL", key)


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.usefixtures("coredis_leaks")
async def test_an_unreachable_redis_in_raise_mode_is_an_httpx2_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = httpx_resilient.RedisBackend.from_url(f"redis://127.0.0.1:{port}/0", on_error="raise")
    limit = h2.RateLimitConfig(max_requests=10, window_seconds=1, backend=backend)
    transport = h2.ResilientTransport(
        rate_limit=limit, inner=httpx2.MockTransport(lambda r: httpx2.Response(200))
    )
    async with httpx2.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx2.HTTPError) as caught:
            await client.get("http://a.test/")
    assert type(caught.value) is h2.ResilienceError
    assert "backend unavailable" in str(caught.value)
