"""repo.summary: the tutorial's report, from bookkeeping only."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.api.summary import folder_bytes, format_bytes

from .conftest import count_store, edit


@pytest.fixture
def summarised(forked: Repository) -> str:
    return edit(forked, "master", "add labels", add={"labels": "str", "img": np.zeros((2, 4), np.uint8)},
                put={"labels": {"a": "cat", "b": "dog"}, "img": {0: np.ones((2, 4), np.uint8)}})


def test_summary_report(forked: Repository, summarised: str, capsys: pytest.CaptureFixture) -> None:
    store = count_store(forked)
    capsys.readouterr()
    assert forked.summary() is None
    out = capsys.readouterr().out
    assert store.calls == {}
    when = time.asctime(time.gmtime(forked.ctx.git.commit_info(summarised).time))
    lines = out.splitlines()
    assert lines[0] == "Summary of Contents Contained in Data Repository"
    assert f"|  Base Directory: {forked.path}" in lines
    assert any(line.startswith("|  Disk Usage: ") and line.endswith("B") for line in lines)
    for line in (f"|  Commit: a={summarised}", "|  Branch: master", f"|  Created: {when}", "|  By: tester",
                 "|  Email: t@x", "|  Message: add labels", "|  Number of Named Columns: 3",
                 "|  Number of Keys: 2"):
        assert line in lines
    block = out[out.index("* Column Name: img"):out.index("* Column Name: labels")]
    assert [line.strip("| ") for line in block.splitlines()] == [
        "* Column Name: img", "Num Data Pieces: 1", "Details:", "- column_layout: flat",
        "- column_type: ndarray", "- schema_type: fixed_shape", "- shape: (2, 4)", "- dtype: uint8", "", ""]
    labels = out[out.index("* Column Name: labels"):out.index("* Column Name: x")]
    assert "Num Data Pieces: 2" in labels and "- column_type: str" in labels and "- shape:" not in labels
    assert "Num Data Pieces: 10" in out[out.index("* Column Name: x"):]


def test_summary_contents_of_a_branch_or_commit(forked: Repository, summarised: str) -> None:
    first = forked.ctx.git.commit_info(summarised).parents[0]
    c = forked.summary(commit=first, return_contents=True)
    assert c is not None
    assert c["commit"]["digest"] == first and c["commit"]["branches"] == ["dev"]
    assert c["columns"] == {"x": {"count": 10, "column_layout": "flat", "column_type": "ndarray",
                                  "schema_type": "fixed_shape", "shape": (3,), "dtype": "<f4"}}
    assert c["metadata"] == {"count": 2}
    assert c["repository"]["disk_usage"] > 0
    assert (forked.summary(branch="dev", return_contents=True) or {})["commit"]["digest"] == first


def test_summary_without_commits(repo: Repository, capsys: pytest.CaptureFixture) -> None:
    repo.summary()
    assert capsys.readouterr().out == "No commits made\n"


@pytest.mark.parametrize("n, shown", [(0, "0 B"), (999, "999 B"), (1000, "1.00 kB"), (1001, "1.00 kB"),
                                      (2_360_000, "2.36 MB"), (10**9 - 1, "1000.00 MB"), (10**9, "1.00 GB"),
                                      (10**15 + 1, "1.00 PB")])
def test_sizes_are_shown_as_hangar_shows_them(n: int, shown: str) -> None:
    assert format_bytes(n) == shown


def test_disk_usage_counts_a_store_outside_the_git_dir_once(tmp_path: Path) -> None:
    """size_nbytes and the summary's disk usage are one figure: the git dir, plus a local
    store kept elsewhere (walked, not read through the store)."""
    repo = Repository(tmp_path / "r", exists=False)
    repo.init("t", "t@x", store_uri=str(tmp_path / "store"))
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("x", prototype=np.zeros(1000, np.uint8))
        co["x", 0] = np.random.default_rng(0).integers(0, 255, 1000, dtype=np.uint8)
        co.commit("one")
    store = count_store(repo)
    git_only = folder_bytes(str(tmp_path / "r" / ".git"))
    assert repo.size_nbytes == git_only + folder_bytes(str(tmp_path / "store")) > git_only
    assert repo.summary(return_contents=True)["repository"]["disk_usage"] == repo.size_nbytes
    assert store.calls == {}
