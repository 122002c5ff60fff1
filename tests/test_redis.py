"""The Redis backend: shared buckets, shared breakers, Redis cache storage, fail-open.

Needs a Redis server on 127.0.0.1:6379 (``scripts/test`` starts one); every test uses
its own random key prefix and deletes its keys afterwards. Tests of the Lua arithmetic
run the scripts on the caller's clock (``backend._use_caller_time``) and compare them
with the in-process policies step by step.
"""

from __future__ import annotations

import gc
import logging
import random
import socket
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from httpx_resilient._breaker.config import CircuitBreakerConfig
from httpx_resilient._breaker.policy import NOT_ADMITTED, BreakerPolicy
from httpx_resilient._breaker.shared import SharedCircuitBreakerTransport
from httpx_resilient._breaker.transport import CircuitBreakerTransport
from httpx_resilient._cache.config import CacheConfig
from httpx_resilient._cache.storage import CacheEntry, CacheStorage
from httpx_resilient._cache.transport import CacheTransport
from httpx_resilient._core.errors import (
    CircuitOpenError,
    ConfigError,
    RateLimitExceeded,
    ResilienceError,
)
from httpx_resilient._core.outcomes import Refused
from httpx_resilient._core.snapshots import CircuitState
from httpx_resilient._ratelimit.backend import InProcessBackend, RateLimitBackend
from httpx_resilient._ratelimit.bucket import Limit
from httpx_resilient._ratelimit.config import RateLimitConfig
from httpx_resilient._ratelimit.transport import RateLimitTransport
from httpx_resilient._redis.backend import RedisBackend
from httpx_resilient._redis.breaker import RedisBreakerStore, Ticket
from httpx_resilient._redis.storage import RedisStorage
from httpx_resilient._stack import ResilientTransport
from httpx_resilient.testing import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

URL = "redis://127.0.0.1:6379/0"


# -- a tiny synchronous RESP client, to inspect and clean up behind the library's back --


def _read(f: Any) -> Any:
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else f.read(size + 2)[:-2]
    size = int(rest)
    return None if size < 0 else [_read(f) for _ in range(size)]


def redis(*args: str | bytes) -> Any:
    """Run one command on the test server and return its reply."""
    parts = [a.encode() if isinstance(a, str) else a for a in args]
    payload = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
    with socket.create_connection(("127.0.0.1", 6379), timeout=2) as sock:
        sock.sendall(payload)
        return _read(sock.makefile("rb"))


@pytest.fixture(scope="module", autouse=True)
def redis_server() -> None:
    try:
        assert redis("PING") == "PONG"
    except (OSError, AssertionError, RuntimeError):
        pytest.skip("no Redis server on 127.0.0.1:6379 (scripts/test starts one)")


@pytest.fixture
def prefix() -> Iterator[str]:
    name = f"httpx_resilient_test:{uuid.uuid4().hex}:"
    yield name
    redis(
        "EVAL",
        "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end",
        "0",
        f"{name}*",
    )


@pytest.fixture
def coredis_leaks() -> Iterator[None]:
    """coredis 6.9 leaves the memory streams of a connection that failed to connect
    unclosed (created in ``__init__``, closed only once connected): collect them here,
    with their ``ResourceWarning`` ignored, so they cannot fail a later test."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


ignore_leaks = pytest.mark.filterwarnings("ignore::ResourceWarning")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="ok")


def get(url: str = "http://a.test/", **extensions: Any) -> httpx.Request:
    return httpx.Request("GET", url, extensions=extensions)


async def send(transport: httpx.AsyncBaseTransport, url: str = "http://a.test/") -> int:
    response = await transport.handle_async_request(get(url))
    await response.aread()
    return response.status_code


def limiter(backend: RedisBackend, *configs: RateLimitConfig, handler: Any = ok) -> Any:
    configured = [RateLimitConfig(**{**_fields(c), "backend": backend}) for c in configs]
    return RateLimitTransport(httpx.MockTransport(handler), configured)


def _fields(config: RateLimitConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}


# -- rate limits --------------------------------------------------------------------


async def test_two_processes_share_one_quota_exactly(prefix: str) -> None:
    async with RedisBackend(URL, prefix=prefix) as one, RedisBackend(URL, prefix=prefix) as two:
        config = RateLimitConfig(10, 3600, key="global", max_wait=0)
        a, b = limiter(one, config), limiter(two, config)
        outcomes: list[str] = []
        waits: list[float | None] = []

        async def call(transport: Any) -> None:
            try:
                await send(transport)
                outcomes.append("granted")
            except RateLimitExceeded as exc:
                waits.append(exc.retry_after)
                outcomes.append("refused")

        async with anyio.create_task_group() as group:
            for i in range(30):
                group.start_soon(call, a if i % 2 else b)
    assert outcomes.count("granted") == 10
    assert outcomes.count("refused") == 20
    assert all(wait is not None and wait > 300 for wait in waits)
    assert a.statistics().rejected + b.statistics().rejected == 20
    assert one.statistics().errors == two.statistics().errors == 0


async def test_a_refusal_by_one_limit_takes_nothing_from_another(prefix: str) -> None:
    global_limit = RateLimitConfig(3, 3600, key="global", max_wait=0)
    per_host = RateLimitConfig(1, 3600, key="host", max_wait=0)
    async with RedisBackend(URL, prefix=prefix) as backend:
        transport = limiter(backend, global_limit, per_host)
        assert await send(transport, "http://x.test/") == 200
        for _ in range(3):
            with pytest.raises(RateLimitExceeded):
                await send(transport, "http://x.test/")  # refused by the per-host limit
        assert await send(transport, "http://y.test/") == 200
        assert await send(transport, "http://z.test/") == 200  # global still had 1 left
        with pytest.raises(RateLimitExceeded):
            await send(transport, "http://w.test/")  # now the global limit refuses
    tokens = redis("HGET", f"{prefix}rl:3/3600s/3:global", "t")
    assert float(tokens) == pytest.approx(0.0, abs=1e-3)


async def test_a_server_pause_is_seen_by_the_other_process(prefix: str) -> None:
    def throttled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "30"})

    config = RateLimitConfig(100, 1.0, max_wait=0)
    async with RedisBackend(URL, prefix=prefix) as one, RedisBackend(URL, prefix=prefix) as two:
        a = limiter(one, config, handler=throttled)
        b = limiter(two, config)
        assert await send(a) == 429
        with pytest.raises(RateLimitExceeded) as refused:
            await send(b)
        assert refused.value.retry_after == pytest.approx(30.0, abs=0.5)
        (state,) = b.statistics().buckets
        assert state.rate == pytest.approx(70.0)  # the 429 cut the shared rate by 30 %
        assert b.backend.recovering


async def test_a_short_wait_is_waited_then_granted(prefix: str) -> None:
    async with RedisBackend(URL, prefix=prefix) as backend:
        transport = limiter(backend, RateLimitConfig(50, 1.0, burst=1))
        await send(transport)
        response = await transport.handle_async_request(get())
        assert 0.0 < response.extensions["rate_limit_wait"] < 0.05


async def test_buckets_expire_once_they_would_be_full_again(prefix: str) -> None:
    async with RedisBackend(URL, prefix=prefix) as backend:
        await send(limiter(backend, RateLimitConfig(10, 1.0, key="global")))
    ttl = redis("PTTL", f"{prefix}rl:10/1s/10:global")
    assert 1000 < ttl <= 1100  # 0.1 s to refill one token, plus one second


async def test_a_grant_to_a_cancelled_caller_is_given_back(prefix: str) -> None:
    async with RedisBackend(URL, prefix=prefix) as backend:
        rl = backend.rate_limit_backend()
        limit = Limit.from_config(0, RateLimitConfig(5, 3600))
        with anyio.CancelScope() as scope:
            scope.cancel()
            await rl.try_acquire([limit], ["k"], 1.0, 0.0)
        assert scope.cancelled_caught
        assert float(redis("HGET", f"{prefix}rl:{limit.name}:k", "t")) == pytest.approx(5.0)
        assert await rl.try_acquire([limit], ["k"], 1.0, 0.0) == 0.0
        assert float(redis("HGET", f"{prefix}rl:{limit.name}:k", "t")) == pytest.approx(4.0)


async def test_cancelled_waiters_leave_nothing_behind(prefix: str) -> None:
    async with RedisBackend(URL, prefix=prefix) as backend:
        transport = limiter(backend, RateLimitConfig(20, 1.0, burst=1, key="global"))
        await send(transport)  # the bucket is empty: the next token is 50 ms away
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(send, transport)
            while transport.statistics().waiters < 3:
                await anyio.sleep(0.001)
            group.cancel_scope.cancel()
        assert transport.statistics().waiters == 0
        response = await transport.handle_async_request(get())
        assert response.extensions["rate_limit_wait"] < 0.15  # a stolen token costs 50 ms
        assert float(redis("HGET", f"{prefix}rl:20/1s/1:global", "t")) < 0.1


@pytest.mark.parametrize("seed", [7, 8])
async def test_lua_buckets_match_the_in_process_policy(prefix: str, seed: int) -> None:
    limits = (
        Limit.from_config(0, RateLimitConfig(5, 1.0, burst=3, max_pause=4.0)),
        Limit.from_config(1, RateLimitConfig(2, 1.0, recovery_seconds=3.0)),
    )
    rng = random.Random(seed)
    reference = InProcessBackend()
    now = 1000.0
    async with RedisBackend(URL, prefix=prefix) as backend:
        backend._use_caller_time = True
        redis_backend = backend.rate_limit_backend()
        assert isinstance(redis_backend, RateLimitBackend)
        for _ in range(300):
            now += rng.choice([0.0, 0.01, 0.1, 0.3, 1.0])
            op = rng.random()
            chosen = limits if rng.random() < 0.5 else limits[:1]
            keys = ["k"] * len(chosen)
            if op < 0.5:
                got = await redis_backend.try_acquire(chosen, keys, 1.0, now)
                assert got == pytest.approx(reference.acquire_now(chosen, keys, 1.0, now))
            elif op < 0.65:
                cost = float(rng.randint(1, 3))
                got = await redis_backend.wait_time(chosen, keys, cost, now)
                assert got == pytest.approx(reference.wait_time_now(chosen, keys, cost, now))
            elif op < 0.8:
                pause = rng.choice([None, 0.5, 2.0, 10.0])
                decrease = rng.random() < 0.7
                await redis_backend.throttle(chosen, keys, now, pause=pause, decrease=decrease)
                reference.throttle_now(chosen, keys, now, pause=pause, decrease=decrease)
            else:
                await redis_backend.recover(chosen, keys, now)
                reference.recover_now(chosen, keys, now)
            for limit in limits:
                fields = redis("HMGET", f"{prefix}rl:{limit.name}:k", "t", "u", "r", "p")
                mine = [s for s in reference.buckets((limit,), now) if s.key == "k"]
                if fields[0] is None:
                    assert not mine or mine[0].tokens == pytest.approx(limit.capacity)
                    continue
                t, u, r, p = (float(x) for x in fields)
                tokens = min(limit.capacity, t + max(0.0, now - u) * r)
                assert tokens == pytest.approx(mine[0].tokens, abs=1e-6)
                assert r == pytest.approx(mine[0].rate)
                assert (p if p > now else None) == pytest.approx(mine[0].paused_until)


# -- circuit breaker ----------------------------------------------------------------


def breaker(backend: RedisBackend, handler: Any = ok, **config: Any) -> Any:
    clock = config.pop("clock", None)
    return CircuitBreakerTransport(
        httpx.MockTransport(handler),
        CircuitBreakerConfig(backend=backend, **config),
        clock=clock,
    )


def failing(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)


async def test_a_breaker_opened_through_one_process_is_open_in_the_other(prefix: str) -> None:
    async with RedisBackend(URL, prefix=prefix) as one, RedisBackend(URL, prefix=prefix) as two:
        a = breaker(one, failing, failure_threshold=3)
        b = breaker(two, failure_threshold=3)
        assert isinstance(a, SharedCircuitBreakerTransport)
        assert await send(b) == 200
        for _ in range(3):
            assert await send(a) == 503
        with pytest.raises(CircuitOpenError) as refused:
            await send(b)
        assert refused.value.retry_after == pytest.approx(30.0, abs=0.5)

        async def no_redis(*args: object) -> object:
            raise AssertionError("an OPEN verdict is cached until its retry time")

        two.connection.run = no_redis  # type: ignore[method-assign]
        with pytest.raises(CircuitOpenError):
            await send(b)
        assert a.statistics().opens == 1
        assert a.statistics().states == {"a.test": CircuitState.OPEN}
        assert b.statistics().rejected == 2
        assert b.state("a.test") is CircuitState.OPEN


async def test_half_open_probes_are_shared_and_close_it_everywhere(prefix: str) -> None:
    clock = FakeClock()
    started, gate = anyio.Event(), anyio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        started.set()
        await gate.wait()
        return httpx.Response(200)

    async with RedisBackend(URL, prefix=prefix) as one, RedisBackend(URL, prefix=prefix) as two:
        one._use_caller_time = two._use_caller_time = True
        options = {"failure_threshold": 1, "recovery_timeout": 5.0, "clock": clock}
        a = breaker(one, failing, **options)
        probe = breaker(one, slow, **options)
        b = breaker(two, **options)
        assert await send(a) == 503
        clock.advance(5.0)
        async with anyio.create_task_group() as group:
            group.start_soon(send, probe)
            await started.wait()
            assert probe.statistics().probes_in_flight == 1
            with pytest.raises(CircuitOpenError, match="probe slot"):
                await send(b)  # the one probe slot is taken by the other process
            gate.set()
        assert await send(b) == 200
        assert b.state("a.test") is CircuitState.CLOSED
        assert await b.astate("a.test") is CircuitState.CLOSED


async def test_a_cancelled_probe_frees_its_shared_slot(prefix: str) -> None:
    clock = FakeClock()
    started = anyio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError

    async with RedisBackend(URL, prefix=prefix) as backend:
        backend._use_caller_time = True
        options = {"failure_threshold": 1, "recovery_timeout": 5.0, "clock": clock}
        opener = breaker(backend, failing, **options)
        await send(opener)
        clock.advance(5.0)
        stuck = breaker(backend, hang, **options)
        async with anyio.create_task_group() as group:
            group.start_soon(send, stuck)
            await started.wait()
            assert stuck.statistics().probes_in_flight == 1
            group.cancel_scope.cancel()
        assert stuck.statistics().probes_in_flight == 0
        assert stuck.statistics().calls_in_flight == 0
        assert redis("HGET", f"{prefix}cb:a.test", "p") == b"0"
        assert await send(breaker(backend, **options)) == 200


async def test_manual_control_is_shared(prefix: str) -> None:
    clock = FakeClock()
    async with RedisBackend(URL, prefix=prefix) as one, RedisBackend(URL, prefix=prefix) as two:
        one._use_caller_time = two._use_caller_time = True
        a = breaker(one, clock=clock)
        b = breaker(two, clock=clock)
        await a.aisolate("a.test")
        with pytest.raises(CircuitOpenError, match="isolated") as refused:
            await send(b)
        assert refused.value.retry_after is None
        assert redis("PTTL", f"{prefix}cb:a.test") == -1  # held until reset: no expiry
        await a.aforce_open("b.test")
        assert await b.astate("b.test") is CircuitState.OPEN
        await a.areset()  # every breaker under the prefix
        clock.advance(1.0)  # b trusts the isolated verdict it saw for one second
        assert await send(b) == 200
        assert await b.astate("b.test") is CircuitState.CLOSED
        with pytest.raises(RuntimeError, match="areset"):
            b.reset("a.test")


async def test_a_lost_probe_is_forgotten_after_its_lease(prefix: str) -> None:
    async with RedisBackend(URL, prefix=prefix) as backend:
        backend._use_caller_time = True
        config = CircuitBreakerConfig(failure_threshold=1, recovery_timeout=5.0)
        store = backend.circuit_breaker_store(config, policy=BreakerPolicy(config))
        first = await store.admit("k", 0.0, get())
        await store.settle("k", first, True, 0.0, None)
        lost = await store.admit("k", 5.0, get())
        assert lost.number & 1
        with pytest.raises(Refused, match="circuit breaker") as refused:  # the face names it
            await store.admit("k", 30.0, get())
        assert refused.value.kind == "CircuitOpenError"
        probe = await store.admit("k", 65.0, get())
        assert probe.number > lost.number
        await store.settle("k", lost, True, 66.0, None)  # stale: ignored
        await store.settle("k", probe, False, 66.0, None)
        assert await store.control("k", "state", 66.0) is CircuitState.CLOSED


@pytest.mark.parametrize(
    "options",
    [
        {"failure_threshold": 3, "success_threshold": 2, "half_open_max_calls": 2},
        {"failure_rate_threshold": 50.0, "minimum_calls": 4, "slow_call_duration": 1.0},
    ],
)
async def test_lua_breakers_match_the_in_process_policy(
    prefix: str, options: dict[str, Any]
) -> None:
    config = CircuitBreakerConfig(recovery_timeout=5.0, window_seconds=10.0, **options)
    reference = BreakerPolicy(config)
    rng = random.Random(11)
    now = 1000.0
    held: list[tuple[Ticket, int]] = []
    async with RedisBackend(URL, prefix=prefix) as backend:
        backend._use_caller_time = True
        store = backend.circuit_breaker_store(config, policy=BreakerPolicy(config))
        assert isinstance(store, RedisBreakerStore)
        for _ in range(400):
            now += rng.choice([0.0, 0.1, 0.5, 2.0, 6.0])
            op = rng.random()
            if op < 0.75 or (op < 0.9 and not held):
                expected = reference.admit("k", now)
                if expected == NOT_ADMITTED:
                    with pytest.raises(Refused) as refused:  # the face's transport names it
                        await store.admit("k", now, get())
                    assert refused.value.kind == "CircuitOpenError"
                    assert refused.value.retry_after == pytest.approx(
                        reference.retry_after("k", now)
                    )
                    continue
                ticket = await store.admit("k", now, get())
                assert ticket.number == expected
                if ticket.number & 1 and rng.random() < 0.5:
                    held.append((ticket, expected))
                    continue
                await _settle_both(store, reference, ticket, expected, now, rng)
            elif op < 0.9:
                ticket, expected = held.pop(rng.randrange(len(held)))
                await _settle_both(store, reference, ticket, expected, now, rng)
            else:
                mode = rng.choice(["open", "isolate", "reset"])
                await store.control("k", mode, now)
                {"open": reference.force_open, "isolate": reference.isolate}.get(
                    mode, lambda key, now: reference.reset(key)
                )("k", now)
            assert await store.control("k", "state", now) is reference.state("k", now)


async def _settle_both(
    store: RedisBreakerStore,
    reference: BreakerPolicy,
    ticket: Ticket,
    expected: int,
    now: float,
    rng: random.Random,
) -> None:
    outcome = rng.choice(["success", "slow", "failure", "release"])
    duration = 2.0 if outcome == "slow" else 0.1
    if outcome == "release":
        await store.settle("k", ticket, None, now, duration)
        reference.release("k", expected)
    elif outcome == "failure":
        await store.settle("k", ticket, True, now, duration)
        reference.failure("k", expected, now)
    else:
        await store.settle("k", ticket, False, now, duration)
        reference.success("k", expected, now, duration)


async def test_the_in_process_breaker_is_untouched_without_a_backend() -> None:
    transport = CircuitBreakerTransport(httpx.MockTransport(ok), CircuitBreakerConfig())
    assert type(transport) is CircuitBreakerTransport

    class Mine(CircuitBreakerTransport):
        pass

    with pytest.raises(ConfigError) as raised:  # a subclass cannot silently go local
        Mine(httpx.MockTransport(ok), CircuitBreakerConfig(backend=RedisBackend(URL)))
    assert raised.value.field == "CircuitBreakerConfig.backend"
    with pytest.raises(ConfigError, match="RedisBackend"):
        CircuitBreakerTransport(httpx.MockTransport(ok), CircuitBreakerConfig(backend=object()))


# -- cache storage --------------------------------------------------------------------


def entry(key: str = "k", variant: str = "", url: str = "u", body: bytes = b"b") -> CacheEntry:
    return CacheEntry(
        key=key,
        variant=variant,
        url_key=url,
        vary=("accept",) if variant else (),
        status=200,
        headers=((b"Content-Type", b"text/plain"), (b"X-Bin", b"\xe9")),
        body=body,
        request_time=1.0,
        response_time=2.0,
    )


async def test_storage_contract_and_ttl(prefix: str) -> None:
    async with (
        RedisStorage(URL, prefix=prefix, ttl=60) as one,
        RedisStorage(URL, prefix=prefix) as two,
    ):
        assert isinstance(one, CacheStorage)
        assert await one.secret() == await two.secret()
        assert len(await one.secret()) == 32
        body = bytes(range(256)) * 10 + b"\n\x00end"
        await one.put(entry("k", "", body=body))
        await one.put(entry("k", "v2"))
        await one.put(entry("other", url="u"))
        await one.put(entry("third", url="elsewhere"))
        found = sorted(await two.get("k"), key=lambda e: e.variant)
        assert [e.variant for e in found] == ["", "v2"]
        assert found[0].body == body
        assert found[0].headers == ((b"Content-Type", b"text/plain"), (b"X-Bin", b"\xe9"))
        assert (found[0].status, found[0].request_time, found[0].response_time) == (200, 1.0, 2.0)
        assert found[1].vary == ("accept",)
        assert 59_000 < redis("PTTL", f"{prefix}e:k") <= 60_000
        redis("HSET", f"{prefix}e:k", "broken", b"not json\nbody")
        assert len(await two.get("k")) == 2  # an entry that does not decode is skipped
        await two.delete("k", "v2")
        assert await one.count() == 4
        await two.invalidate("u")
        assert await one.get("k") == []
        assert await one.get("other") == []
        assert len(await one.get("third")) == 1
        await one.clear()
        assert await one.count() == 0
        assert await one.secret() == await two.secret()


async def test_a_coredis_client_of_your_own_serves_both(prefix: str) -> None:
    import coredis

    client = coredis.Redis.from_url(URL, decode_responses=True)
    async with client:  # entered by its owner: the backend and storage only borrow it
        backend = RedisBackend(client, prefix=prefix)
        storage = RedisStorage(client, prefix=prefix)
        assert await send(limiter(backend, RateLimitConfig(1, 3600, max_wait=0))) == 200
        with pytest.raises(RateLimitExceeded):
            await send(limiter(backend, RateLimitConfig(1, 3600, max_wait=0)))
        await storage.put(entry(body=b"\xff\x00 binary"))
        (found,) = await storage.get("k")
        assert found.body == b"\xff\x00 binary"
        assert len(await storage.secret()) == 32


async def test_an_entry_stored_by_one_process_is_served_by_another(prefix: str) -> None:
    calls = {"a": 0, "b": 0}

    def origin(name: str) -> Any:
        def handle(request: httpx.Request) -> httpx.Response:
            calls[name] += 1
            who = request.headers.get("Authorization", "anonymous")
            headers = {"Cache-Control": "max-age=60"}
            return httpx.Response(200, headers=headers, text=f"for {who}")

        return handle

    async with RedisStorage(URL, prefix=prefix) as one, RedisStorage(URL, prefix=prefix) as two:
        a = CacheTransport(httpx.MockTransport(origin("a")), CacheConfig(storage=one))
        b = CacheTransport(httpx.MockTransport(origin("b")), CacheConfig(storage=two))
        secret = "Bearer top-secret-token-1"
        request = httpx.Request("GET", "http://a.test/doc", headers={"Authorization": secret})
        await (await a.handle_async_request(request)).aread()
        served = await b.handle_async_request(
            httpx.Request("GET", "http://a.test/doc", headers={"Authorization": secret})
        )
        assert served.extensions["from_cache"] is True
        assert (await served.aread()) == f"for {secret}".encode()
        other = await b.handle_async_request(
            httpx.Request("GET", "http://a.test/doc", headers={"Authorization": "Bearer other"})
        )
        assert other.extensions.get("from_cache") is not True  # never another user's entry
        assert calls == {"a": 1, "b": 1}
    for name in redis("KEYS", f"{prefix}*"):
        assert b"top-secret-token-1" not in name
        if redis("TYPE", name) == "hash":
            for value in redis("HGETALL", name):
                assert b"top-secret-token-1" not in value.partition(b"\n")[0]


# -- fail open, raise, configuration ---------------------------------------------------


@ignore_leaks
@pytest.mark.usefixtures("coredis_leaks")
async def test_fail_open_uses_local_state_counts_and_warns_once_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://:hunter2-pw@127.0.0.1:{closed_port()}/0"
    caplog.set_level(logging.DEBUG, logger="httpx_resilient")
    async with RedisBackend.from_url(url) as backend:
        transport = limiter(backend, RateLimitConfig(2, 3600, max_wait=0))
        assert await send(transport) == 200
        assert await send(transport) == 200
        with pytest.raises(RateLimitExceeded):
            await send(transport)  # the local bucket applies the limit
        cb = breaker(backend, failing, failure_threshold=2)
        await send(cb)
        await send(cb)
        with pytest.raises(CircuitOpenError):
            await send(cb)
        assert cb.statistics().rejected == 1
        assert cb.statistics().opens == 1
        stats = backend.statistics()
        # One outage state per backend: the breaker skipped Redis after the limiter's failure.
        assert (stats.errors, stats.fallbacks, stats.outages) == (1, 6, 1)
        assert not stats.available
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "Redis" in r.msg]
    assert len(warnings) == 1
    assert "127.0.0.1" in warnings[0].getMessage()
    for record in caplog.records:
        assert "hunter2" not in record.getMessage()
        assert "hunter2" not in (caplog.text or "")
    assert "hunter2" not in repr(backend)


@ignore_leaks
@pytest.mark.usefixtures("coredis_leaks")
async def test_raise_mode_raises_a_resilience_error_with_the_cause() -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    async with RedisBackend(url, on_error="raise") as backend:
        transport = limiter(backend, RateLimitConfig(2, 3600))
        with pytest.raises(ResilienceError, match="rate limit backend unavailable") as raised:
            await send(transport)
        assert raised.value.__cause__ is not None
        assert transport.statistics().backend_errors == 1
        with pytest.raises(ResilienceError, match="circuit breaker backend unavailable"):
            await send(breaker(backend))


async def test_redis_coming_back_ends_the_outage(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    from coredis.exceptions import ConnectionError as RedisConnectionError

    caplog.set_level(logging.INFO, logger="httpx_resilient")
    clock = FakeClock()
    async with RedisBackend(URL, prefix=prefix, backoff=1.5, clock=clock) as backend:
        real = backend.connection.run
        down = True

        async def flaky(*args: Any) -> Any:
            if down:
                raise RedisConnectionError("connection refused")
            return await real(*args)

        backend.connection.run = flaky  # type: ignore[method-assign]
        transport = RateLimitTransport(
            httpx.MockTransport(ok),
            RateLimitConfig(5, 3600, key="global", backend=backend),
            clock=clock,
        )
        for _ in range(3):
            assert await send(transport) == 200
        assert backend.statistics().errors == 1  # tried once, then local for the backoff
        down = False
        clock.advance(1.4)
        assert await send(transport) == 200  # still inside the backoff: local
        assert not backend.statistics().available
        clock.advance(0.1)
        assert await send(transport) == 200
        assert backend.statistics().available
    assert float(redis("HGET", f"{prefix}rl:5/3600s/5:global", "t")) == pytest.approx(4.0, abs=0.05)
    assert backend.statistics().errors == 1
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in m for m in messages) == 1
    assert sum("reachable again" in m for m in messages) == 1


async def test_a_backend_that_was_never_entered_says_so() -> None:
    backend = RedisBackend(URL)
    with pytest.raises(RuntimeError, match="async with"):
        await send(limiter(backend, RateLimitConfig(2, 1.0)))


async def test_the_whole_stack_with_one_backend(prefix: str) -> None:
    async with RedisBackend(URL, prefix=prefix) as backend:
        transport = ResilientTransport(
            rate_limit=RateLimitConfig(5, 3600, backend=backend),
            circuit_breaker=CircuitBreakerConfig(backend=backend),
            inner=httpx.MockTransport(ok),
        )
        async with httpx.AsyncClient(transport=transport) as client:
            assert (await client.get("http://a.test/")).status_code == 200
    tokens = float(redis("HGET", f"{prefix}rl:5/3600s/5:a.test", "t"))
    assert tokens == pytest.approx(4.0, abs=0.05)  # the server's clock refills a little


async def test_the_stack_enters_backend_and_storage_itself(prefix: str) -> None:
    """No `async with backend:` of the user's: the client's own `async with` suffices."""
    backend = RedisBackend.from_url(URL, prefix=prefix)
    storage = RedisStorage(URL, prefix=f"{prefix}cache:")
    transport = ResilientTransport(
        rate_limit=[
            RateLimitConfig(5, 3600, backend=backend),
            RateLimitConfig(9, 60, backend=backend),
        ],
        circuit_breaker=CircuitBreakerConfig(backend=backend),
        cache=CacheConfig(storage=storage),
        inner=httpx.MockTransport(ok),
    )
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get("http://a.test/")).status_code == 200
        # Nested entries share the pool: the user's own entry changes nothing.
        async with backend:
            assert (await client.get("http://a.test/")).status_code == 200
    tokens = float(redis("HGET", f"{prefix}rl:5/3600s/5:a.test", "t"))
    assert tokens == pytest.approx(3.0, abs=0.05)  # the server's clock refills a little
    # Left again: using the backend outside the stack asks for `async with` once more.
    with pytest.raises(RuntimeError, match="async with"):
        await send(limiter(backend, RateLimitConfig(2, 1.0)))


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: RedisBackend(URL, prefix=""), "RedisBackend.prefix"),
        (lambda: RedisBackend(URL, on_error="ignore"), "RedisBackend.on_error"),
        (lambda: RedisBackend(42), "RedisBackend.client_or_url"),
        (lambda: RedisBackend("http://127.0.0.1:6379"), "RedisBackend.client_or_url"),
        (lambda: RedisBackend.from_url(""), "RedisBackend.url"),
        (lambda: RedisStorage(URL, ttl=0), "RedisStorage.ttl"),
        (lambda: RedisStorage(URL, prefix=None), "RedisStorage.prefix"),
        (lambda: RedisStorage(object()), "RedisStorage.client_or_url"),
    ],
)
def test_bad_arguments_name_the_field(build: Any, field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        build()
    assert raised.value.field == field


def test_reprs_never_show_the_password() -> None:
    url = "redis://user:p4ssw0rd@127.0.0.1:6379/0?password=p4ssw0rd"
    for thing in (RedisBackend(url), RedisStorage(url)):
        assert "p4ssw0rd" not in repr(thing)
        assert "127.0.0.1:6379" in repr(thing)


def test_the_package_imports_without_coredis() -> None:
    script = (
        "import sys; sys.modules['coredis'] = None\n"
        "import httpx_resilient, httpx_resilient._breaker.shared\n"
        "from httpx_resilient._redis.backend import RedisBackend\n"
        "try:\n    RedisBackend('redis://localhost')\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "httpx_resilient[redis]" in done.stdout


async def test_the_shared_breakers_local_view_is_bounded(prefix: str) -> None:
    async with RedisBackend(URL, prefix=prefix) as backend:

        def bad_host_fails(request: httpx.Request) -> httpx.Response:
            return httpx.Response(503 if request.url.host == "bad.test" else 200)

        cb = breaker(
            backend, bad_host_fails, failure_threshold=1, recovery_timeout=3600, max_keys=50
        )
        await send(cb, "http://bad.test/")  # opens it, in Redis and in the view
        for i in range(120):
            await send(cb, f"http://h{i}.test/")
        store = cb._store
        assert len(store.view) <= 51  # CLOSED ones dropped, the OPEN one kept
        assert store.view["bad.test"] is CircuitState.OPEN
        assert len(store._refused) <= 50
        with pytest.raises(CircuitOpenError):
            await send(cb, "http://bad.test/")
