"""Length-prefixed message frames over a pair of byte streams.

Wire format of one frame (all integers big-endian, record format is permanent)::

    magic      4 bytes  b"HGF1"
    kind_len   u8       1..64
    header_len u32      <= max_header (JSON, UTF-8; 0 means ``{}``)
    payload_len u64     <= max_payload
    kind       ascii    [a-z][a-z0-9_.-]*
    header     JSON object
    payload    raw bytes

The reader checks every length against its limits before reading; payload
memory is committed only as bytes arrive (see ``FrameReader._read_exact``).
"""
from __future__ import annotations

import json
import re
import struct
from typing import Any, NamedTuple, Protocol

from hangar_git.errors import ConnectionClosed, ProtocolError

MAGIC = b"HGF1"
PREFIX = struct.Struct(">4sBIQ")
MAX_KIND = 64
DEFAULT_MAX_HEADER = 1 << 20
DEFAULT_MAX_PAYLOAD = 256 << 20
_INLINE = 64 << 10
_KIND_RE = re.compile(r"[a-z][a-z0-9_.-]{0,63}\Z")
_DECODER = json.JSONDecoder(parse_constant=lambda name: _bad_constant(name))
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class Reader(Protocol):
    def read(self, n: int, /) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> Any: ...

    def flush(self) -> Any: ...


class Frame(NamedTuple):
    """One message: a short kind, a JSON header and a binary payload."""

    kind: str
    header: dict[str, Any]
    payload: bytes = b""


def _bad_constant(name: str) -> None:
    raise ProtocolError(f"frame header contains the non-JSON constant {name}")


def check_kind(kind: str) -> bytes:
    """Return ``kind`` as ASCII bytes, or raise ProtocolError if it is not a valid kind."""
    if not isinstance(kind, str) or not _KIND_RE.match(kind):
        raise ProtocolError(f"invalid frame kind {kind!r}: use 1-64 of [a-z0-9_.-], starting with a letter")
    return kind.encode("ascii")


def encode_header(header: dict[str, Any] | None) -> bytes:
    """Serialise a frame header; an empty header costs zero bytes."""
    if not header:
        return b""
    if not isinstance(header, dict):
        raise ProtocolError(f"frame header must be a dict, not {type(header).__name__}")
    try:
        return _ENCODER.encode(header).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"frame header is not JSON-serialisable: {exc}") from None


def decode_header(raw: bytes) -> dict[str, Any]:
    """Parse a frame header, turning every failure into ProtocolError."""
    if not raw:
        return {}
    try:
        value = _DECODER.decode(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, int limits
        raise ProtocolError(f"frame header is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"frame header must be a JSON object, not {type(value).__name__}")
    return value


class FrameWriter:
    """Writes frames; ``flush`` pushes buffered frames to the peer."""

    def __init__(self, writer: Writer, *, max_payload: int = DEFAULT_MAX_PAYLOAD,
                 max_header: int = DEFAULT_MAX_HEADER) -> None:
        self._out = writer
        self.max_payload = max_payload
        self.max_header = max_header

    def send(self, kind: str, header: dict[str, Any] | None = None,
             payload: bytes | bytearray | memoryview | list[Any] | None = b"") -> None:
        """Queue one frame (call :meth:`flush` before waiting for an answer).

        ``payload`` may be a list of buffers, written one after another (no join).
        """
        if isinstance(payload, list):
            parts = [_as_bytes_view(memoryview(p)) for p in payload]
            self._out.write(self._prefix(kind, header, sum(p.nbytes for p in parts)))
            for part in parts:
                if part.nbytes:
                    self._out.write(part)
            return
        if isinstance(payload, memoryview):
            payload = _as_bytes_view(payload)
        head = self._prefix(kind, header, 0 if payload is None else _nbytes(payload))
        if payload is None or len(payload) == 0:
            self._out.write(head)
        elif len(payload) <= _INLINE:
            self._out.write(head + payload)
        else:
            self._out.write(head)
            self._out.write(payload)

    def flush(self) -> None:
        self._out.flush()

    def _prefix(self, kind: str, header: dict[str, Any] | None, size: int) -> bytes:
        kind_b = check_kind(kind)
        header_b = encode_header(header)
        if len(header_b) > self.max_header:
            raise ProtocolError(f"{kind} frame header of {len(header_b)} bytes exceeds {self.max_header}")
        if size > self.max_payload:
            raise ProtocolError(f"{kind} frame payload of {size} bytes exceeds {self.max_payload}")
        return PREFIX.pack(MAGIC, len(kind_b), len(header_b), size) + kind_b + header_b


def _as_bytes_view(view: memoryview) -> memoryview:
    if view.ndim == 1 and view.itemsize == 1:
        return view
    if not view.c_contiguous:
        raise ProtocolError("frame payload must be C-contiguous (np.ascontiguousarray it first)")
    return view.cast("B")


def _nbytes(payload: bytes | bytearray | memoryview) -> int:
    return payload.nbytes if isinstance(payload, memoryview) else len(payload)


class FrameReader:
    """Reads frames, enforcing size limits; raises ProtocolError or ConnectionClosed."""

    def __init__(self, reader: Reader, *, max_payload: int = DEFAULT_MAX_PAYLOAD,
                 max_header: int = DEFAULT_MAX_HEADER) -> None:
        self._in = reader
        self.max_payload = max_payload
        self.max_header = max_header

    def recv(self) -> Frame:
        """Read the next frame; ConnectionClosed on a clean EOF before it starts."""
        first = self._in.read(PREFIX.size)
        if not first:
            raise ConnectionClosed("the peer closed the connection")
        magic, kind_len, header_len, payload_len = PREFIX.unpack(self._complete(first, PREFIX.size))
        self._check_prefix(magic, kind_len, header_len, payload_len)
        kind = self._read_kind(kind_len)
        header = decode_header(self._read_exact(header_len)) if header_len else {}
        payload = self._read_exact(payload_len) if payload_len else b""
        return Frame(kind, header, payload)

    def _check_prefix(self, magic: bytes, kind_len: int, header_len: int, payload_len: int) -> None:
        if magic != MAGIC:
            raise ProtocolError(f"bad frame magic {magic!r}: the peer does not speak the hangar protocol")
        if not 1 <= kind_len <= MAX_KIND:
            raise ProtocolError(f"bad frame kind length {kind_len}")
        if header_len > self.max_header:
            raise ProtocolError(f"frame header of {header_len} bytes exceeds the limit of {self.max_header}")
        if payload_len > self.max_payload:
            raise ProtocolError(f"frame payload of {payload_len} bytes exceeds the limit of {self.max_payload}")

    def _read_kind(self, n: int) -> str:
        raw = self._read_exact(n)
        kind = raw.decode("ascii", "replace")
        if not _KIND_RE.match(kind):
            raise ProtocolError(f"invalid frame kind {raw!r}")
        return kind

    def _complete(self, got: bytes, n: int) -> bytes:
        return got if len(got) == n else got + self._read_exact(n - len(got))

    def _read_exact(self, n: int) -> bytes:
        """Read exactly ``n`` bytes.

        A buffered reader's ``read(n)`` allocates the result without zeroing it
        and reads straight into it, so a large payload is copied once and its
        memory is only committed as bytes arrive.
        """
        parts, need = [], n
        while need:
            chunk = self._in.read(need)
            if not chunk:
                raise ProtocolError(f"connection closed in the middle of a frame ({need} bytes missing)")
            parts.append(chunk)
            need -= len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)
