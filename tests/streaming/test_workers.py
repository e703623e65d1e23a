"""Real DataLoader workers over a streaming checkout: each opens its own connection, lazily (the
sampler's process has one too, to fetch each epoch's first samples ahead); the dataset pickles
under every start method; the sampler's order is read ahead; new workers share the directory cache."""
from __future__ import annotations

import pickle
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

from hangar_git import make_torch_dataset  # noqa: E402
from hangar_git.api.column_reads import recorded_digest, session_of  # noqa: E402
from hangar_git.api.prefetch import epoch_order  # noqa: E402
from hangar_git.api.streamplan import LEAD_SAMPLES  # noqa: E402
from hangar_git.storage.packcache import PackCache  # noqa: E402

from .conftest import ROWS, TEXTS, Streamed  # noqa: E402

TIMEOUT = 120


def rows_of(loader: DataLoader) -> list[bytes]:
    return [r.tobytes() for batch in loader for r in np.asarray(batch[0])]


@pytest.mark.parametrize("kind,start", [
    ("hangarssh", "fork"), ("openssh", "fork"),
    pytest.param("openssh", "spawn", marks=pytest.mark.slow), pytest.param("path", "forkserver", marks=pytest.mark.slow)])
def test_dataloader_workers_each_stream_through_their_own_connection(
        kind: str, start: str, streamed: Callable[[str], Streamed]) -> None:
    world = streamed(kind)
    with world.checkout() as co:
        ds = make_torch_dataset([co["rows"]])
        assert pickle.loads(pickle.dumps(ds)).group.keys == ds.group.keys
        sampler = ds.sampler(seed=11)
        loader = DataLoader(ds, batch_size=128, sampler=sampler, num_workers=2, multiprocessing_context=start,
                            timeout=TIMEOUT)
        for epoch in range(2):
            got = rows_of(loader)
            order = epoch_order(len(ROWS), 11, epoch)
            assert got == [ROWS[i].tobytes() for i in order]  # the sampler's order, every row
        assert co.stream_store.source.connections == 1  # the sampler's process: one, to lead each epoch
        lead = [recorded_digest(co["rows"], int(i)) for i in epoch_order(len(ROWS), 11, 1)[:LEAD_SAMPLES]]
        disk = co.stream_store.disk
        assert disk is not None and all(disk.get(d) is not None for d in lead)  # the epoch's first samples
        shuffled = DataLoader(ds, batch_size=100, shuffle=True, num_workers=2, multiprocessing_context=start,
                              timeout=TIMEOUT)
        assert sorted(rows_of(shuffled)) == sorted(r.tobytes() for r in ROWS)


def test_two_columns_and_text_through_workers(streamed: Callable[[str], Streamed]) -> None:
    world = streamed("hangarssh")
    with world.checkout() as co:
        ds = make_torch_dataset([co["rows"], co["texts"]], field_names=["row", "text"])
        loader = DataLoader(ds, batch_size=32, sampler=ds.sampler(shuffle=False), num_workers=2, timeout=TIMEOUT)
        texts = [t for batch in loader for t in batch.text]
        assert texts == TEXTS


def test_keep_true_in_workers_is_flushed_when_they_exit(streamed: Callable[[str], Streamed]) -> None:
    world = streamed("hangarssh")
    with world.checkout(keep=True) as co:
        ds = make_torch_dataset([co["rows"]])
        loader = DataLoader(ds, batch_size=256, sampler=ds.sampler(seed=3), num_workers=2, timeout=TIMEOUT)
        assert len(rows_of(loader)) == len(ROWS)
    plain = world.plain()
    assert not plain["rows"].contains_remote_references  # every row kept by the workers
    got = dict(plain["rows"].items())
    assert all(np.array_equal(got[k], ROWS[k]) for k in range(len(ROWS)))
    assert world.clone.fsck()


@pytest.mark.parametrize("start", ["fork", pytest.param("spawn", marks=pytest.mark.slow)])
def test_new_workers_of_a_reshuffled_epoch_read_the_shared_directory_cache(
        start: str, streamed: Callable[[str], Streamed], tmp_path: Path) -> None:
    world = streamed("path")
    with world.checkout() as co:
        ds = make_torch_dataset([co["rows"]])
        loader = DataLoader(ds, batch_size=128, sampler=ds.sampler(seed=5), num_workers=2,
                            multiprocessing_context=start, timeout=TIMEOUT)  # workers made anew each epoch
        assert rows_of(loader) == [ROWS[i].tobytes() for i in epoch_order(len(ROWS), 5, 0)]
        world.server.path.rename(tmp_path / "gone")  # only the directory cache can answer now
        assert rows_of(loader) == [ROWS[i].tobytes() for i in epoch_order(len(ROWS), 5, 1)]
        digests = [recorded_digest(co["rows"], i) for i in range(len(ROWS))]
    cache = PackCache(str(Path(world.clone.ctx.git.git_dir) / "hangar" / "streamcache"), 1 << 30)
    assert all(cache.get(d) is not None for d in digests)  # every row, written by the workers or the lead
    assert 1 <= len(list(Path(cache.path).glob("*.pack"))) <= 3  # at most one per process


def test_new_workers_read_small_rows_from_the_directory_cache_without_copying_them_to_memory(
        streamed: Callable[[str], Streamed]) -> None:
    """Regression (second epoch with new workers at 0.46x of local reads): each row read from the
    directory cache was verified one by one and copied into the worker's memory cache, and the
    read-ahead thread loaded every planned row into memory too; now small rows are read from the
    cache in batches, verified together, and the memory cache does not grow."""
    from torch.utils.data import default_collate, get_worker_info
    world = streamed("path")
    with world.checkout() as co:
        ds = make_torch_dataset([co["rows"]])

        def collate(samples: list) -> tuple:  # runs in the worker
            store = session_of(ds.group.columns[0]).store
            info = get_worker_info()
            return default_collate(samples), (info.id if info else -1, store.memory.nbytes, store.disk.hits)

        loader = DataLoader(ds, batch_size=128, sampler=ds.sampler(seed=5), num_workers=2, collate_fn=collate,
                            multiprocessing_context="fork", timeout=TIMEOUT)
        first = [rows for rows, _ in loader]
        world.server.path.rename(world.server.path.with_name("gone"))  # only the directory cache can answer
        second = list(loader)
    assert [r.tobytes() for b in first for r in np.asarray(b[0])] == [
        ROWS[i].tobytes() for i in epoch_order(len(ROWS), 5, 0)]
    assert [r.tobytes() for b, _ in second for r in np.asarray(b[0])] == [
        ROWS[i].tobytes() for i in epoch_order(len(ROWS), 5, 1)]
    held: dict[int, set[int]] = {}
    for _, (worker, nbytes, _hits) in second:
        held.setdefault(worker, set()).add(nbytes)
    assert sorted(held) == [0, 1] and all(len(sizes) == 1 for sizes in held.values()), held
    assert sum(max(h for w, _, h in [m for _, m in second] if w == k) for k in (0, 1)) >= len(ROWS)


def test_rows_one_process_reads_again_from_the_directory_cache_come_from_memory_after(
        streamed: Callable[[str], Streamed]) -> None:
    """Regression (a second epoch in one process, after workers filled the directory cache, at
    0.51-0.65x of local reads): each epoch re-hashed every row there. A row this process reads
    there a second time is copied into its memory cache; the third epoch reads from memory."""
    world = streamed("path")
    with world.checkout() as co:
        ds = make_torch_dataset([co["rows"]])
        list(DataLoader(ds, batch_size=128, num_workers=2, multiprocessing_context="fork", timeout=TIMEOUT))
        store = session_of(co["rows"]).store
        assert store.disk is not None
        world.server.path.rename(world.server.path.with_name("gone"))  # only the caches can answer
        single = DataLoader(ds, batch_size=128, shuffle=True)
        epochs = []
        for _ in range(3):
            hits, held = store.disk.hits, store.memory.nbytes
            epochs.append((sorted(r.tobytes() for b in single for r in np.asarray(b[0])), store.disk.hits - hits,
                           store.memory.nbytes - held))
    assert all(rows == sorted(r.tobytes() for r in ROWS) for rows, _, _ in epochs)
    (_, first_hits, first_held), (_, second_hits, second_held), (_, third_hits, _) = epochs
    assert first_hits >= len(ROWS) - 600 and first_held == 0  # read once: not copied (the lead's few aside)
    assert second_hits >= first_hits and second_held >= first_hits * ROWS[0].nbytes  # read again: copied
    assert third_hits == 0  # from memory


def test_the_sampler_fetches_its_first_samples_as_it_is_made(streamed: Callable[[str], Streamed]) -> None:
    """Regression (first batch): the first epoch's lead began only when the DataLoader, having
    forked its workers, drew the order; now it begins as the sampler is made, and iterating that
    epoch does not fetch it again."""
    import time
    world = streamed("path")
    with world.checkout() as co:
        ds = make_torch_dataset([co["rows"]])
        sampler = ds.sampler(seed=5)
        store = session_of(co["rows"]).store
        led = epoch_order(len(ROWS), 5, 0)[:store.lead_count()]  # the lead's every request, not only its first
        first = [recorded_digest(co["rows"], int(i)) for i in led]
        deadline = time.monotonic() + 30
        while any(e is None for e in store.disk.get_many(first)) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(e is not None for e in store.disk.get_many(first))  # no iteration yet
        requests = store.source.requests
        assert list(sampler) == epoch_order(len(ROWS), 5, 0).tolist()
        assert store.source.requests == requests  # epoch 0 not led twice
        assert list(sampler) == epoch_order(len(ROWS), 5, 1).tolist()


def _claims_and_delivers(path: str, entries: list, ready: object, deliver: bool) -> None:
    import os
    import time
    cache = PackCache(path, 1 << 30)
    token = cache.claims.claim([d for d, _, _ in entries])
    ready.set()  # type: ignore[attr-defined]
    time.sleep(0.5)
    if deliver:
        cache.put_many(entries)
        cache.claims.release(token)
    os._exit(0)


@pytest.mark.parametrize("deliver", [True, False])
def test_a_read_waits_for_what_another_process_claimed_instead_of_fetching_it_again(
        deliver: bool, streamed: Callable[[str], Streamed]) -> None:
    import multiprocessing
    world = streamed("path")
    keys = list(range(10, 20))
    with world.checkout(cache_dir_bytes=0) as elsewhere:  # the objects, as another process fetches them
        assert all(np.array_equal(v, ROWS[k]) for k, v in zip(keys, elsewhere["rows", keys]))
        digests = [recorded_digest(elsewhere["rows"], k) for k in keys]
        entries = [(d, *elsewhere.stream_store.memory.get(d)) for d in digests]
    with world.checkout() as co:
        ctx = multiprocessing.get_context("fork")
        ready = ctx.Event()
        child = ctx.Process(target=_claims_and_delivers, args=(co.stream_store.disk.path, entries, ready, deliver))
        child.start()
        try:
            assert ready.wait(30)
            got = co["rows", keys]
        finally:
            child.join(30)
        assert all(np.array_equal(v, ROWS[k]) for k, v in zip(keys, got))
        source = co.stream_store.source
        assert source.requests == (0 if deliver else 1)  # claimed and delivered: never asked for again


def _with_index_reads(batch: list) -> tuple:
    """collate_fn: the batch, and how many directory-cache index records this worker read itself."""
    from torch.utils.data import default_collate, get_worker_info
    info = get_worker_info()
    store = session_of(info.dataset.group.columns[0]).store
    return default_collate(batch), store.disk.records_read


def test_new_workers_start_from_the_samplers_process_index_of_the_directory_cache(
        streamed: Callable[[str], Streamed]) -> None:
    """Regression (second epoch, new workers): each new worker read every index file of the
    directory cache before its first batch; now it inherits the index the sampler's process took in."""
    world = streamed("path")
    with world.checkout() as co:
        ds = make_torch_dataset([co["rows"]])
        loader = DataLoader(ds, batch_size=128, sampler=ds.sampler(seed=5), num_workers=2,
                            multiprocessing_context="fork", timeout=TIMEOUT)
        assert rows_of(loader) == [ROWS[i].tobytes() for i in epoch_order(len(ROWS), 5, 0)]  # fills the cache
        again = make_torch_dataset([co["rows"]])
        fresh = DataLoader(again, batch_size=128, sampler=again.sampler(seed=6), num_workers=2,
                           multiprocessing_context="fork", timeout=TIMEOUT, collate_fn=_with_index_reads)
        batches = list(fresh)
        assert [r.tobytes() for b, _ in batches for r in np.asarray(b[0])] == [
            ROWS[i].tobytes() for i in epoch_order(len(ROWS), 6, 0)]
        assert [read for _, read in batches] == [0] * len(batches)  # no index record read by a worker
        disk = co.stream_store.disk
        assert all(recorded_digest(co["rows"], k) in disk for k in range(len(ROWS)))  # the sampler's process's index


@pytest.mark.parametrize("workers", [0, 2])
def test_a_workers_first_read_ahead_waits_for_its_second_batch(
        workers: int, streamed: Callable[[str], Streamed], monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (first batch): a worker's read-ahead opened its connection as its first batch was
    read, and the key exchange held the worker's interpreter while that batch was handed over
    (0.1-0.17 s under load); now a worker plans from its second batch on (one process: at once)."""
    import torch.utils.data as tud
    from types import SimpleNamespace
    from hangar_git.api import prefetch
    world = streamed("path")
    with world.checkout() as co:
        ds = make_torch_dataset([co["rows"]])
        ds.sampler(seed=4)
        planned: list[list[int]] = []
        monkeypatch.setattr(prefetch, "_plan", lambda group, batches, lazy=False: planned.append(next(iter(batches)).tolist()))
        info = SimpleNamespace(num_workers=workers) if workers else None
        monkeypatch.setattr(tud, "get_worker_info", lambda: info)
        order, size, stride = epoch_order(len(ROWS), 4, 0), 8, 8 * max(workers, 1)
        ds.group.samples(order[:size].tolist())
        assert planned == ([] if workers else [order[stride:stride + size].tolist()])
        ds.group.samples(order[stride:stride + size].tolist())  # this process's next batch
        start = 2 * stride if workers else stride  # a worker: from the batch after its second
        assert planned == [order[start:start + size].tolist()]
        ds.group.samples(order[2 * stride:2 * stride + size].tolist())
        assert len(planned) == 1  # one plan for the epoch


def test_a_plans_first_batch_is_asked_for_alone_and_the_rest_together(
        streamed: Callable[[str], Streamed], monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (first batch): the first request of a plan (a worker's next batch, the lead's
    first samples) waited to gather a whole request's worth of batches (4,096 rows), and the reader
    waited for all of them; now the first planned batch goes alone, later ones together."""
    world = streamed("path")
    with world.checkout(cache_dir_bytes=0) as co:
        store = co.stream_store
        digests = [recorded_digest(co["rows"], k) for k in range(64)]
        asked: list[int] = []
        get = store.source.get
        monkeypatch.setattr(store.source, "get", lambda ds, got: (asked.append(len(ds)), get(ds, got))[1])
        store.hint_sizes(ROWS[0].nbytes)
        assert store.request_size() >= 64
        done = threading.Event()
        store.plan([digests[lo:lo + 8] for lo in range(0, 64, 8)], done=done.set)
        assert done.wait(60)
        assert asked == [8, 56]
        assert all(np.array_equal(v, ROWS[k]) for k, v in zip(range(64), co["rows", list(range(64))]))
        assert asked == [8, 56]  # read from the memory cache


def test_an_epochs_lead_leaves_a_readers_own_plan_in_its_process_running(
        streamed: Callable[[str], Streamed]) -> None:
    """An epoch's lead in a process whose reader follows a plan of its own that is still running
    (num_workers=0) leaves it running: replacing it would stop that reader's read-ahead."""
    world = streamed("path")
    with world.checkout() as co:
        store = co.stream_store
        digests = [recorded_digest(co["rows"], k) for k in range(64)]
        go, done = threading.Event(), threading.Event()

        def batches() -> Iterator[list[str]]:
            go.wait(30)
            yield digests[:32]

        store.plan(batches(), done=done.set)
        store.lead(digests[32:])
        assert not done.is_set()  # not replaced
        go.set()
        assert done.wait(30)
        assert all(d in store.memory for d in digests[:32])
        store.lead(digests[32:])  # no plan of its own running now: the lead goes ahead
        deadline = time.monotonic() + 30
        while not all(d in store.memory for d in digests[32:]) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(d in store.memory for d in digests[32:])


def test_an_epoch_the_memory_cache_holds_runs_no_read_ahead_thread(
        streamed: Callable[[str], Streamed], monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: each epoch of a DataLoader without workers started a read-ahead thread that
    walked the whole plan beside the reader, converting and looking up every digest although the
    memory cache held them all (10 ms of a 100 ms epoch of 20,000 rows: 0.6-0.8x of local reads).
    The plan now starts when a read first finds something the memory cache does not hold."""
    world = streamed("path")
    started: list[str] = []
    start = threading.Thread.start

    def counted(thread: threading.Thread) -> None:
        started.append(thread.name)
        start(thread)

    with world.checkout() as co:
        ds = make_torch_dataset([co["rows"]])
        loader = DataLoader(ds, batch_size=128, sampler=ds.sampler(seed=5), num_workers=0)
        assert rows_of(loader) == [ROWS[i].tobytes() for i in epoch_order(len(ROWS), 5, 0)]
        requests = co.stream_store.source.requests
        monkeypatch.setattr(threading.Thread, "start", counted)
        assert rows_of(loader) == [ROWS[i].tobytes() for i in epoch_order(len(ROWS), 5, 1)]
        assert "hangar-stream-ahead" not in started and co.stream_store.source.requests == requests
        co.stream_store.memory.clear()  # then the epoch's reads find the rows in the directory cache only
        assert rows_of(loader) == [ROWS[i].tobytes() for i in epoch_order(len(ROWS), 5, 2)]
        assert "hangar-stream-ahead" in started  # ... and the plan brings them into memory ahead
