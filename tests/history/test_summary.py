"""repo.summary: the tutorial's report, from bookkeeping only."""
from __future__ import annotations

import time

import numpy as np
import pytest

from hangar_git import Repository

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
