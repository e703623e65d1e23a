"""Batch encodings of the protocol: data and part frames and digest lists, round trips and refusals."""
from __future__ import annotations

import pytest

from hangar_git.errors import ProtocolError
from hangar_git.transport.wire import (MAX_DATA_ITEMS, decode_data, decode_digest_list, decode_part, encode_data,
                                       encode_digest_list, encode_part)

D = [f"{i:064x}" for i in range(1, 5)]


@pytest.mark.parametrize("metas, sizes", [
    (["nd:|u1:3"] * 4, [3, 3, 3, 3]),
    (["str", "bytes", "str", "nd:<f4:2"], [1, 0, 5, 8]),
    ([], []),
], ids=["one-meta-fixed-size", "mixed", "empty"])
def test_data_frame_round_trip(metas: list[str], sizes: list[int]) -> None:
    digests = D[:len(metas)]
    body = b"".join(bytes([i]) * n for i, n in enumerate(sizes))
    header, payload = encode_data(digests, metas, sizes, body)
    if metas and len(set(metas)) == 1:
        assert "meta_index" not in header and header["size"] == sizes[0]
    batch = decode_data(header, payload)
    assert batch.digests() == digests and [batch.meta(i) for i in range(len(batch))] == metas
    assert [bytes(batch.part(i)) for i in range(len(batch))] == [bytes([i]) * n for i, n in enumerate(sizes)]


@pytest.mark.parametrize("change, message", [
    ({"count": -1}, "count"), ({"count": MAX_DATA_ITEMS + 1}, "count"), ({"count": "2"}, "count"),
    ({"metas": []}, "meta table"), ({"metas": ["evil/../meta"]}, "meta"),
    ({"metas": ["str", "bytes"]}, "meta_index"), ({"size": 4}, "sizes"), ({"size": None, "sizes": [3]}, "sizes"),
], ids=["negative", "too-many", "not-int", "no-metas", "bad-meta", "no-index", "wrong-size", "short-sizes"])
def test_malformed_data_frames_are_protocol_errors(change: dict, message: str) -> None:
    header, payload = encode_data(D[:2], ["str", "str"], [3, 3], b"abcdef")
    with pytest.raises(ProtocolError, match=message):
        decode_data({**header, **change}, payload)


def test_data_frame_shorter_than_its_digests() -> None:
    header, payload = encode_data(D[:2], ["str", "str"], [0, 0], b"")
    with pytest.raises(ProtocolError, match="shorter"):
        decode_data(header, payload[:40])


def test_digest_list_round_trip_and_refusal() -> None:
    header, payload = encode_digest_list(D)
    assert decode_digest_list(header, payload) == D
    with pytest.raises(ProtocolError, match="count"):
        decode_digest_list({"count": 5}, payload)
    with pytest.raises(ProtocolError, match="count"):
        decode_digest_list({"count": MAX_DATA_ITEMS + 1}, b"")


@pytest.mark.parametrize("sizes, max_items, max_bytes, expected", [
    ([], 3, 10, []),
    ([1, 1, 1, 1], 3, 10, [(0, 3), (3, 4)]),
    ([6, 6, 1], 9, 10, [(0, 1), (1, 3)]),
    ([20, 1], 9, 10, [(0, 1), (1, 2)]),
], ids=["empty", "by-count", "by-bytes", "oversized-item-alone"])
def test_batch_bounds(sizes: list[int], max_items: int, max_bytes: int, expected: list) -> None:
    from hangar_git.transport.wire import batch_bounds
    assert batch_bounds(sizes, max_items, max_bytes) == expected


# -- part frames: one piece of an object too big for one frame ---------------------------------------
MIB = 1 << 20
BIG = 3 * MIB + 5  # bytes: an object of three MiB and a bit


def test_part_frame_round_trip() -> None:
    last = decode_part(encode_part(D[0], "bytes", BIG, 3 * MIB), b"x" * 5)
    assert (last.digest, last.meta, last.size, last.offset, bytes(last.data)) == (D[0], "bytes", BIG, 3 * MIB,
                                                                                b"xxxxx")
    assert last.last
    assert not decode_part(encode_part(D[0], "nd:<f4:1048576", 4 * MIB, 0), bytes(2 * MIB)).last


@pytest.mark.parametrize("header, payload", [
    ({"digest": "xyz"}, bytes(MIB)),
    ({"meta": "nd:<zz:1"}, bytes(MIB)),
    ({"meta": 7}, bytes(MIB)),
    ({"meta": "nd:<f4:10"}, bytes(MIB)),               # 40 bytes by its meta, not BIG
    ({"size": MIB}, bytes(MIB)),                       # 1 MiB: goes whole, never in parts
    ({"size": 1 << 50}, bytes(MIB)),
    ({"size": "big"}, bytes(MIB)),
    ({"offset": -MIB}, bytes(MIB)),
    ({"offset": BIG}, b"x"),                           # past the end
    ({}, b""),
    ({"offset": 3 * MIB}, b"x" * 6),                   # past the end
], ids=["digest", "meta", "meta-type", "meta-size", "one-mib", "huge", "size-type",
        "offset-negative", "offset-past-end", "empty", "overrun"])
def test_malformed_part_frames_are_protocol_errors(header: dict, payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_part({**encode_part(D[0], "bytes", BIG, 0), **header}, payload)


@pytest.mark.parametrize("offset, length", [(0, MIB - 1), (100, MIB), (MIB + 1, 7)],
                         ids=["short-first", "odd-offset", "odd-both"])
def test_parts_need_not_be_whole_mib(offset: int, length: int) -> None:
    """The receiver feeds parts to an incremental digest: any length, in order, will do."""
    part = decode_part(encode_part(D[0], "bytes", BIG, offset), bytes(length))
    assert (part.offset, len(part.data)) == (offset, length)
