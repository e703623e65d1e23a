"""The code and the benchmarks type-check cleanly (mypy) and have no unused names or imports (pyflakes)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_mypy_is_clean(tmp_path):
    pytest.importorskip("mypy")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), "hangar_git", "bench"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pyflakes_is_clean():
    pytest.importorskip("pyflakes")
    targets = ["hangar_git", "tests", "examples"] + [os.path.join("bench", f) for f in os.listdir(
        os.path.join(ROOT, "bench")) if f.endswith(".py")]
    proc = subprocess.run([sys.executable, "-m", "pyflakes", *targets], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
