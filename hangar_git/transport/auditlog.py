"""The server's audit log: one JSON object per line for every connection and what it did.

Every line has ``time`` (UTC, ISO 8601), ``key`` (the key's name, or null
before authentication), ``address``, ``repo``, ``op`` and ``result``; lines
of operations that move something add ``bytes_in``/``bytes_out``,
``objects_in``/``objects_out`` and ``refs`` (``[{"branch", "old", "new"}]``).
``op`` is ``auth`` for a failed authentication, else what the connection
did: ``push``, ``fetch-data``, ``fetch``, ``list-refs`` or ``connect``
(nothing asked). ``result`` is ``ok``, ``denied`` (authentication or access
rules), ``not-found``, ``invalid`` (a malformed or escaping request),
``rejected`` (the operation failed, e.g. a non-fast-forward push) or
``aborted`` (the connection ended in the middle).

Each line goes out in one ``write`` on a file opened with ``O_APPEND``, so
concurrent connections (and concurrent ``git hangar serve`` processes) never
interleave partial lines. No secret is ever logged: keys appear by name
and fingerprint only.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from typing import Any

from hangar_git.errors import HangarError, PermissionDeniedError, ProtocolError, ServerConfigError

_OPS = (("update_ref", "push"), ("put_data", "push"), ("put_objects", "push"), ("get_data", "fetch-data"),
        ("data_sizes", "fetch-data"), ("fetch_objects", "fetch"), ("list_refs", "list-refs"))


def utc_now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


class AuditLog:
    """Appends JSON lines to ``path`` (None: a log that writes nothing)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd = self._open() if path else None

    def _open(self) -> int:
        assert self.path is not None
        try:
            return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            raise ServerConfigError(f"cannot open the log {self.path}: {exc.strerror}") from None

    def write(self, **fields: Any) -> None:
        """Append one line: ``time`` first, then ``fields`` (None values kept as null)."""
        if self._fd is None:
            return
        line = json.dumps({"time": utc_now(), **fields}, ensure_ascii=True, default=str,
                          separators=(",", ":")).encode("ascii") + b"\n"
        with self._lock:
            fd = self._fd
            done = 0
            while done < len(line):  # one write for a regular file; the loop is for the impossible
                done += os.write(fd, line[done:])

    def reopen(self) -> None:
        """Open the file again (after a log rotation moved it away)."""
        if self.path is None:
            return
        fd = self._open()
        with self._lock:
            old, self._fd = self._fd, fd
        if old is not None:
            os.close(old)

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class Activity:
    """What one connection asked for and what came of it, filled in as requests are served.
    (A plain class: dataclasses would import inspect, a fifth of serve's start-up.)"""

    __slots__ = ("requests", "refs", "objects_in", "objects_out", "failure", "result", "current")

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.refs: list[dict[str, Any]] = []
        self.objects_in = 0
        self.objects_out = 0
        self.failure: str | None = None
        self.result: str | None = None
        self.current: str | None = None  # the request being served (still set after a break: aborted)

    def record(self, kind: str, request: dict[str, Any], reply: Any, error: BaseException | None) -> None:
        """Note one request (its reply header, or the error it raised)."""
        self.requests[kind] += 1
        self.current = None
        if error is not None:
            if self.failure is None:
                self.failure = f"{type(error).__name__}: {error}"
                self.result = error_result(error)
            return
        header = reply[0] if isinstance(reply, tuple) else reply if isinstance(reply, dict) else {}
        if kind == "update_ref":
            self.refs.append({"branch": request.get("branch"), "old": request.get("old"),
                              "new": request.get("new")})
        elif kind in ("put_objects", "put_data"):
            self.objects_in += int(header.get("stored", 0) or 0)
        elif kind in ("fetch_objects", "get_data"):
            self.objects_out += int(header.get("objects", 0) or 0)

    @property
    def outcome(self) -> str:
        """The ``result`` of the whole connection."""
        return "aborted" if self.current is not None else self.result or "ok"

    @property
    def op(self) -> str:
        return next((op for kind, op in _OPS if self.requests[kind]), "connect")

    def fields(self) -> dict[str, Any]:
        """The log fields of what was moved (only those that apply)."""
        out: dict[str, Any] = {}
        if self.objects_in:
            out["objects_in"] = self.objects_in
        if self.objects_out:
            out["objects_out"] = self.objects_out
        if self.refs:
            out["refs"] = self.refs
        if self.failure:
            out["error"] = self.failure[:500]
        return out


def error_result(error: BaseException) -> str:
    """The ``result`` of an operation that raised ``error``."""
    if isinstance(error, PermissionDeniedError):
        return "denied"
    if isinstance(error, ProtocolError):
        return "invalid"
    return "rejected" if isinstance(error, HangarError) else "error"


class CountingReader:
    """A reader that counts the bytes it hands out."""

    def __init__(self, inner: Any) -> None:
        self._inner, self.count = inner, 0

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        self.count += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer`` (as the channel stream does: no copy of large reads)."""
        n = self._inner.readinto(buffer)
        self.count += n or 0
        return n


class CountingWriter:
    """A writer that counts the bytes written through it."""

    def __init__(self, inner: Any) -> None:
        self._inner, self.count = inner, 0

    def write(self, data: Any) -> Any:
        self.count += memoryview(data).nbytes
        return self._inner.write(data)

    def flush(self) -> Any:
        return self._inner.flush()
