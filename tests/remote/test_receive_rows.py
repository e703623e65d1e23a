"""Frames of many small rows at the receiving end: every row verified against its digest
(hashed in one loop, compared at once), frames at the item limit kept whole, a frame with one
damaged row kept not at all."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.errors import IntegrityError, ProtocolError
from hangar_git.storage import ObjectBatch, digest_of, ndarray_meta, raw_to_digest, verify_batch
from hangar_git.storage.objects import ROW_LINE_MAX, digest_rows
from hangar_git.storage.packindex import PackIndex, checksum_ok, digest_order, found_among
from hangar_git.transport.datastream import receive_frames
from hangar_git.transport.framing import Frame
from hangar_git.transport.service import VerifiedData
from hangar_git.transport.wire import MAX_DATA_ITEMS, encode_data_table

WIDTH = 117
META = ndarray_meta(np.dtype(np.uint8), (WIDTH,))


def rows_of(count: int, seed: int, width: int = WIDTH) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(count, width), dtype=np.uint8)


def rows_frame(rows: np.ndarray, raws: np.ndarray) -> Frame:
    """A data frame as a push sends rows: one meta, one size, raw digests then the rows."""
    n = len(rows)
    meta = ndarray_meta(np.dtype(np.uint8), (rows.shape[1],))
    header, parts = encode_data_table(raws, [meta], np.zeros(n, np.int64), np.full(n, rows.shape[1], np.int64),
                                      rows.data.cast("B"))
    return Frame("data", header, b"".join(bytes(p) for p in parts))


def held(repo: Repository, raws: np.ndarray) -> np.ndarray:
    """Per raw digest: whether the repository's store holds it (read afresh)."""
    repo.ctx.reset_store()
    return ~repo.ctx.store.absent(raws)


@pytest.mark.parametrize("count", [MAX_DATA_ITEMS - 1, MAX_DATA_ITEMS])
def test_a_frame_of_rows_up_to_the_item_limit_is_kept_whole(count: int,
                                                            make_repo: Callable[[str], Repository]) -> None:
    repo = make_repo("r")
    rows = rows_of(count, count)
    raws = digest_rows(META, rows)
    assert receive_frames(repo.ctx.store, [rows_frame(rows, raws)]) == count
    assert held(repo, raws).all()
    assert bytes(repo.ctx.store.read(raw_to_digest(raws[-1]))[1]) == rows[-1].tobytes()


def test_a_frame_of_rows_past_the_item_limit_is_refused_and_nothing_kept(
        make_repo: Callable[[str], Repository]) -> None:
    repo = make_repo("r")
    rows = rows_of(MAX_DATA_ITEMS + 1, 1)
    raws = digest_rows(META, rows)
    with pytest.raises(ProtocolError, match="count"):
        receive_frames(repo.ctx.store, [rows_frame(rows, raws)])
    assert not held(repo, raws).any()


@pytest.mark.parametrize("bad_row", [0, MAX_DATA_ITEMS // 2, MAX_DATA_ITEMS - 1])
def test_one_damaged_row_in_a_full_frame_refuses_all_of_that_frame(
        bad_row: int, make_repo: Callable[[str], Repository]) -> None:
    repo = make_repo("r")
    first, second = rows_of(1000, 2), rows_of(MAX_DATA_ITEMS, 3)
    first_raws, second_raws = digest_rows(META, first), digest_rows(META, second)
    damaged = second.copy()
    damaged[bad_row, WIDTH // 2] ^= 1
    stored: list[Frame] = []
    frames = [rows_frame(first, first_raws), rows_frame(damaged, second_raws)]
    with pytest.raises(IntegrityError, match="sending repository") as err:
        receive_frames(repo.ctx.store, frames, stored.append)
    (index,) = (Path(repo.ctx.git.git_dir) / "hangar/store/index").glob("*.idx")  # the first frame's
    blob = index.read_bytes()  # written in pieces, checksummed whole
    assert checksum_ok(blob)
    assert sorted(PackIndex.decode(index.stem, blob).digests.tolist()) == sorted(first_raws.tolist())
    assert err.value.expected == raw_to_digest(second_raws[bad_row])
    assert stored == frames[:1]
    assert held(repo, first_raws).all()
    assert not held(repo, second_raws).any()


def batch_of(rows: np.ndarray, raws: np.ndarray, metas: list[str], meta_index: np.ndarray) -> ObjectBatch:
    n, width = rows.shape
    return ObjectBatch(raws, metas, meta_index, np.full(n, width, np.int64), rows.reshape(-1).data)


@pytest.mark.parametrize("width", [0, 1, WIDTH, ROW_LINE_MAX - 1, ROW_LINE_MAX, ROW_LINE_MAX + 1])
def test_rows_of_one_size_verify_as_each_alone_would(width: int) -> None:
    rows = rows_of(50, width, width)
    meta = ndarray_meta(np.dtype(np.uint8), (width,))
    raws = digest_rows(meta, rows)
    assert [raw_to_digest(r) for r in raws] == [digest_of(meta, r.tobytes()) for r in rows]
    verify_batch(batch_of(rows, raws, [meta], np.zeros(50, np.int64)))
    wrong = raws.copy()
    wrong[7] = bytes.fromhex(digest_of(meta, b"\xff" * (width + 1)))  # the digest of other bytes
    with pytest.raises(IntegrityError) as err:
        verify_batch(batch_of(rows, wrong, [meta], np.zeros(50, np.int64)))
    assert err.value.expected == raw_to_digest(wrong[7])

def test_rows_of_one_size_under_two_metas_are_each_checked_under_their_own() -> None:
    rows = rows_of(10, 4)
    other = ndarray_meta(np.dtype(np.int8), (WIDTH,))
    index = np.array([0, 1] * 5, dtype=np.int64)
    raws = np.array([bytes.fromhex(digest_of([META, other][m], r.tobytes())) for m, r in zip(index, rows)],
                    dtype="S32")
    verify_batch(batch_of(rows, raws, [META, other], index))
    with pytest.raises(IntegrityError) as err:
        verify_batch(batch_of(rows, raws, [META, other], 1 - index))
    assert err.value.expected == raw_to_digest(raws[0])


def test_a_frame_of_digests_sorts_as_a_stable_sort_would() -> None:
    raws = digest_rows(META, rows_of(MAX_DATA_ITEMS, 5))
    assert digest_order(raws).tolist() == np.argsort(raws, kind="stable").tolist()
    tied = np.concatenate([raws, raws[::-1]])  # every digest twice: the stable order of the ties
    assert digest_order(tied).tolist() == np.argsort(tied, kind="stable").tolist()


def _raws(*digests: bytes) -> np.ndarray:
    return np.array(list(digests), dtype="S32")


def test_digests_found_among_others_by_prefix_then_whole() -> None:
    a, b, c = (bytes([i]) * 32 for i in (1, 2, 3))
    twin = b[:8] + bytes(24)  # shares b's 8-byte prefix: found only where the whole digest is
    assert found_among(_raws(a, b, c), _raws(c, a)).tolist() == [True, False, True]
    assert found_among(_raws(twin, b), _raws(b)).tolist() == [False, True]
    assert found_among(_raws(a), _raws()).tolist() == [False]
    assert found_among(_raws(), _raws(a)).tolist() == []


def test_a_ref_update_takes_as_present_only_what_its_session_verified() -> None:
    """VerifiedData: the digests of kept data frames, in order; all of them when the same
    digests come in the same order, else those not among them (looked up in the store)."""
    rows = np.random.default_rng(3).integers(0, 256, size=(6, 117), dtype=np.uint8)
    meta = ndarray_meta(rows.dtype, rows.shape[1:])
    raws = digest_rows(meta, rows)
    verified = VerifiedData()
    for lo, hi in ((0, 3), (3, 5)):
        header, payload = encode_data_table(raws[lo:hi], [meta], np.zeros(hi - lo, np.int64), np.full(hi - lo, 117),
                                            rows[lo:hi].tobytes())
        verified.add(Frame("data", header, b"".join(payload)))
    verified.add(Frame("part", {"count": 1}, b"x" * 32))  # parts are not noted: looked up
    assert verified.count == 5
    assert len(verified.not_among(raws[:5])) == 0
    assert verified.not_among(raws).tolist() == raws[5:].tolist()
    assert verified.not_among(raws[::-1]).tolist() == raws[5:].tolist()
    verified.clear()
    assert verified.not_among(raws[:5]).tolist() == raws[:5].tolist()
