"""RFC 9111 rules of the cache policy: one table row per rule, sync, float wall times."""

from __future__ import annotations

import math
from email.utils import formatdate

import httpx
import pytest

from httpx_resilient._cache.directives import (
    MAX_DELTA,
    delta_seconds,
    parse_directives,
    response_info,
)
from httpx_resilient._cache.fields import (
    conditional_headers,
    invalidation_targets,
    merge_headers,
    stored_headers,
    validators_match,
)
from httpx_resilient._cache.policy import (
    NO_DIRECTIVES,
    Decision,
    RequestDirectives,
    Stored,
    decide,
    stale_if_error_allows,
    storable,
)

T0 = 1_700_000_000.0  # wall time the response arrived


def date(offset: float) -> str:
    return formatdate(T0 + offset, usegmt=True)


def stored(
    headers: dict[str, str] | list[tuple[str, str]],
    *,
    status: int = 200,
    request_time: float = T0,
    response_time: float = T0,
) -> Stored:
    return Stored(status, response_info(httpx.Headers(headers)), request_time, response_time)


def req(cache_control: str | None = None, pragma: str | None = None) -> RequestDirectives:
    return RequestDirectives.parse(cache_control, pragma)


FRESH, STALE, SWR, REVALIDATE = (
    Decision.FRESH,
    Decision.STALE,
    Decision.STALE_WHILE_REVALIDATE,
    Decision.REVALIDATE,
)


def rule(
    name: str,
    cc: str | None,
    at: float,
    expected: Decision,
    *,
    h: dict[str, str] | None = None,
    status: int = 200,
    request: str | None = None,
    shared: bool = False,
) -> object:
    """One row: response Cache-Control ``cc`` (plus headers ``h``), judged ``at`` s after T0."""
    headers = dict(h or {})
    if cc is not None:
        headers["Cache-Control"] = cc
    return pytest.param(headers, status, request, at, shared, expected, id=name)


LM = {"Date": date(0), "Last-Modified": date(-1000)}  # heuristic lifetime 100 s at 10 %

DECIDE_CASES = [
    rule("max-age: fresh before it runs out", "max-age=60", 59, FRESH),
    rule("max-age: stale once age reaches it", "max-age=60", 60, REVALIDATE),
    rule(
        "s-maxage overrides max-age when shared", "max-age=10, s-maxage=100", 50, FRESH, shared=True
    ),
    rule("s-maxage is ignored by a private cache", "max-age=10, s-maxage=100", 50, REVALIDATE),
    rule("Expires minus Date: fresh", None, 50, FRESH, h={"Date": date(0), "Expires": date(100)}),
    rule(
        "Expires minus Date: stale",
        None,
        150,
        REVALIDATE,
        h={"Date": date(0), "Expires": date(100)},
    ),
    rule("Expires without Date counts from arrival", None, 99, FRESH, h={"Expires": date(100)}),
    rule("invalid Expires means already stale", None, 0, REVALIDATE, h={"Expires": "0", **LM}),
    rule("max-age beats Expires", "max-age=10", 50, REVALIDATE, h={"Expires": date(100)}),
    rule("Age header adds to the age", "max-age=60", 20, REVALIDATE, h={"Age": "50"}),
    rule(
        "Date in the past gives an apparent age",
        "max-age=60",
        20,
        REVALIDATE,
        h={"Date": date(-50)},
    ),
    rule("Date in the future is no negative age", "max-age=60", 59, FRESH, h={"Date": date(500)}),
    rule("heuristic from Last-Modified: fresh", None, 99, FRESH, h=LM),
    rule("heuristic from Last-Modified: stale", None, 101, REVALIDATE, h=LM),
    rule("no heuristic for a non-default-cacheable status", None, 1, REVALIDATE, h=LM, status=302),
    rule("public allows heuristic freshness for any status", "public", 1, FRESH, h=LM, status=302),
    rule("no-cache response: always validate", "max-age=60, no-cache", 0, REVALIDATE),
    rule(
        "no-cache with field names is no bar to reuse",
        'max-age=60, no-cache="Set-Cookie"',
        0,
        FRESH,
    ),
    rule("request no-cache: always validate", "max-age=60", 0, REVALIDATE, request="no-cache"),
    rule(
        "request max-age: older is not acceptable",
        "max-age=60",
        20,
        REVALIDATE,
        request="max-age=10",
    ),
    rule("request max-age: younger is", "max-age=60", 20, FRESH, request="max-age=30"),
    rule(
        "request min-fresh: not fresh enough", "max-age=60", 40, REVALIDATE, request="min-fresh=30"
    ),
    rule("request min-fresh: fresh enough", "max-age=60", 20, FRESH, request="min-fresh=30"),
    rule("request max-stale: stale within it", "max-age=60", 80, STALE, request="max-stale=30"),
    rule(
        "request max-stale: stale beyond it", "max-age=60", 100, REVALIDATE, request="max-stale=30"
    ),
    rule("request bare max-stale: any staleness", "max-age=60", 1e6, STALE, request="max-stale"),
    rule(
        "must-revalidate overrides max-stale",
        "max-age=60, must-revalidate",
        80,
        REVALIDATE,
        request="max-stale",
    ),
    rule(
        "proxy-revalidate: private cache ignores it",
        "max-age=60, proxy-revalidate",
        80,
        STALE,
        request="max-stale",
    ),
    rule(
        "proxy-revalidate: shared cache obeys it",
        "max-age=60, proxy-revalidate",
        80,
        REVALIDATE,
        request="max-stale",
        shared=True,
    ),
    rule(
        "s-maxage implies proxy-revalidate when shared",
        "s-maxage=60",
        80,
        REVALIDATE,
        request="max-stale",
        shared=True,
    ),
    rule(
        "stale-while-revalidate: within the window",
        "max-age=60, stale-while-revalidate=30",
        80,
        SWR,
    ),
    rule(
        "stale-while-revalidate: past the window",
        "max-age=60, stale-while-revalidate=30",
        100,
        REVALIDATE,
    ),
    rule(
        "stale-while-revalidate yields to must-revalidate",
        "max-age=60, must-revalidate, stale-while-revalidate=30",
        80,
        REVALIDATE,
    ),
    rule(
        "stale-while-revalidate yields to request no-cache",
        "max-age=60, stale-while-revalidate=30",
        80,
        REVALIDATE,
        request="no-cache",
    ),
    rule("invalid max-age means stale", "max-age=abc", 0, REVALIDATE),
    rule("negative max-age means stale", "max-age=-5", 0, REVALIDATE),
    rule("huge max-age is capped at 2**31, still fresh", "max-age=" + "9" * 30, 1e9, FRESH),
    rule("first of repeated directives counts", "max-age=60, max-age=1", 30, FRESH),
    rule("directive names are case-insensitive", "Max-Age=60, NO-CACHE", 0, REVALIDATE),
    rule("nothing explicit, no Last-Modified: stale", None, 0, REVALIDATE),
]


@pytest.mark.parametrize(
    ("headers", "status", "cache_control", "elapsed", "shared", "expected"), DECIDE_CASES
)
def test_decide(
    headers: dict[str, str],
    status: int,
    cache_control: str | None,
    elapsed: float,
    shared: bool,
    expected: Decision,
) -> None:
    result = decide(
        stored(headers, status=status),
        req(cache_control),
        T0 + elapsed,
        shared=shared,
        heuristic_fraction=0.1,
    )
    assert result is expected


def test_pragma_no_cache_counts_only_without_cache_control() -> None:
    fresh = stored({"Cache-Control": "max-age=60"})
    assert req(None, "no-cache").no_cache
    assert not req("max-stale=5", "no-cache").no_cache
    assert decide(fresh, req(None, "no-cache"), T0, shared=False, heuristic_fraction=0.1) is (
        Decision.REVALIDATE
    )


def test_request_directives_parse() -> None:
    d = req("max-age=5, max-stale=7, min-fresh=3, only-if-cached, no-store, stale-if-error=9")
    assert (d.max_age, d.max_stale, d.min_fresh) == (5.0, 7.0, 3.0)
    assert d.only_if_cached
    assert d.no_store
    assert d.stale_if_error == 9.0
    assert req("max-stale").max_stale == math.inf
    assert req("max-age=oops").max_age == 0.0  # invalid: the strictest reading
    assert req("min-fresh=oops").min_fresh == math.inf
    assert req(None) == NO_DIRECTIVES


def age(name: str, sent: float, h: dict[str, str], at: float, expected: float) -> object:
    """One row: request sent ``sent`` s and response received at T0, judged ``at`` s after."""
    return pytest.param(T0 + sent, T0, h, T0 + at, expected, id=name)


AGE_CASES = [
    age("resident time only", 0, {}, 10, 10.0),
    age("Age header plus response delay", -2, {"Age": "30"}, 0, 32.0),
    age("apparent age from Date wins when larger", 0, {"Date": date(-40), "Age": "5"}, 1, 41.0),
    age("corrected Age wins when larger", -3, {"Date": date(-1), "Age": "5"}, 0, 8.0),
    age("list-valued Age: first member", 0, {"Age": "7, 100"}, 0, 7.0),
    age("garbage Age is ignored", 0, {"Age": "soon"}, 1, 1.0),
    age("clock going back is no negative residence", 0, {}, -100, 0.0),
]


@pytest.mark.parametrize(("request_time", "response_time", "headers", "now", "expected"), AGE_CASES)
def test_current_age(
    request_time: float, response_time: float, headers: dict[str, str], now: float, expected: float
) -> None:
    s = stored(headers, request_time=request_time, response_time=response_time)
    assert s.age(now) == pytest.approx(expected)


def test_fresh_until_agrees_with_decide() -> None:
    samples = [
        {"Cache-Control": "max-age=60"},
        {"Cache-Control": "max-age=60", "Age": "20"},
        {"Cache-Control": "max-age=60", "Age": "80"},
        {"Cache-Control": "no-cache, max-age=60"},
        {"Date": date(0), "Last-Modified": date(-500)},
        {"Expires": "0"},
        {"Cache-Control": "s-maxage=30, max-age=5"},
    ]
    for headers in samples:
        for shared in (False, True):
            s = stored(headers, request_time=T0 - 1)
            until = s.fresh_until(shared=shared, heuristic_fraction=0.1)
            for elapsed in (-5.0, 0.0, 4.0, 5.0, 29.0, 30.0, 38.0, 39.0, 40.0, 59.0, 61.0):
                now = T0 + elapsed
                fresh = decide(s, NO_DIRECTIVES, now, shared=shared, heuristic_fraction=0.1)
                assert (fresh is Decision.FRESH) == (now < until), (headers, shared, elapsed)


def store(
    name: str,
    cc: str | None,
    expected: bool,
    *,
    h: dict[str, str] | None = None,
    method: str = "GET",
    status: int = 200,
    request: str | None = None,
    shared: bool = False,
    auth: bool = False,
) -> object:
    """One row: may a response with Cache-Control ``cc`` (plus ``h``) be stored?"""
    headers = dict(h or {})
    if cc is not None:
        headers["Cache-Control"] = cc
    return pytest.param(method, status, headers, request, shared, auth, expected, id=name)


STORABLE_CASES = [
    store("200 with max-age", "max-age=60", True),
    store("HEAD is cacheable too", "max-age=60", True, method="HEAD"),
    store("POST is not", "max-age=60", False, method="POST"),
    store("response no-store", "max-age=60, no-store", False),
    store("request no-store", "max-age=60", False, request="no-store"),
    store("206 partial content is not stored", "max-age=60", False, status=206),
    store("304 is not stored", "max-age=60", False, status=304),
    store("1xx is not stored", "max-age=60", False, status=103),
    store("Vary: * can never match", "max-age=60", False, h={"Vary": "*"}),
    store("private: a private cache stores it", "private, max-age=60", True),
    store("private: a shared cache does not", "private, max-age=60", False, shared=True),
    store(
        "private with field names: shared may store", 'private="X-U", max-age=60', True, shared=True
    ),
    store("shared + Authorization: not by default", "max-age=60", False, shared=True, auth=True),
    store(
        "shared + Authorization: public allows", "public, max-age=60", True, shared=True, auth=True
    ),
    store("shared + Authorization: s-maxage allows", "s-maxage=60", True, shared=True, auth=True),
    store(
        "shared + Authorization: must-revalidate allows",
        "max-age=60, must-revalidate",
        True,
        shared=True,
        auth=True,
    ),
    store("private cache + Authorization: storable", "max-age=60", True, auth=True),
    store("302 without explicit freshness", None, False, h={"Location": "/x"}, status=302),
    store("302 with max-age", "max-age=60", True, status=302),
    store(
        "404 is cacheable by default (with a validator)", None, True, h={"ETag": '"x"'}, status=404
    ),
    store("200 with nothing to go on is not worth storing", None, False),
    store("200 with only an ETag: stored to revalidate", None, True, h={"ETag": '"x"'}),
    store("no-cache with ETag: stored to revalidate", "no-cache", True, h={"ETag": '"x"'}),
    store(
        "invalid Expires with Last-Modified: stored, stale",
        None,
        True,
        h={"Expires": "never", "Last-Modified": date(-50)},
    ),
    store("max-age=0 without validator is useless", "max-age=0", False),
]


@pytest.mark.parametrize(
    ("method", "status", "headers", "cache_control", "shared", "authorization", "expected"),
    STORABLE_CASES,
)
def test_storable(
    method: str,
    status: int,
    headers: dict[str, str],
    cache_control: str | None,
    shared: bool,
    authorization: bool,
    expected: bool,
) -> None:
    result = storable(
        method,
        stored(headers, status=status),
        req(cache_control),
        shared=shared,
        has_authorization=authorization,
        heuristic_fraction=0.1,
    )
    assert result is expected


STALE_IF_ERROR_CASES = [
    pytest.param(
        "max-age=60, stale-if-error=60", None, 90, True, id="within the response's window"
    ),
    pytest.param("max-age=60, stale-if-error=60", None, 130, False, id="beyond the window"),
    pytest.param("max-age=60", "stale-if-error=100", 130, True, id="the request's window"),
    pytest.param("max-age=60", None, 61, False, id="none given"),
    pytest.param(
        "max-age=60, must-revalidate, stale-if-error=60",
        None,
        90,
        False,
        id="must-revalidate forbids it",
    ),
    pytest.param("no-cache, stale-if-error=60", None, 1, False, id="no-cache response forbids it"),
    pytest.param(
        "max-age=60, stale-if-error=60", "no-cache", 90, False, id="request no-cache forbids it"
    ),
]


@pytest.mark.parametrize(("response_cc", "request_cc", "elapsed", "expected"), STALE_IF_ERROR_CASES)
def test_stale_if_error(
    response_cc: str, request_cc: str | None, elapsed: float, expected: bool
) -> None:
    s = stored({"Cache-Control": response_cc, "ETag": '"e"'})
    assert (
        stale_if_error_allows(
            s, req(request_cc), T0 + elapsed, shared=False, heuristic_fraction=0.1
        )
        is expected
    )


def names(lines: tuple[tuple[bytes, bytes], ...]) -> list[str]:
    return [name.decode().lower() for name, _ in lines]


def kept(
    name: str,
    h: list[tuple[str, str]],
    gone: str,
    stays: str,
    *,
    shared: bool = False,
    sc: bool = False,
) -> object:
    """One row: storing headers ``h``, field ``gone`` is dropped and ``stays`` is kept."""
    return pytest.param(h, shared, sc, gone, stays, id=name)


STORED_HEADER_CASES = [
    kept(
        "hop-by-hop fields",
        [("Keep-Alive", "timeout=5"), ("Content-Type", "a/b")],
        "keep-alive",
        "content-type",
    ),
    kept(
        "Transfer-Encoding",
        [("Transfer-Encoding", "chunked"), ("ETag", '"x"')],
        "transfer-encoding",
        "etag",
    ),
    kept(
        "fields named by Connection",
        [("Connection", "X-Hop"), ("X-Hop", "1"), ("X-End", "2")],
        "x-hop",
        "x-end",
    ),
    kept(
        "proxy-specific fields",
        [("Proxy-Authenticate", "Basic"), ("Date", date(0))],
        "proxy-authenticate",
        "date",
    ),
    kept(
        "Set-Cookie by default",
        [("Set-Cookie", "s=1"), ("Content-Type", "a/b")],
        "set-cookie",
        "content-type",
    ),
    kept(
        "Set-Cookie kept when opted in",
        [("Set-Cookie", "s=1"), ("X-A", "1")],
        "x-none",
        "set-cookie",
        sc=True,
    ),
    kept(
        "no-cache field names",
        [("Cache-Control", 'no-cache="X-S"'), ("X-S", "s"), ("X-Ok", "1")],
        "x-s",
        "x-ok",
    ),
    kept(
        "private field names when shared",
        [("Cache-Control", 'private="X-U"'), ("X-U", "u"), ("X-Ok", "1")],
        "x-u",
        "x-ok",
        shared=True,
    ),
    kept(
        "private field names kept when private",
        [("Cache-Control", 'private="X-U"'), ("X-U", "u")],
        "x-none",
        "x-u",
    ),
]


@pytest.mark.parametrize(("headers", "shared", "set_cookie", "gone", "kept"), STORED_HEADER_CASES)
def test_stored_headers(
    headers: list[tuple[str, str]], shared: bool, set_cookie: bool, gone: str, kept: str
) -> None:
    h = httpx.Headers(headers)
    lines = stored_headers(h, response_info(h), shared=shared, store_set_cookie=set_cookie)
    assert gone not in names(lines)
    assert kept in names(lines)


def test_merge_headers_from_304() -> None:
    old = httpx.Headers(
        [
            ("Content-Type", "text/plain"),
            ("Content-Length", "5"),
            ("Content-Encoding", "gzip"),
            ("Cache-Control", "max-age=10"),
            ("ETag", '"v1"'),
            ("X-Old", "1"),
        ]
    )
    lines = stored_headers(old, response_info(old), shared=False, store_set_cookie=False)
    fresh = httpx.Headers(
        [
            ("Cache-Control", "max-age=99"),
            ("Content-Length", "0"),
            ("Content-Encoding", "identity"),
            ("Connection", "close"),
            ("Set-Cookie", "a=b"),
            ("X-New", "2"),
        ]
    )
    merged = httpx.Headers(
        list(
            merge_headers(lines, fresh, response_info(fresh), shared=False, store_set_cookie=False)
        )
    )
    assert merged["cache-control"] == "max-age=99"  # updated
    assert merged["content-length"] == "5"  # describes the stored body: kept
    assert merged["content-encoding"] == "gzip"
    assert merged["x-old"] == "1"
    assert merged["x-new"] == "2"
    assert "connection" not in merged
    assert "set-cookie" not in merged


def test_conditional_headers() -> None:
    info = response_info(httpx.Headers({"ETag": '"abc"', "Last-Modified": date(-10)}))
    assert conditional_headers(info) == [
        ("If-None-Match", '"abc"'),
        ("If-Modified-Since", date(-10)),
    ]
    garbage = response_info(httpx.Headers({"Last-Modified": "yesterday"}))
    assert conditional_headers(garbage) == []


VALIDATOR_CASES = [
    pytest.param({"ETag": '"a"'}, {"ETag": '"a"'}, True, id="same strong ETag"),
    pytest.param({"ETag": 'W/"a"'}, {"ETag": '"a"'}, True, id="weak and strong compare weakly"),
    pytest.param({"ETag": '"a"'}, {"ETag": '"b"'}, False, id="different ETag"),
    pytest.param({}, {"ETag": '"b"'}, False, id="ETag in a 304 for a response without one"),
    pytest.param(
        {"Last-Modified": date(-10)}, {"Last-Modified": date(-5)}, False, id="other Last-Modified"
    ),
    pytest.param({"ETag": '"a"'}, {}, True, id="no validator in the 304"),
]


@pytest.mark.parametrize(("old", "new", "expected"), VALIDATOR_CASES)
def test_validators_match(old: dict[str, str], new: dict[str, str], expected: bool) -> None:
    assert (
        validators_match(response_info(httpx.Headers(old)), response_info(httpx.Headers(new)))
        is expected
    )


X = "https://a.test/x"
INVALIDATION_CASES = [
    pytest.param(200, {}, [X], id="target URL after a success"),
    pytest.param(303, {}, [X], id="after a redirect too"),
    pytest.param(500, {"Location": "/y"}, [], id="nothing after a server error"),
    pytest.param(404, {}, [], id="nothing after a client error"),
    pytest.param(
        201, {"Location": "/items/1"}, [X, "https://a.test/items/1"], id="same-origin Location"
    ),
    pytest.param(
        200,
        {"Content-Location": "y?q=1"},
        [X, "https://a.test/y?q=1"],
        id="relative Content-Location",
    ),
    pytest.param(200, {"Location": "https://evil.test/x"}, [X], id="never another origin"),
    pytest.param(
        200, {"Location": "https://a.test:8443/x"}, [X], id="another port is another origin"
    ),
    pytest.param(200, {"Location": "http://[::1"}, [X], id="garbage Location is ignored"),
]


@pytest.mark.parametrize(("status", "headers", "expected"), INVALIDATION_CASES)
def test_invalidation_targets(status: int, headers: dict[str, str], expected: list[str]) -> None:
    targets = invalidation_targets(httpx.URL(X), status, httpx.Headers(headers))
    assert [str(url) for url in targets] == expected


def test_parse_directives() -> None:
    assert parse_directives('private="a, b", max-age=5, NO-store') == {
        "private": "a, b",
        "max-age": "5",
        "no-store": None,
    }
    assert parse_directives('no-cache="x\\"y"') == {"no-cache": 'x"y'}
    assert parse_directives(" , ,max-age = 3") == {"max-age": "3"}
    assert parse_directives(None) == {}
    assert delta_seconds("12") == 12.0
    assert delta_seconds("1e3") is None
    assert delta_seconds("9" * 40) == MAX_DELTA


@pytest.mark.parametrize(
    "value",
    ["", "=", '"', 'max-age="', "max-age=\x00", "no-cache=,,,", "é=1", "max-age=1" * 500],
)
def test_garbage_headers_never_raise(value: str) -> None:
    headers = httpx.Headers(
        [
            (b"Cache-Control", value.encode()),
            (b"Expires", value.encode() or b"x"),
            ("Date", "Mon, 99 Foo 99999 99:99:99 GMT"),
            ("Last-Modified", "-1"),
            ("Age", "-3"),
            ("Vary", ",,"),
        ]
    )
    s = Stored(200, response_info(headers), T0, T0)
    decide(s, req(value), T0, shared=True, heuristic_fraction=0.1)
    storable("GET", s, req(value), shared=True, has_authorization=True, heuristic_fraction=0.1)
