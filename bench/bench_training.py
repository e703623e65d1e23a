"""Training reads: random access in a fresh process and a shuffled DataLoader, beside numpy.

A column of N rows of uint8[16] (1,000,000; ``--quick``: 100,000) is
committed once. Then, each in a fresh process (what every DataLoader worker
is): 10,000 random single reads ``col[key]`` on the first pass, and the same
keys from a ``numpy.memmap`` of the same rows (opening timed apart; the
libraries, blosc2 among them, imported first, as a forked worker has them); a shuffled
``torch.utils.data.DataLoader`` over every row of ``make_torch_dataset``
(batch 256, 2 workers, fork), beside the same loader over a dataset that
indexes the memmap. Targets (issue 12): 200,000 random reads/s on the
first pass, 100,000 samples/s through the loader.

Run alone: ``python -m bench --only training``.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from .common import Figure

ROW = 16
RANDOM_READS = 10_000
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(path: str, n: int) -> None:
    from hangar_git import Repository

    rows = np.random.default_rng(0).integers(0, 256, size=(n, ROW), dtype=np.uint8)
    np.save(os.path.join(path, "rows.npy"), rows)
    repo = Repository(os.path.join(path, "repo"), exists=False)
    repo.init("bench", "bench@localhost")
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=np.zeros(ROW, dtype=np.uint8))
        col.update({i: rows[i] for i in range(n)})
        co.commit("rows")


def random_reads(path: str, n: int) -> dict[str, float]:
    """First-pass random reads/s of the column and of a memmap, run in a fresh process
    whose libraries are imported (as in a forked DataLoader worker); opening, and the
    first read (which fetches the chunks), are timed apart."""
    importlib.import_module("blosc2")  # the store's codec: imported lazily, once per process

    from hangar_git import Repository

    keys = np.random.default_rng(1).integers(0, n, size=RANDOM_READS).tolist()
    t0 = time.perf_counter()
    col = Repository(os.path.join(path, "repo")).checkout()["x"]
    t1 = time.perf_counter()
    for k in keys:
        col[k]
    t2 = time.perf_counter()
    mm = np.load(os.path.join(path, "rows.npy"), mmap_mode="r")
    t3 = time.perf_counter()
    for k in keys:
        np.array(mm[k])
    t4 = time.perf_counter()
    return {"ours": RANDOM_READS / (t2 - t1), "memmap": RANDOM_READS / (t4 - t3),
            "ours_open_ms": (t1 - t0) * 1000, "memmap_open_ms": (t3 - t2) * 1000,
            "ours_total_ms": (t2 - t0) * 1000, "memmap_total_ms": (t4 - t2) * 1000}


class MemmapRows:
    """The same rows as a map-style dataset over a numpy memmap (opened per worker)."""

    def __init__(self, path: str) -> None:
        self.path: str = path
        self.rows: Any = None
        self.n = len(np.load(path, mmap_mode="r"))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> np.ndarray:
        if self.rows is None:
            self.rows = np.load(self.path, mmap_mode="r")
        return np.array(self.rows[i])


def loader(path: str) -> dict[str, float]:
    """Samples/s of a shuffled 2-worker DataLoader over the column and over the memmap."""
    from torch.utils.data import DataLoader

    from hangar_git import Repository, make_torch_dataset

    out: dict[str, float] = {}
    co = Repository(os.path.join(path, "repo")).checkout()
    datasets: list[tuple[str, Any]] = [("ours", make_torch_dataset(co["x"])),
                                       ("memmap", MemmapRows(os.path.join(path, "rows.npy")))]
    for name, ds in datasets:
        t = time.perf_counter()
        seen = sum(len(b[0] if isinstance(b, (list, tuple)) else b)
                   for b in DataLoader(ds, batch_size=256, shuffle=True, num_workers=2, timeout=600))
        out[name] = seen / (time.perf_counter() - t)
    return out


def _fresh(fn: str, path: str, n: int) -> dict[str, float]:
    code = (f"import json, sys; from bench.bench_training import {fn}; "
            f"print(json.dumps({fn}(*json.loads(sys.argv[1]))))")
    args = [path, n] if fn == "random_reads" else [path]
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(args)], cwd=HERE, capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[Figure]:
    n = 100_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory(prefix="bench-training-") as path:
        build(path, n)
        reads = _fresh("random_reads", path, n)
        figures = [Figure(f"random col[key] reads, fresh process, first pass ({n:,} rows)", reads["ours"],
                          "/s", "numpy memmap", reads["memmap"], target=">= 200,000/s"),
                   Figure("  open repository + checkout + column, fresh process", reads["ours_open_ms"], "ms",
                          "np.load(mmap_mode='r')", reads["memmap_open_ms"], higher_is_better=False),
                   Figure(f"  open + {RANDOM_READS:,} random reads, fresh process", reads["ours_total_ms"], "ms",
                          "numpy memmap", reads["memmap_total_ms"], higher_is_better=False)]
        if importlib.util.find_spec("torch") is None:
            return figures
        rates = _fresh("loader", path, n)
        figures.append(Figure(f"shuffled DataLoader, batch 256, 2 workers ({n:,} rows)", rates["ours"],
                              "/s", "numpy memmap", rates["memmap"], target=">= 100,000/s"))
        return figures
