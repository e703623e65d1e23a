"""CLI start-up: `git hangar --version` and `-h` beside `python3 -c pass`, and `status`,
`log`, `branch` and `diff` on a 1,000,000-sample repository beside `git status` and
`python3 -c pass` on the same repository, each the median of interleaved runs in one go
(the machine's load hits all alike).

Run alone: ``python -m bench --only cli`` (``--quick``: 100,000 samples, fewer rounds).
"""
from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from .common import Figure, compile_bytecode

HISTORY_COMMANDS = ("status", "log", "branch", "diff")


def _once(argv: list[str], cwd: str) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run: on a loaded machine the CPU time
    is the steadier of the two."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _medians(commands: dict[str, list[str]], cwd: str, rounds: int) -> dict[str, tuple[float, float]]:
    """Command name -> median (wall ms, CPU ms) over interleaved rounds."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, argv in commands.items():
            runs[name].append(_once(argv, cwd))
    return {name: (statistics.median(r[0] for r in rs) * 1e3, statistics.median(r[1] for r in rs) * 1e3)
            for name, rs in runs.items()}


def _big_repository(path: str, samples: int) -> None:
    """``samples`` rows of uint8[16] committed on master, a branch, and one change staged."""
    import numpy as np
    from hangar_git import Repository
    repo = Repository(path, exists=False)
    repo.init("bench", "b@x")
    rows = np.random.default_rng(0).integers(0, 255, (samples, 16), dtype=np.uint8)
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=rows[0])
        with co.columns:
            col.update({i: rows[i] for i in range(samples)})
        co.commit("rows")
    repo.create_branch("dev")
    with repo.checkout(write=True) as co:
        co.columns["x"][samples] = rows[0]


def run(quick: bool = False) -> list[Figure]:
    compile_bytecode()
    rounds = 5 if quick else 15
    samples = 100_000 if quick else 1_000_000
    hangar = shutil.which("git-hangar", path=os.path.dirname(sys.executable)) or "git-hangar"
    python = [sys.executable, "-c", "pass"]
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as repo:
        subprocess.run([hangar, "init", "--name", "b", "--email", "b@x"], cwd=repo, check=True,
                       stdout=subprocess.DEVNULL)
        ms = _medians({"python3 -c pass": python, "git hangar --version": [hangar, "--version"],
                       "git hangar -h": [hangar, "-h"]}, repo, rounds)
        base = ms["python3 -c pass"]
        figures += [Figure(f"{name} (ms, median of {rounds})", ms[name][0], "ms", "python3 -c pass",
                           base[0], "<= 2x python3 -c pass", higher_is_better=False,
                           note=f"CPU {ms[name][1]:.0f} ms vs {base[1]:.0f} ms")
                    for name in ("git hangar --version", "git hangar -h")]
    with tempfile.TemporaryDirectory(prefix="bench-cli-big-") as repo:
        _big_repository(repo, samples)
        commands = {"python3 -c pass": python, "git status": ["git", "status", "--short"]}
        commands.update({f"git hangar {c}": [hangar, c] for c in HISTORY_COMMANDS})
        ms = _medians(commands, repo, rounds)
        base, git = ms["python3 -c pass"], ms["git status"]
        for c in HISTORY_COMMANDS:
            name = f"git hangar {c}"
            figures.append(Figure(f"{name}, {samples:,} samples (ms)", ms[name][0], "ms", "python3 -c pass",
                                  base[0], "< 150 ms", higher_is_better=False,
                                  note=f"CPU {ms[name][1]:.0f} ms vs {base[1]:.0f} ms; git status {git[0]:.1f} ms"))
    return figures


if __name__ == "__main__":
    from .common import print_table
    print_table(run(quick="--quick" in sys.argv))
