"""The receiving end of data and part frames: staged on workers, kept in order, nothing kept
after a refusal, objects in parts kept only once whole and verified."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.errors import ConnectionClosed, IntegrityError, ProtocolError
from hangar_git.storage import Digest, digest_of, ndarray_meta
from hangar_git.transport.framing import Frame
from hangar_git.transport.datastream import RECEIVE_AHEAD, receive_frames
from hangar_git.transport.wire import encode_data, encode_part

FRAMES = RECEIVE_AHEAD + 4


def data_frame(seed: int, *, damaged: bool = False) -> tuple[Frame, list[Digest]]:
    """A frame of one large (2 MiB) and three small objects; ``damaged`` flips a byte of the large one."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(1 << 18)] + [rng.standard_normal(8) for _ in range(3)]
    metas = [ndarray_meta(a.dtype, a.shape) for a in arrays]
    digests = [digest_of(m, a.tobytes()) for m, a in zip(metas, arrays)]
    body = bytearray(b"".join(a.tobytes() for a in arrays))
    if damaged:
        body[100] ^= 1
    header, payload = encode_data(digests, metas, [a.nbytes for a in arrays], bytes(body))
    return Frame("data", header, payload), digests


def held(repo: Repository) -> set[str]:
    repo.ctx.reset_store()
    return {o.digest for o in repo.ctx.store.iter_objects()}


def temp_files(repo: Repository) -> list[Path]:
    return [p for p in (Path(repo.ctx.git.git_dir) / "hangar/store/tmp").glob("*") if p.is_file()]


UNCACHED = pytest.mark.parametrize("uncached", [False, True], ids=["cached", "uncached"])


@UNCACHED
def test_every_frame_is_kept_in_order(uncached: bool, make_repo: Callable[[str], Repository]) -> None:
    repo = make_repo("r")
    frames = [data_frame(i) for i in range(FRAMES)]
    stored: list[Frame] = []
    n = receive_frames(repo.ctx.store, (f for f, _ in frames), stored.append, uncached=uncached)
    assert n == 4 * FRAMES
    assert stored == [f for f, _ in frames]
    assert held(repo) == {d for _, ds in frames for d in ds}
    assert temp_files(repo) == []


@UNCACHED
@pytest.mark.parametrize("bad", [0, 2, FRAMES - 1])
def test_a_refused_frame_keeps_nothing_of_itself_or_what_follows(
        bad: int, uncached: bool, make_repo: Callable[[str], Repository]) -> None:
    repo = make_repo("r")
    frames = [data_frame(i, damaged=i == bad) for i in range(FRAMES)]
    stored: list[Frame] = []
    with pytest.raises(IntegrityError, match="sending repository"):
        receive_frames(repo.ctx.store, (f for f, _ in frames), stored.append, uncached=uncached)
    assert stored == [f for f, _ in frames[:bad]]
    assert held(repo) == {d for _, ds in frames[:bad] for d in ds}
    assert temp_files(repo) == []


@UNCACHED
def test_a_broken_stream_keeps_every_frame_that_arrived(uncached: bool,
                                                        make_repo: Callable[[str], Repository]) -> None:
    repo = make_repo("r")
    frames = [data_frame(i) for i in range(FRAMES)]

    def breaking() -> Iterator[Frame]:
        for f, _ in frames[:3]:
            yield f
        raise ConnectionClosed("the peer closed the connection")

    with pytest.raises(ConnectionClosed):
        receive_frames(repo.ctx.store, breaking(), uncached=uncached)
    assert held(repo) == {d for _, ds in frames[:3] for d in ds}  # a retry sends only the rest
    assert temp_files(repo) == []


# -- objects too big for one frame arrive as ``part`` frames ------------------------------------
MIB = 1 << 20
PART = MIB


def part_frames(seed: int, *, blocks: float = 3.5, damaged_at: int = -1) -> tuple[list[Frame], Digest]:
    """An object of ``blocks`` MiB as one-block ``part`` frames; ``damaged_at`` flips a byte of that part."""
    data = np.random.default_rng(seed).integers(0, 256, int(blocks * MIB), dtype=np.uint8).tobytes()
    meta = ndarray_meta(np.dtype(np.uint8), (len(data),))
    digest = digest_of(meta, data)
    frames = []
    for k, offset in enumerate(range(0, len(data), PART)):
        piece = bytearray(data[offset:offset + PART])
        if k == damaged_at:
            piece[7] ^= 1
        frames.append(Frame("part", encode_part(digest, meta, len(data), offset), bytes(piece)))
    return frames, digest


@UNCACHED
def test_an_object_in_parts_is_kept_once_whole(uncached: bool, make_repo: Callable[[str], Repository]) -> None:
    repo = make_repo("r")
    before, before_digests = data_frame(1)
    parts, digest = part_frames(2)
    after, after_digests = data_frame(3)
    stored: list[Frame] = []
    n = receive_frames(repo.ctx.store, [before, *parts, after], stored.append, uncached=uncached)
    assert n == 4 + 1 + 4
    assert stored == [before, *parts, after]
    assert held(repo) == {*before_digests, digest, *after_digests}
    meta, data = repo.ctx.store.read(digest)  # re-hashed on read
    assert len(data) == int(3.5 * MIB)
    assert temp_files(repo) == []


@pytest.mark.parametrize("damaged_at", [0, 3])
def test_an_object_whose_parts_do_not_match_its_digest_is_refused(
        damaged_at: int, make_repo: Callable[[str], Repository]) -> None:
    repo = make_repo("r")
    before, before_digests = data_frame(1)
    parts, digest = part_frames(2, damaged_at=damaged_at)
    after, _ = data_frame(3)
    with pytest.raises(IntegrityError, match="sending repository") as err:
        receive_frames(repo.ctx.store, [before, *parts, after])
    assert err.value.expected == digest
    assert held(repo) == set(before_digests)
    assert temp_files(repo) == []


def test_an_object_cut_off_in_its_parts_is_dropped(make_repo: Callable[[str], Repository]) -> None:
    repo = make_repo("r")
    before, before_digests = data_frame(1)
    parts, digest = part_frames(2)

    def breaking() -> Iterator[Frame]:
        yield before
        yield from parts[:2]
        raise ConnectionClosed("the peer closed the connection")

    with pytest.raises(ConnectionClosed):
        receive_frames(repo.ctx.store, breaking())
    assert held(repo) == set(before_digests)  # the whole frame before it stays
    assert temp_files(repo) == []


@pytest.mark.parametrize("stream", ["skips a part", "ends early", "data in between", "starts midway",
                                    "two objects interleaved"])
def test_parts_out_of_order_are_a_protocol_error(stream: str, make_repo: Callable[[str], Repository]) -> None:
    repo = make_repo("r")
    parts, _ = part_frames(2)
    other, _ = part_frames(5)
    data, _ = data_frame(1)
    frames = {"skips a part": [parts[0], parts[2], parts[3]],
              "ends early": parts[:3],
              "data in between": [parts[0], data, *parts[1:]],
              "starts midway": parts[1:],
              "two objects interleaved": [parts[0], other[0], *parts[1:]]}[stream]
    with pytest.raises(ProtocolError):
        receive_frames(repo.ctx.store, frames)
    assert held(repo) == set()
    assert temp_files(repo) == []
