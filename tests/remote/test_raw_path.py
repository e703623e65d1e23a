"""Small samples on the wire without per-sample Python: raw digests from the records to the
frames, frames cut per frame (not per sample), digests sorted and de-duplicated by their
8-byte prefixes. Each piece against its per-sample reference, at its thresholds (a frame's
count and bytes -1 / exactly / +1), with zero-length objects and digests holding zero bytes."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hangar_git.storage import digest_of, digests_to_raw, open_store, raws_to_digests
from hangar_git.storage.packindex import digest_order, first_occurrences
from hangar_git.transport import datastream
from hangar_git.transport.connect import open_local_session_in_process
from hangar_git.transport.datastream import receive_frames, send_data
from hangar_git.transport.fetch_data import SessionSource
from hangar_git.transport.framing import Frame
from hangar_git.transport.service import RepositoryService
from hangar_git.transport.wire import batch_bounds, decode_data, encode_data_table


def reference_bounds(sizes: list[int], max_items: int, max_bytes: int) -> list[tuple[int, int]]:
    """The per-item greedy cut batch_bounds replaced."""
    bounds, start, nbytes = [], 0, 0
    for i, n in enumerate(sizes):
        if i > start and (i - start >= max_items or nbytes + n > max_bytes):
            bounds.append((start, i))
            start, nbytes = i, 0
        nbytes += n
    if start < len(sizes):
        bounds.append((start, len(sizes)))
    return bounds


@pytest.mark.parametrize("total", [9, 10, 11], ids=["bytes-1", "bytes-exact", "bytes+1"])
def test_a_frame_holds_exactly_its_byte_limit(total: int) -> None:
    sizes = [1] * total
    assert batch_bounds(sizes, 100, 10) == reference_bounds(sizes, 100, 10)
    assert len(batch_bounds(sizes, 100, 10)) == (1 if total <= 10 else 2)


@pytest.mark.parametrize("count", [4, 5, 6], ids=["items-1", "items-exact", "items+1"])
def test_a_frame_holds_exactly_its_item_limit(count: int) -> None:
    sizes = [0] * count  # zero-length objects: only the count cuts
    assert batch_bounds(sizes, 5, 10) == reference_bounds(sizes, 5, 10) == (
        [(0, count)] if count <= 5 else [(0, 5), (5, count)])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=60), st.integers(1, 8), st.integers(1, 40))
def test_batch_bounds_cuts_as_the_per_item_loop(sizes: list[int], max_items: int, max_bytes: int) -> None:
    assert batch_bounds(sizes, max_items, max_bytes) == reference_bounds(sizes, max_items, max_bytes)


@pytest.mark.parametrize("first, expected", [
    (1, [(0, 1), (1, 3), (3, 7), (7, 15), (15, 23), (23, 25)]),   # 1, 2, 4, 8, 8, the rest
    (7, [(0, 7), (7, 15), (15, 23), (23, 25)]),                  # 7, then the limit
    (8, [(0, 8), (8, 16), (16, 24), (24, 25)]),                  # the limit from the start
    (9, [(0, 8), (8, 16), (16, 24), (24, 25)]),                  # never past the limit
], ids=["ramp", "limit-1", "limit", "limit+1"])
def test_frames_grow_from_a_small_first_one_to_the_limit(first: int, expected: list[tuple[int, int]]) -> None:
    """Regression: the first frame of a push or fetch of small rows held 8 MB, read, sent and
    received whole before the receiver could start verifying; it now holds ``first`` bytes
    and each next one twice as many, up to the limit."""
    assert batch_bounds([1] * 25, 100, 8, first) == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=60), st.integers(1, 8), st.integers(1, 40), st.integers(1, 40))
def test_growing_frames_cover_every_item_once_within_the_limits(sizes: list[int], max_items: int, max_bytes: int,
                                                                first: int) -> None:
    bounds = batch_bounds(sizes, max_items, max_bytes, first)
    assert [i for lo, hi in bounds for i in range(lo, hi)] == list(range(len(sizes)))
    for lo, hi in bounds:
        assert hi - lo <= max_items and (hi - lo == 1 or sum(sizes[lo:hi]) <= max_bytes)


def raws_of(prefixes_and_tails: list[tuple[bytes, bytes]]) -> np.ndarray:
    return np.array([p + t for p, t in prefixes_and_tails], dtype="S32")


ZEROS = [(b"\0" * 8, b"\0" * 24), (b"\0" * 8, b"\0" * 23 + b"\1"), (b"\1" + b"\0" * 7, b"\0" * 24),
         (b"\0" * 8, b"\0" * 24), (b"\xff" * 8, b"\x07" + b"\0" * 23)]


def test_digests_with_zero_bytes_and_shared_prefixes_sort_and_dedupe_exactly() -> None:
    raws = raws_of(ZEROS)
    assert raws.dtype == np.dtype("S32") and len(raws.tobytes()) == 32 * len(ZEROS)
    assert digest_order(raws).tolist() == np.argsort(raws, kind="stable").tolist()
    assert first_occurrences(raws).tolist() == [0, 1, 2, 4]  # the repeated all-zero digest once
    assert raws_to_digests(raws[first_occurrences(raws)])[0] == "00" * 32


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([b"\0" * 8, b"\1" * 8, b"ab" * 4]),
                          st.binary(min_size=24, max_size=24)), max_size=30))
def test_prefix_sort_and_dedupe_match_numpy(items: list[tuple[bytes, bytes]]) -> None:
    raws = raws_of(items) if items else np.zeros(0, dtype="S32")
    assert digest_order(raws).tolist() == np.argsort(raws, kind="stable").tolist()
    _, first = np.unique(raws, return_index=True)
    assert first_occurrences(raws).tolist() == sorted(first.tolist())


class FrameList:
    """What send_data writes to: its frames, payloads joined."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def send(self, kind: str, header: dict[str, Any], payload: Any = b"") -> None:
        self.frames.append(Frame(kind, header, b"".join(payload) if isinstance(payload, list) else bytes(payload)))


def filled_store(path: str, values: list[tuple[str, bytes]]) -> tuple[Any, list[str]]:
    store = open_store(path, create=True)
    digests = [store.put_new(meta, data) for meta, data in values]  # type: ignore[arg-type]
    store.flush()
    return store, digests


def test_rows_are_sent_in_a_smaller_first_frame(tmp_path: Any) -> None:
    """A push or fetch of small rows: the first data frame holds about ``FIRST_BATCH_BYTES``
    (the receiver starts verifying once it is in), the next ones up to twice as much."""
    width = 117
    first = datastream.FIRST_BATCH_BYTES // width
    rows = np.random.default_rng(5).integers(0, 256, size=(first + first // 2, width), dtype=np.uint8)
    store = open_store(str(tmp_path / "s"), create=True)
    raws = store.put_rows("nd:|u1:117", rows)  # type: ignore[arg-type]
    out = FrameList()
    assert send_data(store, out, raws) == len(rows)
    assert [f.header["count"] for f in out.frames] == [first, first // 2]
    received = np.concatenate([np.frombuffer(f.payload[:32 * f.header["count"]], "S32") for f in out.frames])
    assert received.tobytes() == raws.tobytes()


MIXED = [("bytes", b""), ("str", b"x"), ("bytes", b""), ("nd:|u1:3", b"abc"), ("bytes", b"\0\0"),
         ("nd:|u1:3", b"\0\0\0")]


def test_describe_raws_answers_as_describe_with_metas_as_a_table(tmp_path: Any) -> None:
    store, digests = filled_store(str(tmp_path / "s"), MIXED)
    store.put_new("str", b"only buffered")  # type: ignore[arg-type]
    pending = digest_of("str", b"only buffered")
    wanted = digests + [pending, "00" * 32, "00" * 31 + "01"]  # absent digests with zero bytes
    table, index, sizes = store.describe_raws(digests_to_raw(wanted))
    metas, ref_sizes = store.describe(wanted)
    assert sizes.tolist() == ref_sizes.tolist() == [0, 1, 0, 3, 2, 3, 13, -1, -1]
    assert [table[i] if i >= 0 else None for i in index.tolist()] == metas
    assert len(table) == len(set(m for m in metas if m is not None))


@pytest.mark.parametrize("count", [4, 5, 6], ids=["items-1", "items-exact", "items+1"])
def test_send_data_from_raws_cuts_frames_at_the_limit_and_every_object_arrives(
        count: int, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datastream, "MAX_DATA_ITEMS", 5)
    values = [(m, d + bytes([i]) * (i % 2)) for i, (m, d) in enumerate(MIXED * 2)][:count]
    values = [(m if m != "nd:|u1:3" or len(d) == 3 else "bytes", d) for m, d in values]
    store, digests = filled_store(str(tmp_path / "src"), values)
    out = FrameList()
    assert send_data(store, out, digests_to_raw(digests)) == count
    assert len(out.frames) == (1 if count <= 5 else 2)
    got = [d for f in out.frames for d in decode_data(f.header, f.payload).digests()]
    assert got == digests
    target = open_store(str(tmp_path / "dst"), create=True)
    assert receive_frames(target, out.frames) == count
    assert target.missing(digests) == []  # type: ignore[arg-type]
    assert [bytes(target.read(d)[1]) for d in digests] == [d for _, d in values]  # type: ignore[arg-type]


def test_a_damaged_object_in_a_raw_frame_is_refused(tmp_path: Any) -> None:
    store, digests = filled_store(str(tmp_path / "src"), [("bytes", b"abc"), ("bytes", b"abd")])
    out = FrameList()
    send_data(store, out, digests_to_raw(digests))
    frame = out.frames[0]
    payload = bytearray(frame.payload)
    payload[-1] ^= 1
    target = open_store(str(tmp_path / "dst"), create=True)
    with pytest.raises(Exception, match="does not match its digest"):
        receive_frames(target, [Frame("data", frame.header, bytes(payload))])
    assert sorted(target.missing(digests)) == sorted(digests)  # type: ignore[arg-type]


def test_encode_data_table_keeps_one_meta_and_one_size_compact() -> None:
    raws = digests_to_raw(["11" * 32, "22" * 32])
    header, parts = encode_data_table(raws, ["x", "str"], np.array([1, 1]), np.array([2, 2]), b"abcd")
    assert header == {"count": 2, "metas": ["str"], "size": 2}
    batch = decode_data(header, b"".join(parts))
    assert batch.digests() == ["11" * 32, "22" * 32] and bytes(batch.part(1)) == b"cd"


@pytest.mark.parametrize("advertised", [True, False], ids=["get_data_max", "older-server"])
def test_fetch_takes_one_request_or_the_older_limit(advertised: bool, tmp_path: Any,
                                                     monkeypatch: pytest.MonkeyPatch, make_repo: Any) -> None:
    """A server that says how many digests a get_data takes gets them in one request; one that
    does not gets at most MAX_DATA_ITEMS per request (here 3), as before."""
    from hangar_git.transport import fetch_data as fetch_mod
    from hangar_git.transport import service as service_mod
    monkeypatch.setattr(fetch_mod, "MAX_DATA_ITEMS", 3)
    repo = make_repo("server")
    values = [("bytes", bytes([i]) * i) for i in range(8)]  # a zero-length object among them
    digests = [repo.ctx.store.put_new(m, d) for m, d in values]
    repo.ctx.store.flush()
    requests: list[int] = []

    class Service(RepositoryService):
        def hello_info(self) -> dict[str, Any]:
            info = super().hello_info()
            if not advertised:
                info.pop("get_data_max")
            return info

        def get_data(self, request: Frame, stream: Any) -> Any:
            requests.append(request.header["count"])
            return super().get_data(request, stream)

    if not advertised:
        monkeypatch.setattr(service_mod, "GET_DATA_MAX", 3)
    target = open_store(str(tmp_path / "dst"), create=True)
    with open_local_session_in_process(Service(repo.ctx.git.git_dir)) as session:
        got = SessionSource(session).receive(target, digests_to_raw(digests), lambda frame: None)
    assert got == len(digests)
    assert requests == ([8] if advertised else [3, 3, 2])
    assert target.missing(digests) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("text, expected", [
    (b"", []),
    (b"\n\n", []),
    (b"00" * 32 + b" i0\n" + b"00" * 31 + b"01 i1\n", ["00" * 32, "00" * 31 + "01"]),
    (b"ab" * 32 + b" sx\n" + b"cd" * 32 + b" sy", ["ab" * 32, "cd" * 32]),  # no final newline
    (b"ef" * 32 + b"\n", ["ef" * 32]),  # a digest alone on its line
], ids=["empty", "blank-lines", "zero-bytes", "no-final-newline", "digest-only"])
def test_shard_lines_convert_as_one_array(text: bytes, expected: list[str]) -> None:
    from hangar_git.storage.objects import line_digests_to_raw
    raws = line_digests_to_raw(text)
    assert raws.dtype == np.dtype("S32") and raws_to_digests(raws) == expected
    assert raws_to_digests(raws) == [line[:64] for line in text.decode().split("\n") if line]


@pytest.mark.parametrize("text", [b"ab" * 31 + b"a\n", b"ab " * 22 + b"\n", b"zz" * 32 + b" i1\n",
                                  b"ab" * 32 + b" i0\n" + b"x" * 70 + b"\n"],
                         ids=["63-digits", "spaced-digits", "not-hex", "second-line-bad"])
def test_shard_lines_that_are_not_records_are_refused(text: bytes) -> None:
    from hangar_git.storage.objects import line_digests_to_raw
    with pytest.raises(ValueError):
        line_digests_to_raw(text)


def test_frames_of_small_objects_are_staged_one_at_a_time_and_large_ones_in_parallel(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hashing small objects holds the GIL: their frames go to one thread, in order (two at
    once would both finish late); frames averaging ``SMALL_OBJECTS`` bytes or more go to the pool."""
    small = 100
    monkeypatch.setattr(datastream, "SMALL_OBJECTS", small)
    values = [("bytes", bytes([i]) * (small - 1)) for i in range(4)] + [("bytes", bytes([9]) * small)]
    store, digests = filled_store(str(tmp_path / "src"), values)
    frames = []
    for d in digests:  # one frame per object: averages of small-1 bytes, then exactly small
        out = FrameList()
        send_data(store, out, digests_to_raw([d]))
        frames += out.frames
    staged_on: dict[int, str] = {}  # frame (by its object's size) -> the thread pool that staged it
    real_stage = datastream.stage_data

    def recording_stage(store: Any, frame: Frame, *args: Any, **kwargs: Any) -> Any:
        import threading
        staged_on[len(frame.payload) - 32 + frame.payload[32] * 1000] = \
            threading.current_thread().name.rsplit("_", 1)[0]
        return real_stage(store, frame, *args, **kwargs)

    monkeypatch.setattr(datastream, "stage_data", recording_stage)
    target = open_store(str(tmp_path / "dst"), create=True)
    assert receive_frames(target, frames) == 5
    assert staged_on == {**{small - 1 + 1000 * i: "hangar-receive-small" for i in range(4)},
                         small + 9000: "hangar-receive"}
    assert target.missing(digests) == []  # type: ignore[arg-type]
