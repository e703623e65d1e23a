"""CLI start-up: `git hangar --version`, `-h` and `status` beside `python3 -c pass` and
`git status`, each the median of interleaved runs in one go (the machine's load hits all).

Run alone: ``python -m bench --only cli``.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from .common import Figure

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _once(argv: list[str], cwd: str) -> float:
    t = time.perf_counter()
    subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def run(quick: bool = False) -> list[Figure]:
    rounds = 5 if quick else 21
    hangar = shutil.which("git-hangar", path=os.path.dirname(sys.executable)) or "git-hangar"
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as repo:
        subprocess.run([hangar, "init", "--name", "b", "--email", "b@x"], cwd=repo, check=True,
                       stdout=subprocess.DEVNULL)
        commands = {"python3 -c pass": [sys.executable, "-c", "pass"],
                    "git status": ["git", "status", "--short"],
                    "git hangar --version": [hangar, "--version"],
                    "git hangar -h": [hangar, "-h"],
                    "git hangar status": [hangar, "status"]}
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, argv in commands.items():
                times[name].append(_once(argv, repo))
    ms = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    base = "python3 -c pass"
    return [Figure(f"{name} (ms, median of {rounds})", ms[name], "ms", base if name != "git hangar status"
                   else "git status", ms[base] if name != "git hangar status" else ms["git status"],
                   "<= 2x python3 -c pass" if name != "git hangar status" else "",
                   higher_is_better=False)
            for name in ("git hangar --version", "git hangar -h", "git hangar status")]


if __name__ == "__main__":
    from .common import print_table
    print_table(run(quick="--quick" in sys.argv))
