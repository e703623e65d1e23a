"""A TCP proxy on 127.0.0.1 that adds latency and caps bandwidth (and can cut connections).

``LatencyProxy(upstream_port, rtt=0.020, bandwidth=100e6)`` listens on a free port and
forwards each connection to ``127.0.0.1:upstream_port``: every chunk is delivered half
the round-trip time after it was read, and each direction sends at most ``bandwidth``
bytes per second. ``cut()`` breaks every open connection; ``refuse = True`` turns new
ones away (a remote that stopped answering); ``stall = True`` holds every byte back while
keeping the connections open (a remote that hangs). Used by the streaming bench and tests.
"""
from __future__ import annotations

import queue
import socket
import threading
import time
from typing import Optional

CHUNK = 1 << 16


class LatencyProxy:
    def __init__(self, upstream_port: int, rtt: float = 0.020, bandwidth: float = 100e6,
                 upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay = rtt / 2
        self.bandwidth = bandwidth
        self.refuse = False
        self.stall = False
        self.bytes = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)
        self._thread.start()

    def __enter__(self) -> "LatencyProxy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refuse:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                self._pipe(a, b)

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        chunks: "queue.Queue[Optional[tuple[float, bytes]]]" = queue.Queue()

        def read() -> None:
            try:
                while data := src.recv(CHUNK):
                    chunks.put((time.monotonic(), data))
            except OSError:
                pass
            chunks.put(None)

        def write() -> None:
            free_at = 0.0
            try:
                while (item := chunks.get()) is not None:
                    stamp, data = item
                    while self.stall and not self._closed:
                        time.sleep(0.01)
                    now = time.monotonic()
                    due = max(stamp + self.delay, free_at, now)
                    if due > now:
                        time.sleep(due - now)
                    dst.sendall(data)
                    self.bytes += len(data)
                    free_at = max(due, time.monotonic()) + len(data) / self.bandwidth
            except OSError:
                pass
            for s in (dst, src):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=read, name="proxy-read", daemon=True).start()
        threading.Thread(target=write, name="proxy-write", daemon=True).start()

    def cut(self) -> None:
        """Break every open connection (both ends see it reset)."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut()
