"""Every way of reading works on a streaming checkout; the store is untouched unless keep=True."""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from click.testing import CliRunner

from hangar_git import (InvalidArgumentError, MissingDataError, PermissionDeniedError, RemoteNotFoundError,
                        make_numpy_dataset)
from hangar_git.cli.main import cli

from .conftest import BLOB, ROWS, TEXTS, Streamed, store_files

KINDS = ("path", "openssh", "hangarssh")


def all_rows(co: object) -> bool:
    """Every row read back through iteration (items and values) equals what was committed."""
    col = co["rows"]  # type: ignore[index]
    got = dict(col.items())
    values = {v.tobytes() for v in col.values()}
    return (sorted(got) == list(range(len(ROWS))) and all(np.array_equal(got[k], ROWS[k]) for k in got)
            and values == {r.tobytes() for r in ROWS})


@pytest.mark.parametrize("kind", KINDS)
def test_every_reading_api_reads_the_remote_and_writes_nothing(kind: str,
                                                               streamed: Callable[[str], Streamed]) -> None:
    world = streamed(kind)
    before = store_files(world.clone)
    with pytest.raises(MissingDataError):  # the clone itself has no data
        world.plain()["rows", 5]
    with world.checkout() as co:
        assert np.array_equal(co["rows", 17], ROWS[17])
        assert co["texts", 3] == TEXTS[3]
        assert co["blobs", 0] == BLOB
        many = co["rows", [4, 2999, 4]]
        assert all(np.array_equal(a, ROWS[k]) for a, k in zip(many, [4, 2999, 4]))
        assert co[[("rows", 9), ("texts", 8)]][1] == TEXTS[8]
        assert co.get(("rows", 10_000), "absent") == "absent"
        assert co["rows"].get_many([1, 2])[1].tolist() == ROWS[2].tolist()
        assert all_rows(co)
        assert dict(co["texts"].items()) == dict(enumerate(TEXTS))
        assert sorted(co["rows"].keys()) == list(range(len(ROWS)))
        assert co["rows"].contains_remote_references and not co["rows"].has_unreadable_samples
        seen = 0
        for batch in make_numpy_dataset([co["rows"], co["texts"]], batch_size=64, shuffle=True):
            for row, text in zip(*batch):
                assert TEXTS[int(text.split()[-1])] == text
                seen += 1
        assert seen == len(TEXTS)
        source = co.stream_store.source
        assert source.requests < 40  # batched: never one request per sample
        assert getattr(source, "connections", 1) == 1  # one session for the checkout's life
    assert store_files(world.clone) == before  # keep=False: not one file written or changed
    with pytest.raises(MissingDataError):
        world.plain()["rows", 5]


def test_keep_true_keeps_the_objects_in_few_flushes_and_fsck_is_clean(streamed: Callable[[str], Streamed]) -> None:
    world = streamed("path")
    with world.checkout(keep=True) as co:
        assert all_rows(co)
        assert sorted(co["texts"].values()) == sorted(TEXTS)
        assert co["blobs", 0] == BLOB
        store = co.stream_store
    flushes = store.flushes
    assert 1 <= flushes <= 3  # kept in large flushes, not one per sample
    packs = [p for p in store_files(world.clone) if p.startswith("data/")]
    assert len(packs) <= 3
    co = world.plain()
    assert not co["rows"].contains_remote_references
    assert all_rows(co)
    assert co["blobs", 0] == BLOB
    report = world.clone.fsck()
    assert report, report


def test_memory_cache_holds_its_budget_under_random_access(streamed: Callable[[str], Streamed]) -> None:
    world = streamed("hangarssh")
    budget = 64 << 10  # ~350 KB of rows do not fit
    with world.checkout(cache_bytes=budget) as co:
        cache = co.stream_store.memory
        rng = random.Random(3)
        for _ in range(6):
            keys = rng.sample(range(len(ROWS)), 400)
            for key, got in zip(keys, co["rows", keys]):
                assert np.array_equal(got, ROWS[key])
            assert cache.nbytes <= budget
        for key in rng.sample(range(len(ROWS)), 50):
            assert np.array_equal(co["rows", key], ROWS[key])
            assert cache.nbytes <= budget
        assert cache.evicted > 0
        assert co["blobs", 0] == BLOB  # bigger than the whole cache: returned, not kept
        assert cache.nbytes <= budget


def test_disk_cache_serves_a_second_checkout_and_holds_its_budget(streamed: Callable[[str], Streamed],
                                                                   tmp_path: Path) -> None:
    world = streamed("path")
    cache_dir = tmp_path / "stream-cache"
    with world.checkout(cache_dir=str(cache_dir), cache_dir_bytes=8 << 20) as co:
        assert all_rows(co)
    with world.checkout(cache_dir=str(cache_dir), cache_dir_bytes=8 << 20) as co:
        assert all_rows(co)
        assert co.stream_store.source.requests == 0  # every row from the directory
    pack = next(cache_dir.glob("*.pack"))
    raw = pack.read_bytes()
    pack.write_bytes(raw[:-1] + bytes([raw[-1] ^ 0xFF]))  # the last object in it damaged: a miss
    small = tmp_path / "small-cache"
    with world.checkout(cache_dir=str(small), cache_dir_bytes=100_000) as co:
        assert all_rows(co)
        assert co["blobs", 0] == BLOB  # bigger than the directory's budget: not written there
    assert 0 < sum(p.stat().st_size for p in small.rglob("*") if p.is_file()) <= 100_000
    with world.checkout(cache_dir=str(cache_dir), cache_dir_bytes=8 << 20) as co:
        assert all_rows(co)
        assert co.stream_store.source.requests == 1  # the damaged one, fetched again


def test_bad_arguments_say_what_to_do(streamed: Callable[[str], Streamed]) -> None:
    world = streamed("path")
    with pytest.raises(InvalidArgumentError, match="read-only"):
        world.clone.checkout(write=True, branch="master", stream_from="origin")
    with pytest.raises(InvalidArgumentError, match="cache_bytes"):
        world.checkout(cache_bytes=-1)
    with pytest.raises(RemoteNotFoundError):
        world.clone.checkout(branch="master", stream_from="nowhere")
    with world.checkout() as co:
        with pytest.raises((PermissionDeniedError, TypeError)):
            co["rows"][0] = ROWS[0]


def test_cli_export_streams_from_the_remote(streamed: Callable[[str], Streamed], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    world = streamed("path")
    before = store_files(world.clone)
    monkeypatch.chdir(world.clone.path)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["export", "rows", str(out), "--format", "npz", "--stream-from", "origin"])
    assert result.exit_code == 0, result.output
    with np.load(out / "rows.npz") as npz:
        assert np.array_equal(npz["7"], ROWS[7]) and len(npz.files) == len(ROWS)
    result = CliRunner().invoke(cli, ["export", "rows", str(out / "npy"), "--stream-from", "origin"])
    assert result.exit_code == 0, result.output
    assert np.array_equal(np.load(out / "npy" / "2999.npy"), ROWS[2999])
    assert store_files(world.clone) == before
    result = CliRunner().invoke(cli, ["export", "rows", str(tmp_path / "no"), "--format", "npz"])
    assert result.exit_code != 0 and "fetch-data" in result.output


def test_cli_show_streams_one_sample_from_the_remote(streamed: Callable[[str], Streamed], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    world = streamed("path")
    before = store_files(world.clone)
    monkeypatch.chdir(world.clone.path)
    result = CliRunner().invoke(cli, ["show", "master", "texts", "17", "--stream-from", "origin"])
    assert result.exit_code == 0, result.output
    assert result.output == TEXTS[17] + "\n"
    out = tmp_path / "row.npy"
    result = CliRunner().invoke(cli, ["show", "master", "rows", "2999", "-o", str(out), "--stream-from", "origin"])
    assert result.exit_code == 0, result.output
    assert np.array_equal(np.load(out), ROWS[2999])
    assert store_files(world.clone) == before
    result = CliRunner().invoke(cli, ["show", "master", "texts", "17"])  # without it: not here
    assert result.exit_code != 0 and "fetch-data" in result.output
    result = CliRunner().invoke(cli, ["show", "master", "texts", "17", "--stream-from", "nowhere"])
    assert result.exit_code != 0 and "nowhere" in result.output


def test_a_streaming_checkout_reports_its_columns_as_holding_remote_references(
        streamed: Callable[[str], Streamed]) -> None:
    world = streamed("path")
    with world.checkout() as co:
        assert co.columns.contains_remote_references == {"blobs": True, "rows": True, "texts": True}
        assert co["rows"].contains_remote_references
        assert len(co["texts"].remote_reference_keys) == len(TEXTS)
        assert "      - rows / True\n" in repr(co.columns)
        assert "Partial Remote References : True" in repr(co["rows"])
        batch = next(iter(make_numpy_dataset([co["rows"], co["texts"]], batch_size=10)))  # still all readable
        assert len(batch[0]) == 10
    with world.checkout(keep=True) as co:
        assert sorted(co["texts"].values()) == sorted(TEXTS)
    with world.checkout() as co:  # what keep=True brought here is local now
        assert not co["texts"].contains_remote_references
        assert co["rows"].contains_remote_references


@pytest.mark.parametrize("rows_below", [None, 0])
def test_cached_rows_are_read_from_the_caches_without_asking_the_local_store(
        rows_below: object, streamed: Callable[[str], Streamed], monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows held in the directory cache come from there (in batches when small: PackCache.gather_rows;
    else object by object), never after a lookup in the local store that cannot hold them."""
    from hangar_git.api import streamrows
    if rows_below is not None:  # as for objects over 64 KiB
        monkeypatch.setattr(streamrows, "ROWS_BELOW", rows_below)
    world = streamed("path")
    keys = list(range(0, 3000, 7))
    with world.checkout() as co:
        assert all(np.array_equal(v, ROWS[k]) for k, v in zip(keys, co["rows", keys]))  # into the cache
    with world.checkout() as co:
        store = co.stream_store
        asked: list[int] = []
        gather = store.local.gather
        monkeypatch.setattr(store.local, "gather", lambda raws, size: (asked.append(len(raws)), gather(raws, size))[1])
        requests = store.source.requests
        assert all(np.array_equal(v, ROWS[k]) for k, v in zip(keys, co["rows", keys]))
        assert asked == [] and store.source.requests == requests


@pytest.mark.parametrize("kind", ["path", "hangarssh"])
def test_a_kept_checkout_opens_no_session_while_its_samples_are_local(kind: str,
                                                                      streamed: Callable[[str], Streamed]) -> None:
    """Regression: every streaming checkout opened a session as it was made. After a keep=True
    epoch had brought every sample here, the next keep=True epoch through a 20 ms link took
    0.65 s against 0.23 s for local reads: the session, opened for nothing, cost 0.4 s."""
    world = streamed(kind)
    with world.checkout(keep=True) as co:
        assert all_rows(co)  # the first epoch fetches and keeps them
    with world.checkout(keep=True) as co:
        assert all_rows(co)
        assert sorted(co["texts"].values()) == sorted(TEXTS)  # not kept yet: read through the remote
        assert co.stream_store.source.connected
    with world.checkout(keep=True) as co:  # everything is here now
        assert all_rows(co) and sorted(co["texts"].values()) == sorted(TEXTS)
        assert not co.stream_store.source.connected and not co.stream_store.source.connecting()
    with world.checkout() as co:  # keep=False streams: it connects as it is made
        deadline = time.monotonic() + 60
        while co.stream_store.source.connecting() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert co.stream_store.source.connected


def test_kept_rows_are_gathered_by_the_local_store_in_place(streamed: Callable[[str], Streamed],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: an epoch over rows a keep=True epoch had stored read images at 0.31-0.44x of
    local reads: with nothing in its memory cache the streaming store still built its own block
    and copied the local store's rows into it (twice over 52 MB of images: a fancy-index gather,
    then a scatter, each into fresh pages). Now the local store's block is the one returned."""
    from hangar_git.api.dataset import gathered
    world = streamed("path")
    with world.checkout(keep=True) as co:
        assert all_rows(co)  # the first epoch fetches and keeps them
    with world.checkout(keep=True) as co:
        store = co.stream_store
        served: list[tuple[np.ndarray, np.ndarray]] = []
        gather = store.local.gather
        monkeypatch.setattr(store.local, "gather", lambda raws, size: served.append(gather(raws, size)) or served[-1])
        block = gathered(co["rows"], list(range(len(ROWS))))
        assert block is not None and np.array_equal(block, ROWS)
        assert len(served) == 1 and len(served[0][0]) == len(ROWS)  # one local gather of them all
        assert np.shares_memory(block, served[0][0])  # ... returned as it is, not copied
        assert store.source.requests == 0 and len(store.memory) == 0
