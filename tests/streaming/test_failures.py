"""What a streaming checkout does when the remote fails it: a dropped connection is opened
again once, transparently; a remote that stops answering, damaged bytes and samples the
remote lacks are clear errors, and what was already returned stays valid."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from hangar_git import IntegrityError, MissingDataError, RemoteError, make_numpy_dataset

from .conftest import ROWS, Streamed, server_store_drop


def kill_server(co: object) -> None:
    """Kill the `git-hangar serve` process behind a streaming checkout's open session."""
    session = co.stream_store.source._session  # type: ignore[attr-defined]
    [proc] = [c.cell_contents for c in session._closer.__closure__
              if isinstance(c.cell_contents, subprocess.Popen)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def epoch(co: object, cache_bytes_hint: int = 0) -> Callable[[], object]:
    return iter(make_numpy_dataset([co["rows"]], batch_size=100, shuffle=True))  # type: ignore[index,return-value]


def check(batch: tuple, rows: np.ndarray = ROWS) -> None:
    wanted = {r.tobytes() for r in rows}
    assert all(r.tobytes() in wanted for r in batch[0])


def test_a_killed_connection_is_opened_again_once_transparently(streamed: Callable[[str], Streamed]) -> None:
    world = streamed("path")
    with world.checkout(cache_bytes=40_000) as co:  # little is fetched ahead of the reader
        batches = epoch(co)
        first = next(batches)
        kill_server(co)
        rest = list(batches)
        assert co.stream_store.source.connections == 2
    seen = [r.tobytes() for b in [first, *rest] for r in b[0]]
    assert sorted(seen) == sorted(r.tobytes() for r in ROWS)


def test_a_remote_that_stops_answering_mid_epoch_is_a_remote_error_naming_it(
        streamed: Callable[[str], Streamed], tmp_path: Path) -> None:
    world = streamed("path")
    with world.checkout(cache_bytes=40_000) as co:
        batches = epoch(co)
        first = next(batches)
        kept = first[0].copy()
        moved = tmp_path / "gone.git"
        world.server.path.rename(moved)
        kill_server(co)
        with pytest.raises(RemoteError, match="'origin'.*stopped answering"):
            for _ in batches:
                pass
        assert np.array_equal(first[0], kept)  # what was returned stays valid
        check(first)
        moved.rename(world.server.path)


def test_a_damaged_object_is_an_integrity_error_and_never_returned(streamed: Callable[[str], Streamed]) -> None:
    world = streamed("hangarssh")
    [big] = [p for p in (world.server.path / "hangar" / "store" / "large").rglob("*") if p.is_file()]
    data = bytearray(big.read_bytes())
    data[-100] ^= 0x40  # one bit of the sample's bytes, past the file's header
    big.write_bytes(bytes(data))
    with world.checkout() as co:
        assert np.array_equal(co["rows", 3], ROWS[3])
        with pytest.raises(IntegrityError, match="origin"):
            co["blobs", 0]
        with pytest.raises(IntegrityError):
            co["blobs"].get_many([0])
        assert 0 not in dict.fromkeys(co.stream_store.memory._items)  # nothing of it cached
        assert np.array_equal(co["rows", 2000], ROWS[2000])  # the checkout goes on (a new session)


def test_a_sample_the_remote_lacks_is_missing_data_naming_remote_column_and_key(
        streamed: Callable[[str], Streamed]) -> None:
    world = streamed("path")
    co = world.plain()
    lost = co["rows"]._digest("i5")
    server_store_drop(world.server, {lost})
    with world.checkout() as co:
        assert np.array_equal(co["rows", 4], ROWS[4])
        for read in (lambda: co["rows", 5], lambda: co["rows", [4, 5, 6]], lambda: co[[("rows", 5)]],
                     lambda: dict(co["rows"].items()), lambda: co["rows"].get(5)):
            with pytest.raises(MissingDataError) as info:
                read()
            message = str(info.value)
            assert "'origin'" in message and "'rows'" in message and "5" in message
            assert info.value.column == "rows" and info.value.key == 5
        assert np.array_equal(co["rows", 6], ROWS[6])


def test_a_remote_unreachable_from_the_start_says_it_cannot_be_reached(
        streamed: Callable[[str], Streamed], tmp_path: Path) -> None:
    """Regression (issue 11): it said to run `git hangar fetch-data origin`, not naming the
    checkout's branch."""
    world = streamed("path")
    moved = tmp_path / "gone.git"
    world.server.path.rename(moved)
    try:
        with world.checkout() as co:
            with pytest.raises(RemoteError) as raised:
                co["rows"][0]
            message = str(raised.value)
            assert "'origin' cannot be reached" in message, message
            assert "stopped answering" not in message
            assert "`git hangar remote -v`" in message and "`git hangar fetch-data origin master`" in message
    finally:
        moved.rename(world.server.path)
