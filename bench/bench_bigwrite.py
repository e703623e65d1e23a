"""Big adds and commits in bounded memory (issue 11): each workload runs in a fresh process
whose peak RSS is read with ``getrusage(RUSAGE_CHILDREN)`` by a one-child wrapper, beside
``numpy.load`` (``numpy.loadtxt`` for CSV) of the same file in a fresh process of the same run.

* the first commit of 1,000,000 rows of uint8[16] through the API (``col[i] = row`` inside
  ``with co.columns:``, then ``co.commit``): the writes and the commit timed apart (the
  commit's time includes the block's end, which stages the records);
* ``git hangar add --rows`` of the same rows as one 16 MB .npy;
* ``git hangar add`` of a 200,000-row CSV of the same rows.

Issue 11's figures before: commit 8 s at 959 MB, add --rows 16.5 s at ~1 GB, CSV 7.2 s at
556 MB. Targets: under 300 MB each; the commit under 2 s; the adds at least 5x faster.

Run alone: ``python -m bench --only bigwrite`` (``--quick``: 200,000 and 50,000 rows).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from .common import Figure

_WRAP = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if proc.returncode != 0:
    sys.exit(proc.stderr[-2000:] or f"exit status {proc.returncode}")
out = proc.stdout
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss_mb": ru.ru_maxrss / 1024,
                  "out": out}))
"""

_API = """
import json, sys, time
import numpy as np
from hangar_git import Repository
rows = np.load(sys.argv[2])
repo = Repository(sys.argv[1], exists=False)
repo.init("bench", "b@x")
co = repo.checkout(write=True)
col = co.add_ndarray_column("x", prototype=rows[0])
t, c = time.perf_counter(), time.process_time()
with co.columns:
    for i in range(len(rows)):
        col[i] = rows[i]
    write, write_cpu = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()  # the block's end stages the records: the commit's work
co.commit("rows")
commit, commit_cpu = time.perf_counter() - t, time.process_time() - c
co.close()
print(json.dumps({"write": write, "commit": commit, "write_cpu": write_cpu, "commit_cpu": commit_cpu}))
"""

_LOAD = """
import sys
import numpy as np
np.load(sys.argv[1]) if sys.argv[1].endswith(".npy") else np.loadtxt(sys.argv[1], delimiter=",", dtype=np.uint8)
"""


def _measured(argv: list[str], cwd: str) -> dict:
    """Wall, CPU seconds and peak RSS (MB) of one fresh process running ``argv``; ``out``: its stdout."""
    proc = subprocess.run([sys.executable, "-c", _WRAP, *argv], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def _git_hangar() -> list[str]:
    return [sys.executable, "-m", "hangar_git"]


def _init(path: str) -> None:
    from hangar_git import Repository
    Repository(path, exists=False).init("bench", "b@x")


def run(quick: bool = False) -> list[Figure]:
    n = 200_000 if quick else 1_000_000
    n_csv = 50_000 if quick else 200_000
    rows = np.random.default_rng(0).integers(0, 255, (n, 16), dtype=np.uint8)
    tmp = tempfile.mkdtemp(prefix="bench-bigwrite-")
    try:
        npy = os.path.join(tmp, "rows.npy")
        np.save(npy, rows)
        csv_path = os.path.join(tmp, "rows.csv")
        np.savetxt(csv_path, rows[:n_csv], fmt="%d", delimiter=",")
        load = _measured([sys.executable, "-c", _LOAD, npy], tmp)
        api = _measured([sys.executable, "-c", _API, os.path.join(tmp, "api"), npy], tmp)
        times = json.loads(api["out"])
        figs = [Figure(f"API first commit {n:,} x uint8[16]: writes (s)", times["write"], "s",
                       "numpy.load same .npy (process)", load["wall"], "", higher_is_better=False,
                       note=f"cpu {times['write_cpu']:.1f} s"),
                Figure(f"API first commit {n:,} x uint8[16]: commit (s)", times["commit"], "s",
                       "numpy.load same .npy (process)", load["wall"], "< 2 s", higher_is_better=False,
                       note=f"cpu {times['commit_cpu']:.1f} s (all threads)"),
                Figure(f"API first commit {n:,}: peak RSS (MB)", api["rss_mb"], "MB",
                       "numpy.load same .npy (process)", load["rss_mb"], "< 300 MB", higher_is_better=False,
                       note=f"wall {api['wall']:.1f} s, cpu {api['cpu']:.1f} s")]
        for name, argv, path in (("add --rows .npy", ["--rows", npy], npy),
                                 ("add .csv", [csv_path], csv_path)):
            repo = os.path.join(tmp, name.split()[-1].strip("."))
            _init(repo)
            base = _measured([sys.executable, "-c", _LOAD, path], tmp)
            ours = _measured([*_git_hangar(), "add", "x", *argv], repo)
            rows_n = n if path == npy else n_csv
            figs += [Figure(f"git hangar {name} of {rows_n:,} rows (s)", ours["wall"], "s",
                            "numpy.load" if path == npy else "numpy.loadtxt", base["wall"],
                            "<= 1/5 of 16.5 s" if path == npy else "<= 1/5 of 7.2 s", higher_is_better=False,
                            note=f"cpu {ours['cpu']:.1f} s; baseline cpu {base['cpu']:.1f} s"),
                     Figure(f"git hangar {name}: peak RSS (MB)", ours["rss_mb"], "MB",
                            "numpy.load" if path == npy else "numpy.loadtxt", base["rss_mb"], "< 300 MB",
                            higher_is_better=False)]
        return figs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
