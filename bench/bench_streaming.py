"""Streaming checkouts (issue 13): training straight from a remote, against fetching first.

The server is our ``HangarSSHServer`` in a subprocess (see :mod:`bench.bench_remote`); each
figure is measured directly on loopback and through :class:`bench.proxy.LatencyProxy`
(20 ms round trip, 100 MB/s). Two datasets: rows of uint8[117] and float32[256,256] images,
read by a shuffled ``DataLoader`` (batch 256, 2 fork workers, ``sampler=ds.sampler(seed)``)
over a fresh clone that holds no data. Figures, each beside its same-run baseline:

* time to first batch of a streaming checkout (target < 0.2 s through the proxy), against the
  first batch after ``fetch-data`` of everything;
* first epoch streamed, against fetch-data of everything then the same epoch (end to end;
  target >= 0.8x), and against one ``get_data`` request per sample (300 timed, scaled to the
  epoch with 2 workers in parallel);
* second epoch (persistent workers: memory caches, then the shared directory cache; new
  workers: the shared directory cache only) and an epoch over ``keep=True`` data, against the
  same epoch over local data (target >= 0.9x); these, and their baselines, the best of
  three epochs;
* bytes through the proxy and bytes written to the store per epoch with keep False / True,
  against the dataset's size;
* peak RSS of a process reading the images in random order with ``cache_bytes`` of 1/4 of
  them, against that budget (VmHWM reset before reading, above the process's RSS then).

Default sizes keep a run to a few minutes (20,000 rows, 200 images; ``--quick`` 5,000 / 64);
``HANGAR_BENCH_STREAM_SIZES=issue`` runs the issue's 100,000 rows and 2,000 images.

    python -m bench --only streaming --no-stock
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from functools import partial
from typing import Any, Callable, Optional

import numpy as np

from hangar_git import Repository, make_torch_dataset

from .bench_remote import Loopback, loopback
from .common import Figure
from .proxy import LatencyProxy

BATCH = 256
WORKERS = 2


def _repo(path: str, **kwargs: Any) -> Repository:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        repo = Repository(path, exists=False)
    repo.init("bench", "bench@localhost", **kwargs)
    repo.remote.quiet = True
    return repo


def _fill(repo: Repository, name: str, rows: int, shape: tuple[int, ...], dtype: Any) -> None:
    rng = np.random.default_rng(0)
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column(name, shape=shape, dtype=dtype)
        with col as c:
            for i in range(rows):
                c[i] = (rng.integers(0, 3, size=shape).astype(dtype) if dtype == np.uint8
                        else rng.random(shape, dtype=np.float32))
        co.commit(name)


def _clone(path: str, address: str, stream_address: str) -> Repository:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        repo = Repository(path, exists=False)
    repo.clone("bench", "bench@localhost", address)
    repo.remote.quiet = True
    if stream_address != address:
        repo.remote.add("via", stream_address)
    return repo


def _loader(co: Any, column: str, persistent: bool = False, workers: int = WORKERS) -> Any:
    from torch.utils.data import DataLoader
    ds = make_torch_dataset([co[column]])
    return DataLoader(ds, batch_size=BATCH, sampler=ds.sampler(seed=7), num_workers=workers,
                      persistent_workers=persistent and workers > 0,
                      multiprocessing_context="fork" if workers else None)


def _epoch(loader: Any) -> tuple[float, float]:
    """(seconds to the first batch, seconds for the whole epoch)."""
    t = time.perf_counter()
    first = None
    for _ in loader:
        if first is None:
            first = time.perf_counter() - t
    return first or 0.0, time.perf_counter() - t


REPEATS = 3
"""Epochs within a cache, over kept data and their local baselines are the best of this many:
an epoch of 200 images is one batch, and one stall of the machine (0.7 s seen) decided it."""


def _epoch_seconds(loader: Any) -> float:
    return _epoch(loader)[1]


def _best(epoch: Callable[[], float]) -> float:
    """The fastest of :data:`REPEATS` runs of ``epoch`` (seconds)."""
    return min(epoch() for _ in range(REPEATS))


def _store_bytes(repo: Repository) -> int:
    root = repo.ctx.store_uri.removeprefix("file://")
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)


def _per_request(repo: Repository, remote: str, column: str, count: int = 300) -> float:
    """Seconds of one ``get_data`` of a single sample, over one open session."""
    from hangar_git.transport.wire import encode_digest_list
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        co = repo.checkout(branch="master")
    digests = [co[column]._digest(f"i{i}") for i in range(min(count, len(co[column])))]
    co.close()
    with repo.remote.connect(remote) as session:
        t = time.perf_counter()
        for d in digests:
            header, payload = encode_digest_list([d])
            for _ in session.stream("get_data", header, payload):
                pass
        return (time.perf_counter() - t) / len(digests)


def _condition(srv: Loopback, tmp: str, tag: str, column: str, address: str, proxy: Optional[LatencyProxy],
               rows: int, nbytes: int) -> list[Figure]:
    via = proxy is not None
    remote = "via" if via else "origin"
    stream_address = address if not via else address.replace(f":{srv.port}/", f":{proxy.port}/")  # type: ignore[union-attr]
    out: list[Figure] = []
    net = "proxy 20 ms/100 MB/s" if via else "loopback"
    name = f"{tag} [{net}]"

    a = _clone(os.path.join(tmp, f"a-{column}-{via}"), address, stream_address)
    disk_before = _store_bytes(a)
    batch_bytes = min(rows, BATCH) * nbytes // rows
    bound = proxy.transfer_seconds(batch_bytes) if proxy else 0.0
    moved = proxy.bytes if proxy else 0
    down = proxy.bytes_down if proxy else 0
    opened = time.perf_counter()
    with a.checkout(branch="master", stream_from=remote) as co:
        loader = _loader(co, column, persistent=True)
        setup = time.perf_counter() - opened
        first, epoch1 = _epoch(loader)
        streamed_bytes = (proxy.bytes - moved) if proxy else 0
        streamed_down = (proxy.bytes_down - down) if proxy else 0
        epoch2 = _best(partial(_epoch_seconds, loader))
        del loader
        moved = proxy.bytes if proxy else 0
        fresh2 = _best(lambda: _epoch(_loader(co, column))[1])  # new workers: the shared directory cache
        fresh_bytes = ((proxy.bytes - moved) if proxy else 0) // REPEATS
        single = _loader(co, column, workers=0)
        _epoch(single)
        single2 = _best(lambda: _epoch(single)[1])
    disk_keep_false = _store_bytes(a) - disk_before

    b = _clone(os.path.join(tmp, f"b-{column}-{via}"), address, stream_address)
    t = time.perf_counter()
    b.remote.fetch_data(remote, "master")
    fetch = time.perf_counter() - t
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        co = b.checkout(branch="master")
    local_first, local_epoch = _epoch(_loader(co, column))
    local_fresh2 = _best(lambda: _epoch(_loader(co, column))[1])  # new workers again, data warm
    loader = _loader(co, column, persistent=True)
    _epoch(loader)
    local_epoch2 = _best(partial(_epoch_seconds, loader))  # persistent workers, as streamed
    del loader
    single = _loader(co, column, workers=0)
    _epoch(single)
    local_single2 = _best(lambda: _epoch(single)[1])
    co.close()

    per_sample = _per_request(b, remote, column)
    t = time.perf_counter()
    b.remote.connect(remote).close()
    connect = time.perf_counter() - t

    c = _clone(os.path.join(tmp, f"c-{column}-{via}"), address, stream_address)
    before, moved = _store_bytes(c), (proxy.bytes if proxy else 0)
    with c.checkout(branch="master", stream_from=remote, keep=True) as co:
        _epoch(_loader(co, column))
    kept_bytes = (proxy.bytes - moved) if proxy else 0
    disk_keep_true = _store_bytes(c) - before
    with c.checkout(branch="master", stream_from=remote, keep=True) as co:
        kept_epoch = _best(lambda: _epoch(_loader(co, column))[1])

    physics = (f"; bound: the batch's bytes through this proxy over an open connection take {bound:.3f} s, "
               f"+{connect:.3f} s to open a session" if proxy else "")
    out += [
        Figure(f"{name}: time to first batch, streamed", first, "s", "first batch after fetch-data of all",
               fetch + local_first, target="< 0.2 s with the proxy", higher_is_better=False,
               note=f"from the loop's start; +{setup:.3f} s checkout and loader set-up before it; one SSH "
                    f"session set-up: {connect:.2f} s; first batch {batch_bytes / 1e6:.2f} MB{physics}"),
        Figure(f"{name}: time to first batch from opening the checkout", setup + first, "s",
               "first batch after fetch-data of all", fetch + local_first, target="< 0.2 s with the proxy",
               higher_is_better=False, note="checkout, dataset and loader made, then the first batch"
                                            + (f"; bound {bound + connect:.3f} s (session + batch transfer)"
                                               if proxy else "")),
        Figure(f"{name}: first epoch streamed (end to end)", epoch1, "s", "fetch-data of all, then the epoch",
               fetch + local_epoch, target="streamed >= 0.8x as fast", higher_is_better=False,
               note=f"fetch {fetch:.2f} s + epoch {local_epoch:.2f} s"),
        Figure(f"{name}: first epoch streamed", epoch1, "s", "one get_data per sample (scaled, 2 workers)",
               per_sample * rows / WORKERS, higher_is_better=False, note=f"{per_sample * 1e3:.2f} ms per request"),
        Figure(f"{name}: second epoch (persistent workers' memory caches)", epoch2, "s",
               "second epoch over local data (persistent workers)", local_epoch2, target="streamed >= 0.9x as fast",
               higher_is_better=False),
        Figure(f"{name}: second epoch, new workers (shared directory cache)", fresh2, "s",
               "second epoch over local data (new workers)", local_fresh2, target="streamed >= 0.9x as fast",
               higher_is_better=False, note=f"{fresh_bytes} B through the proxy" if proxy else ""),
        Figure(f"{name}: second epoch in one process (memory cache, num_workers=0)", single2, "s",
               "second epoch over local data (num_workers=0)", local_single2, target="streamed >= 0.9x as fast",
               higher_is_better=False),
        Figure(f"{name}: epoch after keep=True", kept_epoch, "s", "the same epoch over local data",
               min(local_epoch, local_fresh2),
               target="streamed >= 0.9x as fast", higher_is_better=False),
        Figure(f"{name}: store bytes written per epoch, keep=False", disk_keep_false, "B", "dataset bytes", nbytes,
               higher_is_better=False),
        Figure(f"{name}: store bytes written per epoch, keep=True", disk_keep_true, "B", "dataset bytes", nbytes,
               higher_is_better=False),
    ]
    if proxy is not None:
        out += [Figure(f"{name}: bytes through the proxy, first epoch, keep=False", streamed_bytes, "B",
                       "dataset bytes", nbytes, higher_is_better=False),
                Figure(f"{name}: bytes from the server through the proxy, first epoch, keep=False", streamed_down,
                       "B", "dataset bytes", nbytes, higher_is_better=False,
                       note="server to client only (object bytes, each object's digest and meta, SSH framing)"),
                Figure(f"{name}: bytes through the proxy per epoch, keep=True", kept_bytes, "B",
                       "dataset bytes", nbytes, higher_is_better=False)]
    for f in out:
        if "as fast" in f.target and f.value:
            speed = (f.baseline_value or 0) / f.value
            want = 0.8 if "0.8x" in f.target else 0.9
            f.note = (f.note + "; " if f.note else "") + (
                f"throughput {speed:.2f}x of the baseline (time ratio <= {1 / want:.2f} meets it): "
                f"{'met' if speed >= want else 'MISSED'}")
    return out


def _single_reads(tmp: str, address: str, stream_address: str, rows: int, images: int) -> list[Figure]:
    """Single reads (``co[column, key]``) through the proxy, sequential and random, with the
    neighbourhood of a miss fetched along (the default) and without (``max_bytes = 0``)."""
    import random
    repo = _clone(os.path.join(tmp, "single"), address, stream_address)
    out = []
    for column, n, count in (("rows", rows, 300), ("images", images, 40)):
        walks = {"sequential": list(range(count)), "random": random.Random(3).sample(range(n), count)}
        for walk, keys in walks.items():
            took: dict[bool, float] = {}
            requests: dict[bool, int] = {}
            for near in (True, False):
                with repo.checkout(branch="master", stream_from="via", cache_dir_bytes=0) as co:
                    if not near:
                        co.neighbourhood.max_bytes = 0
                    col = co[column]
                    t = time.perf_counter()
                    for k in keys:
                        col[k]
                    took[near] = (time.perf_counter() - t) / len(keys)
                    requests[near] = co.stream_store.source.requests
            out.append(Figure(f"{column}: {walk} single reads through the proxy, neighbourhood on", took[True], "s",
                              "the same reads, neighbourhood off", took[False], higher_is_better=False,
                              note=f"per read; {requests[True]} vs {requests[False]} requests for {len(keys)} reads"))
    return out


RSS_SCRIPT = r"""
import resource, sys, random, warnings
import numpy as np
from hangar_git import Repository
path, remote, column, budget = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
warnings.simplefilter("ignore")
repo = Repository(path)
co = (repo.checkout(branch="master", stream_from=remote, cache_bytes=budget) if remote
      else repo.checkout(branch="master"))
col = co[column]
col[0]
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()
def hwm():  # the true peak (VmHWM), reset below where Linux allows it; else sampled between reads
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0
try:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    exact = True
except OSError:
    exact = False
base = peak = rss()
keys = list(range(len(col))) * 2
random.Random(1).shuffle(keys)
for lo in range(0, len(keys), 32):
    col.get_many(keys[lo:lo + 32])
    peak = max(peak, rss())
if exact:
    peak = max(peak, hwm())
print(peak - base, co.stream_store.memory.nbytes if remote else 0, 32 * col.shape[0] * col.shape[1] * 4)
"""


def _rss(srv: Loopback, tmp: str, address: str, column: str, nbytes: int) -> list[Figure]:
    repo = _clone(os.path.join(tmp, "rss"), address, address)
    budget = max(nbytes // 4, 1 << 20)
    done = subprocess.run([sys.executable, "-c", RSS_SCRIPT, repo.path, "origin", column, str(budget)],
                          capture_output=True, text=True, check=True, env=dict(os.environ))
    grown, held, returned = (int(x) for x in done.stdout.split())
    repo.remote.fetch_data("origin", "master")
    done = subprocess.run([sys.executable, "-c", RSS_SCRIPT, repo.path, "", column, str(budget)],
                          capture_output=True, text=True, check=True, env=dict(os.environ))
    local = int(done.stdout.split()[0])
    return [Figure("images read at random, twice over: peak RSS growth", grown, "B", "cache_bytes", budget,
                   target="holds its budget", higher_is_better=False,
                   note=f"peak: VmHWM, reset before the reads (on Linux); cache held {held} B at the end; the same reads of local data grow RSS by {local} B "
                        f"(TileDB's own caches); each read returns 32 images (8.4 MB) beside the cache"),
            Figure("images read at random: peak RSS growth less the batch the caller holds", grown - returned, "B",
                   "cache_bytes", budget, target="holds its budget", higher_is_better=False,
                   note=f"{returned} B of returned arrays alive at the peak (the list get_many fills)")]


def run(quick: bool = False) -> list[Figure]:
    if importlib.util.find_spec("torch") is None:
        return []
    issue = os.environ.get("HANGAR_BENCH_STREAM_SIZES") == "issue"
    rows, images = (100_000, 2_000) if issue else ((5_000, 64) if quick else (20_000, 200))
    figures: list[Figure] = []
    importlib.import_module("torch.utils.data")  # imported here, not inside the first set-up timed
    tmp = tempfile.mkdtemp(prefix="hangar-bench-stream-")
    try:  # the clones of each condition hold up to 5 GB: never left behind
        with loopback() as srv:
            source = _repo(os.path.join(tmp, "source"))
            _fill(source, "rows", rows, (117,), np.uint8)
            _fill(source, "images", images, (256, 256), np.float32)
            address = srv.new_remote("data.git")
            source.remote.add("origin", address)
            source.remote.push("origin", "master")
            host = open(os.path.join(srv.home, ".ssh", "known_hosts")).read().split(None, 1)[1]
            with LatencyProxy(srv.port, rtt=0.020, bandwidth=100e6) as proxy:
                with open(os.path.join(srv.home, ".ssh", "known_hosts"), "a") as fh:
                    fh.write(f"[127.0.0.1]:{proxy.port} {host}")
                for tag, column, n, size in (("rows uint8[117]", "rows", rows, 117),
                                             ("images float32[256,256]", "images", images, 256 * 256 * 4)):
                    for via in (None, proxy):
                        print(f"   {tag} {'proxy' if via else 'loopback'}", file=sys.stderr, flush=True)
                        figures += _condition(srv, tmp, f"{tag} x{n}", column, address, via, n, n * size)
                via_proxy = address.replace(f":{srv.port}/", f":{proxy.port}/")
                figures += _single_reads(tmp, address, via_proxy, rows, images)
            figures += _rss(srv, tmp, address, "images", images * 256 * 256 * 4)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return figures


