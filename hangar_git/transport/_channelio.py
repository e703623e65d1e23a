"""Fast buffered streams over a paramiko channel.

paramiko's own ``Channel.makefile`` grows its read buffer by bytes
concatenation (quadratic for large reads) and copies every write twice;
wrapping the channel in a RawIOBase lets C-level io.Buffered* do the work
and read large payloads straight into the caller's buffer.
"""
from __future__ import annotations

import io
import threading
import time
from collections import deque
from typing import Any

from paramiko.buffered_pipe import PipeTimeout

BUFFER_SIZE = 256 << 10
_DRAIN = 1 << 31


class ChunkPipe:
    """What a paramiko channel buffers its incoming data in, without copying it.

    paramiko's ``BufferedPipe`` appends every packet to one ``array`` and
    copies it out twice per read (a slice, then ``tobytes``), all under the
    lock the transport thread needs to deliver the next packet. This keeps
    the packets as they arrived and hands each one over whole (a read
    smaller than the packet gets a slice). Same interface and semantics.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cv = threading.Condition(self._lock)
        self._event: Any = None
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._closed = False

    def set_event(self, event: Any) -> None:
        with self._lock:
            self._event = event
            if self._closed or self._size:
                event.set()
            else:
                event.clear()

    def feed(self, data: bytes) -> None:
        with self._lock:
            if self._event is not None:
                self._event.set()
            if data:
                self._chunks.append(bytes(data))
                self._size += len(data)
            self._cv.notify_all()

    def read_ready(self) -> bool:
        with self._lock:
            return self._size > 0

    def read(self, nbytes: int, timeout: float | None = None) -> bytes:
        with self._lock:
            if not self._size:
                if self._closed:
                    return b""
                if timeout == 0.0:
                    raise PipeTimeout()
                deadline = None if timeout is None else time.monotonic() + timeout
                while not self._size and not self._closed:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise PipeTimeout()
                    self._cv.wait(left)
                if not self._size:
                    return b""
            first = self._chunks[0]
            if len(first) <= nbytes:
                self._chunks.popleft()
                out = first
            else:
                out, self._chunks[0] = first[:nbytes], first[nbytes:]
            self._size -= len(out)
            if not self._size and self._event is not None and not self._closed:
                self._event.clear()
            return out

    def empty(self) -> bytes:
        with self._lock:
            out = b"".join(self._chunks)
            self._chunks.clear()
            self._size = 0
            if self._event is not None and not self._closed:
                self._event.clear()
            return out

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._cv.notify_all()
            if self._event is not None:
                self._event.set()

    def __len__(self) -> int:
        with self._lock:
            return self._size


def use_chunk_pipe(channel: Any) -> None:
    """Give ``channel`` a :class:`ChunkPipe` for its stdout data; call before any data
    can arrive (before ``exec_command`` on a client, while accepting it on a server)."""
    channel.in_buffer = ChunkPipe()


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
        # Take a whole packet from the ChunkPipe (no copy) and hand it out over
        # as many calls as the caller's buffers need, instead of asking the
        # pipe for less than a packet (which would slice a copy of it).
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
