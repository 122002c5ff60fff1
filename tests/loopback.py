"""A real HTTP/1.1 server on 127.0.0.1 in a background thread, for integration tests.

Tests register routes: ``server.route("/x", handler)`` where ``handler(req)`` returns
``Reply(status, headers, body)`` (or raises ``Reset`` to drop the connection). Every
request is recorded in ``server.log`` so tests count what reached the network.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


class Reset(Exception):
    """Raised by a route to close the connection without an answer."""


Route = Callable[[Seen], Reply]


def _default(seen: Seen) -> Reply:
    parts = seen.path.strip("/").split("/")
    if parts[0] == "status" and len(parts) > 1:
        return Reply(int(parts[1]), {}, b"status %s" % parts[1].encode())
    if parts[0] == "bytes" and len(parts) > 1:
        return Reply(200, {"Content-Type": "application/octet-stream"}, b"x" * int(parts[1]))
    return Reply(200, {"Content-Type": "text/plain"}, f"{seen.method} {seen.path}".encode())


class LoopbackServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.log: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, format: str, *args: object) -> None:
                return

            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(
                    self.command, split.path, parse_qs(split.query), dict(self.headers), body
                )
                with server._lock:
                    server.log.append(seen)
                    route = server.routes.get(split.path, _default)
                try:
                    reply = route(seen)
                except Reset:
                    self.close_connection = True
                    self.connection.close()
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                payload = b"" if self.command == "HEAD" else reply.body
                if "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if payload and reply.status not in (204, 304):
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # bursts of new connections must not time out

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def route(self, path: str, handler: Route) -> None:
        self.routes[path] = handler

    def hits(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for s in self.log if path is None or s.path == path)

    def reset(self) -> None:
        with self._lock:
            self.routes.clear()
            self.log.clear()

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
