"""`git hangar add`'s progress bar knows its total up front (the samples in the files: rows with
--rows) and ends exactly at it, for every kind of import (issue 11)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest

from hangar_git.cli import common

from .conftest import Hangar


Bars = list[tuple[Any, Optional[int]]]


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> Bars:
    """Every progress bar the command opens, with its total when it was opened."""
    monkeypatch.setattr(common, "_isatty", lambda stream: True)  # drawn (a disabled bar counts nothing)
    opened: Bars = []
    original = common.State.progress

    def progress(self: common.State, desc: str, total: Optional[int] = None, unit: str = "sample") -> Any:
        bar = original(self, desc, total, unit)
        opened.append((bar, bar.total))
        return bar
    monkeypatch.setattr(common.State, "progress", progress)
    return opened


@pytest.mark.parametrize("case", ["rows-two-files", "rows-by-name", "rows-variable-shape", "csv", "csv-header",
                                  "npz-and-npy", "rows-one-file"])
def test_the_add_bar_has_its_total_up_front_and_ends_at_it(tmp_path: Path, bars: Bars, case: str) -> None:
    files = tmp_path / "in"
    files.mkdir()
    np.save(files / "a.npy", np.arange(21, dtype=np.int64).reshape(7, 3))
    np.save(files / "b.npy", np.arange(12, dtype=np.int64).reshape(4, 3))
    np.save(files / "c.npy", np.full(3, 5, np.int64))
    np.savez(files / "z.npz", p=np.zeros(3, np.int64), q=np.ones(3, np.int64))
    (files / "t.csv").write_text("1,2,3\n\n4,5,6\n7,8,9\n")
    (files / "h.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    args, total = {
        "rows-two-files": (["--rows", "--key-from", "index", "a.npy", "b.npy"], 11),
        "rows-by-name": (["--rows", "--key-from", "name", "a.npy"], 7),
        "rows-variable-shape": (["--rows", "--variable-shape", "a.npy"], 7),
        "rows-one-file": (["--rows", "a.npy"], 7),
        "csv": (["t.csv"], 3),
        "csv-header": (["--header", "h.csv"], 2),
        "npz-and-npy": (["z.npz", "c.npy"], 3),
    }[case]
    hangar = Hangar(tmp_path / "repo")
    (tmp_path / "repo").mkdir()
    hangar.ok("init")
    result = hangar.ok("add", "col", *[a if a.startswith("-") or a in ("name", "index") else str(files / a) for a in args])
    assert len(bars) == 1
    bar, total_up_front = bars[0]
    assert total_up_front == total          # known before the first sample is read
    assert (bar.n, bar.total) == (total, total)  # and the bar ends exactly at it
    assert f"Staged {total} sample(s)" in result.stdout
