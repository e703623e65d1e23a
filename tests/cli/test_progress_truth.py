"""fetch-data's progress tells the truth (issue 11): every phase shows itself, and the data bar
ends exactly at its total (it used to overrun: a 301M total finished at 332MB)."""
from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from hangar_git import Repository


class FakeTTY(io.StringIO):
    """stderr as a terminal, so the bars draw (and we can read them)."""

    def isatty(self) -> bool:
        return True


def test_fetch_data_bar_ends_at_its_total(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    origin = Repository(tmp_path / "origin", exists=False)
    origin.init("o", "o@x")
    with origin.checkout(write=True) as co:
        col = co.add_ndarray_column("x", shape=(1000,), dtype=np.float32, variable_shape=True)
        with col:
            for i in range(300):
                col[i] = np.random.default_rng(i).random(1 + i * 3, dtype=np.float32)
        co.commit("300 samples of many sizes")
    clone = Repository(tmp_path / "clone", exists=False)
    clone.clone("c", "c@x", str(tmp_path / "origin"))
    err = FakeTTY()
    monkeypatch.setattr(sys, "stderr", err)
    clone.remote.fetch_data("origin", "master")
    text = err.getvalue().replace("\r", "\n")
    assert "Finding data to fetch" in text          # the phase before the transfer shows itself
    bars = [line for line in text.splitlines() if line.startswith("Fetching data")]
    percents = [int(p) for line in bars for p in re.findall(r"(\d+)%", line)]
    assert percents and max(percents) == 100 and percents[-1] == 100, bars[-3:]
