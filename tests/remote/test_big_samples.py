"""Samples too big for one frame cross the wire in parts, both ways, over every transport.

A 40 MiB volume travels as three ``part`` frames; with ``--slow``, a 300 MiB one (over the
256 MiB a single frame can carry) goes through our own SSH server. A receiver that predates
parts gets a clear refusal instead of an oversized frame.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from hangar_git import HangarError, Repository
from hangar_git.transport import datastream, service
from hangar_git.transport.connect import open_local_session_in_process
from hangar_git.transport.push import push as push_branch
from hangar_git.transport.wire import PART_BYTES

from .conftest import KINDS, ServerRepo, reader

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # partial clones warn on checkout


def volume(mib: int, seed: int) -> np.ndarray:
    """A float32 volume of ``mib`` MiB (planes of 1024 x 256)."""
    return np.random.default_rng(seed).random((mib, 1024, 256), dtype=np.float32)


def round_trip(server: ServerRepo, make_repo: Callable[[str], Repository], tmp_path: Path,
               samples: dict[str, np.ndarray]) -> Repository:
    """Push ``samples`` (column ``vol``) to ``server``, clone it, fetch-data; returns the clone."""
    client = make_repo("client")
    with client.checkout(write=True) as co:
        biggest = max(samples.values(), key=lambda a: a.nbytes)
        with co.add_ndarray_column("vol", shape=biggest.shape, dtype=biggest.dtype, variable_shape=True) as col:
            col.update(samples)
        co.commit("volumes")
    client.remote.add("origin", server.address)
    result = client.remote.push("origin", "master")
    assert result is not None
    clone = Repository(tmp_path / "clone", exists=False)
    clone.clone("c", "c@x", server.address)
    clone.remote.quiet = True
    clone.remote.fetch_data("origin", "master")
    return clone


@pytest.mark.parametrize("kind", KINDS)
def test_a_sample_bigger_than_a_part_goes_both_ways(kind: str, server_address: Callable[[str], ServerRepo],
                                                    make_repo: Callable[[str], Repository],
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    samples = {"big": volume(40, 1), "small": volume(1, 2)}
    assert samples["big"].nbytes > 2 * PART_BYTES
    sent_in_parts: list[str] = []
    real = datastream._send_in_parts

    def spy(store: Any, stream: Any, digest: str, *args: Any) -> int:
        sent_in_parts.append(digest)
        return real(store, stream, digest, *args)

    monkeypatch.setattr(datastream, "_send_in_parts", spy)
    server = server_address(kind)
    clone = round_trip(server, make_repo, tmp_path, samples)
    # the push (and the fetch, where the server runs in this process) sent the big one in parts, the small whole
    assert sent_in_parts and len(set(sent_in_parts)) == 1
    with reader(clone) as co:
        assert not co["vol"].contains_remote_references
        for key, want in samples.items():
            assert np.array_equal(co["vol", key], want)
    assert clone.fsck().ok
    assert Repository(server.path).fsck().ok
    assert not [p for p in (Path(server.path) / "hangar/store/tmp").glob("*") if p.is_file()]


@pytest.mark.slow
def test_a_sample_over_the_frame_limit_goes_both_ways(server_address: Callable[[str], ServerRepo],
                                                      make_repo: Callable[[str], Repository],
                                                      tmp_path: Path) -> None:
    big = volume(300, 3)
    assert big.nbytes > datastream.MAX_WHOLE_OBJECT
    clone = round_trip(server_address("hangarssh"), make_repo, tmp_path, {"huge": big})
    with reader(clone) as co:
        assert np.array_equal(co["vol", "huge"], big)


class ServiceWithoutParts(service.RepositoryService):
    """A server as it was before parts: it does not say it takes them."""

    def hello_info(self) -> dict[str, Any]:
        return {k: v for k, v in super().hello_info().items() if k != "data_parts"}


def test_a_receiver_without_parts_is_refused_clearly(server_address: Callable[[str], ServerRepo],
                                                     make_repo: Callable[[str], Repository],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datastream, "MAX_WHOLE_OBJECT", 1 << 20)  # as if 2 MiB were over its frame limit
    server = server_address("path")
    client = make_repo("client")
    with client.checkout(write=True) as co:
        with co.add_ndarray_column("vol", prototype=volume(2, 4)) as col:
            col["v"] = volume(2, 4)
        co.commit("one volume")
    with open_local_session_in_process(ServiceWithoutParts(str(server.path))) as session:
        with pytest.raises(HangarError, match="upgrade it there"):
            push_branch(client.ctx.git, client.ctx.store, session, "origin", "master", quiet=True)
    assert server.heads() == {}
