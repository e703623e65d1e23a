"""The receiving end of data frames: staged on workers, kept in order, nothing kept after a refusal."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.errors import ConnectionClosed, IntegrityError
from hangar_git.storage import Digest, digest_of, ndarray_meta
from hangar_git.transport.framing import Frame
from hangar_git.transport.service import RECEIVE_AHEAD, receive_frames
from hangar_git.transport.wire import encode_data

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
