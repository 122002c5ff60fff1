"""A raw TCP server on 127.0.0.1 for misbehaving peers: it reads a request head and
then sends a fixed (possibly partial) reply and keeps the connection open, never
closing it until ``stop()``. ``reply=b""`` is a server that never answers."""

from __future__ import annotations

import socket
import threading


class RawServer:
    def __init__(self, reply: bytes = b"") -> None:
        self.reply = reply
        self.requests = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._conns:
            conn.close()
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self._conns.append(conn)
            conn.settimeout(2)
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                self.requests += 1
                if self.reply:
                    conn.sendall(self.reply)
            except OSError:
                continue
