"""A TCP proxy on 127.0.0.1 that adds latency and caps bandwidth (and can cut connections).

``LatencyProxy(upstream_port, rtt=0.020, bandwidth=100e6)`` listens on a free port and
forwards each connection to ``127.0.0.1:upstream_port``: every chunk is delivered half
the round-trip time after it was read, and each direction of the link sends at most
``bandwidth`` bytes per second, shared by every connection through the proxy (one link, as a
real network's: parallel connections do not multiply it). ``cut()`` breaks every open connection; ``refuse = True`` turns new
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
        self.bytes_down = 0
        """Bytes sent from the upstream server to clients (``bytes`` counts both directions)."""
        self._link_free = {"up": 0.0, "down": 0.0}  # when each direction of the shared link is free
        self._link_lock = threading.Lock()
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
            for a, b, way in ((client, server, "up"), (server, client, "down")):
                self._pipe(a, b, way)

    def _slot(self, way: str, ready: float, size: int) -> float:
        """When ``size`` bytes ready at ``ready`` may go: after the link's earlier bytes that way."""
        with self._link_lock:
            due = max(ready, self._link_free[way], time.monotonic())
            self._link_free[way] = due + size / self.bandwidth
            return due

    def _pipe(self, src: socket.socket, dst: socket.socket, way: str) -> None:
        chunks: "queue.Queue[Optional[tuple[float, bytes]]]" = queue.Queue()

        def read() -> None:
            try:
                while data := src.recv(CHUNK):
                    chunks.put((time.monotonic(), data))
            except OSError:
                pass
            chunks.put(None)

        def write() -> None:
            try:
                while (item := chunks.get()) is not None:
                    stamp, data = item
                    while self.stall and not self._closed:
                        time.sleep(0.01)
                    due = self._slot(way, stamp + self.delay, len(data))
                    now = time.monotonic()
                    if due > now:
                        time.sleep(due - now)
                    dst.sendall(data)
                    self.bytes += len(data)
                    if way == "down":
                        self.bytes_down += len(data)
            except OSError:
                pass
            for s in (dst, src):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=read, name="proxy-read", daemon=True).start()
        threading.Thread(target=write, name="proxy-write", daemon=True).start()

    def transfer_seconds(self, nbytes: int) -> float:
        """Seconds for ``nbytes`` to come through the proxy from a server that sends them as soon
        as asked, over an open connection (one round trip plus the transfer): the bound any
        protocol over this link meets. The proxy is pointed at a local sender for the measure."""
        sender = socket.create_server(("127.0.0.1", 0))
        port = sender.getsockname()[1]

        def send() -> None:
            conn, _ = sender.accept()
            with conn:
                if conn.recv(1):
                    conn.sendall(bytes(nbytes))

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        with LatencyProxy(port, rtt=self.delay * 2, bandwidth=self.bandwidth) as probe, \
                socket.create_connection(("127.0.0.1", probe.port)) as sock:
            buf = bytearray(1 << 20)
            got = 0
            start = time.perf_counter()
            sock.sendall(b"g")
            while got < nbytes:
                n = sock.recv_into(buf)
                if not n:
                    break
                got += n
            took = time.perf_counter() - start
        thread.join(10)
        sender.close()
        return took

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
