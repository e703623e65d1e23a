"""Frame encoding round-trips, limits, and decoder fuzzing."""
from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hangar_git.errors import ConnectionClosed, ProtocolError, RemoteError
from hangar_git.transport.framing import MAGIC, PREFIX, Frame, FrameReader, FrameWriter


def encode(*frames: tuple, **limits: int) -> bytes:
    out = io.BytesIO()
    writer = FrameWriter(out, **limits)
    for frame in frames:
        writer.send(*frame)
    writer.flush()
    return out.getvalue()


def decode_all(data: bytes, reader_cls: type = io.BytesIO, **limits: int) -> list[Frame]:
    reader = FrameReader(reader_cls(data), **limits)
    frames = []
    while True:
        try:
            frames.append(reader.recv())
        except ConnectionClosed:
            return frames


class Trickle(io.RawIOBase):
    """A reader that hands out at most 3 bytes per call (like a slow socket)."""

    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def read(self, n: int = -1) -> bytes:
        n = 3 if n < 0 else min(n, 3)
        chunk = self._data[self._pos:self._pos + n]
        self._pos += len(chunk)
        return chunk


@pytest.mark.parametrize("frame", [
    ("ok", {}, b""),
    ("ok", None, None),
    ("data", {"a": 1, "nested": {"list": [1, 2.5, None, True]}}, b"\x00\x01\x02"),
    ("unicode.kind-2_x", {"text": "é ✓ \u2028"}, b"x" * 100_000),
], ids=["empty", "none", "header-and-payload", "unicode-and-large"])
def test_round_trip(frame: tuple) -> None:
    (got,) = decode_all(encode(frame))
    kind, header, payload = frame
    assert got == (kind, header or {}, payload or b"")


def test_stream_of_frames_through_partial_reads() -> None:
    frames = [("batch", {"i": i}, bytes([i]) * i) for i in range(50)]
    assert decode_all(encode(*frames), Trickle) == [Frame(*f) for f in frames]


def test_numpy_memoryview_payload_is_sent_as_bytes() -> None:
    arr = np.arange(24, dtype="<f4").reshape(2, 3, 4)
    (got,) = decode_all(encode(("arr", {}, memoryview(arr))))
    np.testing.assert_array_equal(np.frombuffer(got.payload, "<f4").reshape(2, 3, 4), arr)


def test_non_contiguous_payload_is_refused() -> None:
    arr = np.arange(24, dtype="<f4").reshape(4, 6)[:, ::2]
    with pytest.raises(ProtocolError, match="C-contiguous"):
        encode(("arr", {}, memoryview(arr)))


def prefix(kind: bytes = b"ok", header_len: int = 0, payload_len: int = 0, magic: bytes = MAGIC) -> bytes:
    return PREFIX.pack(magic, len(kind), header_len, payload_len) + kind


@pytest.mark.parametrize("data, message", [
    (b"GET / HTTP/1.1\r\n\r\n", "bad frame magic"),
    (PREFIX.pack(MAGIC, 0, 0, 0), "kind length"),
    (PREFIX.pack(MAGIC, 65, 0, 0) + b"a" * 65, "kind length"),
    (prefix(b"Bad"), "invalid frame kind"),
    (prefix(b"o\xff"), "invalid frame kind"),
    (prefix(header_len=(1 << 20) + 1), "header of 1048577 bytes exceeds"),
    (prefix(payload_len=1 << 40), "payload of 1099511627776 bytes exceeds"),
    (prefix(header_len=2) + b"[]", "must be a JSON object"),
    (prefix(header_len=3) + b"{x}", "not valid JSON"),
    (prefix(header_len=2) + b"\xff\xfe", "not valid JSON"),
    (prefix(header_len=9) + b'{"a":NaN}', "non-JSON constant"),
    (prefix(header_len=20_002) + b"[" * 10_001 + b"]" * 10_001, "not valid JSON"),
    (prefix(header_len=5_006) + b'{"a":' + b"1" * 5_000 + b"}", "not valid JSON"),
    (prefix(payload_len=10) + b"12345", "5 bytes missing"),
    (prefix(header_len=10) + b"{}", "8 bytes missing"),
    (MAGIC + b"\x02", "in the middle of a frame"),
], ids=["http", "kind-0", "kind-65", "kind-upper", "kind-binary", "header-too-big", "payload-too-big",
        "header-list", "header-bad-json", "header-bad-utf8", "header-nan", "header-deep-nesting",
        "header-huge-int", "truncated-payload", "truncated-header", "truncated-prefix"])
def test_malformed_input_is_a_protocol_error(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        FrameReader(io.BytesIO(data)).recv()


def test_clean_eof_is_connection_closed_not_protocol_error() -> None:
    with pytest.raises(ConnectionClosed) as info:
        FrameReader(io.BytesIO(b"")).recv()
    assert isinstance(info.value, RemoteError) and not isinstance(info.value, ProtocolError)


def test_payload_limit_is_configurable_on_both_ends() -> None:
    data = encode(("data", {}, b"x" * 100))
    with pytest.raises(ProtocolError, match="exceeds the limit of 99"):
        FrameReader(io.BytesIO(data), max_payload=99).recv()
    with pytest.raises(ProtocolError, match="exceeds 99"):
        encode(("data", {}, b"x" * 100), max_payload=99)


@pytest.mark.parametrize("kind, header, message", [
    ("", {}, "invalid frame kind"),
    ("x" * 65, {}, "invalid frame kind"),
    ("ok", {"a": object()}, "not JSON-serialisable"),
    ("ok", {"a": float("nan")}, "not JSON-serialisable"),
    ("ok", ["not", "a", "dict"], "must be a dict"),
], ids=["empty-kind", "long-kind", "object", "nan", "list"])
def test_writer_refuses_what_the_reader_would(kind: str, header: object, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        encode((kind, header, b""))


def test_large_payload_is_read_whole() -> None:
    payload = np.random.default_rng(0).integers(0, 256, 20 << 20, dtype=np.uint8).tobytes()
    (got,) = decode_all(encode(("big", {"n": len(payload)}, payload)), io.BytesIO)
    assert got.payload == payload


# -- fuzzing -------------------------------------------------------------------
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
headers = st.dictionaries(st.text(max_size=10), json_values, max_size=5)
kinds = st.from_regex(r"[a-z][a-z0-9_.-]{0,63}", fullmatch=True)


def decode_never_crashes(data: bytes) -> None:
    reader = FrameReader(io.BytesIO(data), max_payload=1 << 16, max_header=1 << 12)
    for _ in range(len(data) + 1):  # every frame consumes >= 1 byte, so this bounds the loop
        try:
            reader.recv()
        except (ProtocolError, ConnectionClosed):
            return
    pytest.fail("decoder did not stop")


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    decode_never_crashes(data)


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_random_bytes_after_valid_magic(data: bytes) -> None:
    decode_never_crashes(MAGIC + data)


@FUZZ
@given(st.lists(st.tuples(kinds, headers, st.binary(max_size=64)), min_size=1, max_size=4),
       st.data())
def test_fuzz_mutated_valid_streams(frames: list, data: st.DataObject) -> None:
    raw = bytearray(encode(*frames))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    decode_never_crashes(bytes(raw[:cut]))


@FUZZ
@given(kinds, headers, st.binary(max_size=1000))
def test_fuzz_round_trip(kind: str, header: dict, payload: bytes) -> None:
    assert decode_all(encode((kind, header, payload)), Trickle) == [Frame(kind, header, payload)]


def test_prefix_layout_is_permanent() -> None:
    assert PREFIX.format == ">4sBIQ" and PREFIX.size == 17 and MAGIC == b"HGF1"
    assert encode(("ok", {"a": 1}, b"xy")) == MAGIC + struct.pack(">BIQ", 2, 7, 2) + b'ok{"a":1}xy'
