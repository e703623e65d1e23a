"""A shared store: bytes a stream of tiny commits costs, and several writer processes at once."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from hangar_git import Repository
from hangar_git.storage import open_store

from .common import Figure

ROW = 117

WRITER = """
import sys, time
import numpy as np
from hangar_git.storage import digest_of, open_store
uri, seed, n, flush_every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
store = open_store(uri)
rows = np.random.default_rng(seed).integers(0, 256, (n, {row}), dtype=np.uint8)
sys.stdin.readline()  # start together
t = time.perf_counter()
for i in range(n):
    data = rows[i].tobytes()
    store.put(digest_of("bytes", data), "bytes", data)
    if (i + 1) % flush_every == 0:
        store.flush()
store.flush()
print(time.perf_counter() - t)
""".format(row=ROW)


def store_bytes(uri: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(uri) for f in files)


def bench_tiny_commits(tmp: str, commits: int) -> list[Figure]:
    repo = Repository(os.path.join(tmp, "tiny"), exists=False)
    repo.init("bench", "b@x")
    rng = np.random.default_rng(0)
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=np.zeros(ROW, np.uint8))
        co.commit("schema")
        empty = store_bytes(repo.ctx.store_uri)
        for i in range(commits):
            col[i] = rng.integers(0, 256, ROW, dtype=np.uint8)
            co.commit(f"sample {i}")
    size = store_bytes(repo.ctx.store_uri) - empty
    committed = commits * ROW
    return [Figure(f"store bytes after {commits:,} commits of 1 x {ROW} B (KB)", size / 1e3, "KB",
                   "bytes committed", committed / 1e3, target="<= 2x + < 1 MiB fixed", higher_is_better=False)]


def _writers(uri: str, count: int, n: int) -> float:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, uri, str(seed), str(n), "5000"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for seed in range(count)]
    time.sleep(1.0)  # let every interpreter import
    t = time.perf_counter()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [p.communicate(timeout=600)[0] for p in procs]
    wall = time.perf_counter() - t
    assert all(p.returncode == 0 for p in procs), outs
    return count * n / wall


def bench_concurrent_writers(tmp: str, n: int) -> list[Figure]:
    one = os.path.join(tmp, "one")
    four = os.path.join(tmp, "four")
    for uri in (one, four):
        open_store(uri, create=True).close()
    single = _writers(one, 1, n)
    many = _writers(four, 4, n)
    store = open_store(four)
    assert not store.verify(rehash=False)  # type: ignore[attr-defined]
    store.close()
    return [Figure(f"4 writer processes into one store ({n:,} rows each, rows/s)", many, "/s",
                   "one writer alone", single, target="no loss; aggregate >= 1 writer (2 cores)")]


def run(quick: bool = False) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        figs = bench_tiny_commits(tmp, 100 if quick else 1000)
        figs += bench_concurrent_writers(tmp, 20_000 if quick else 100_000)
    return figs
