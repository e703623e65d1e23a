"""Fast buffered streams over a paramiko channel.

paramiko's own ``Channel.makefile`` grows its read buffer by bytes
concatenation (quadratic for large reads) and copies every write twice;
wrapping the channel in a RawIOBase lets C-level io.Buffered* do the work
and read large payloads straight into the caller's buffer.
"""
from __future__ import annotations

import io
import threading
from typing import Any

BUFFER_SIZE = 256 << 10
_DRAIN = 1 << 31


class ChannelRaw(io.RawIOBase):
    """Unbuffered file over a paramiko Channel (stdout side)."""

    def __init__(self, channel: Any) -> None:
        super().__init__()
        self._chan = channel
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        # Take everything paramiko has buffered at once: its pipe deletes read
        # bytes from the front of an array, which is quadratic when it holds a
        # large window and we ask for less than all of it.
        if not self._pending:
            self._pending = memoryview(self._chan.recv(_DRAIN))
        n = min(len(buf), len(self._pending))
        buf[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def write(self, data: Any) -> int:
        sent = self._chan.send(data)
        if not sent and len(data):
            raise BrokenPipeError("the SSH channel is closed")
        return sent


def channel_streams(channel: Any, buffer_size: int = BUFFER_SIZE) -> tuple[io.BufferedReader, io.BufferedWriter]:
    """Return (reader, writer) buffered streams over ``channel``'s stdout/stdin."""
    raw = ChannelRaw(channel)
    return io.BufferedReader(raw, buffer_size), io.BufferedWriter(raw, buffer_size)


class StderrTail:
    """Drains a channel's (or pipe's) stderr in a thread, keeping the last bytes."""

    def __init__(self, read: Any, limit: int = 16 << 10) -> None:
        self._read, self._limit = read, limit
        self._data = bytearray()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, name="hangar-stderr", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            while chunk := self._read(4096):
                with self._lock:
                    self._data += chunk
                    del self._data[: max(0, len(self._data) - self._limit)]
        except (OSError, ValueError, EOFError):
            pass

    def text(self, wait: float = 0.0) -> str:
        """Return what the remote wrote to stderr (waiting up to ``wait`` s for its end)."""
        if wait:
            self._thread.join(wait)
        with self._lock:
            return self._data.decode("utf-8", "replace")

    def join(self, timeout: float = 1.0) -> None:
        self._thread.join(timeout)
