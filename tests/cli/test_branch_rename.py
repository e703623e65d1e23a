"""`git hangar branch -m [OLD] NEW` and `-M`, as in git, and `repo.rename_branch`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.errors import BranchExistsError, BranchNotFoundError, BranchRemovalError, WriterLockError

from ..repos import one_sample_repo
from .conftest import Hangar, one_line_error


@pytest.fixture
def two_branches(tmp_path: Path) -> Repository:
    repo = one_sample_repo(tmp_path / "r")
    repo.create_branch("dev")
    return repo


def test_rename_another_branch(tmp_path: Path, two_branches: Repository) -> None:
    head = two_branches.branch_head("dev")
    out = Hangar(tmp_path / "r").ok("branch", "-m", "dev", "feature").stdout
    assert out == "Renamed branch dev to feature\n"
    repo = Repository(str(tmp_path / "r"))
    assert repo.list_branches() == ["feature", "master"]
    assert repo.branch_head("feature") == head
    assert repo.ctx.default_branch == "master"


def test_rename_the_write_branch_keeps_its_staged_changes(tmp_path: Path, two_branches: Repository) -> None:
    with two_branches.checkout(write=True) as co:
        co.columns["x"][1] = np.full(3, 7.0)
    hangar = Hangar(tmp_path / "r")
    hangar.ok("branch", "-m", "main")  # NEW alone: the write branch
    repo = Repository(str(tmp_path / "r"))
    assert repo.ctx.default_branch == "main" and repo.list_branches() == ["dev", "main"]
    assert "x" in hangar.ok("status").stdout and "main" in hangar.ok("status").stdout
    hangar.ok("commit", "-m", "staged before the rename")
    with repo.checkout(branch="main") as co:
        assert co.columns["x"][1].tolist() == [7.0] * 3
    assert "* main" in hangar.ok("branch").stdout


def test_rename_before_the_first_commit(tmp_path: Path) -> None:
    hangar = Hangar(tmp_path)
    hangar.ok("init")
    hangar.ok("branch", "-m", "master", "main")
    assert Repository(str(tmp_path)).ctx.default_branch == "main"
    assert hangar.ok("branch").stdout.split() == ["*", "main"]


def test_rename_onto_an_existing_branch_needs_capital_m(tmp_path: Path, two_branches: Repository) -> None:
    two_branches.create_branch("other")
    hangar = Hangar(tmp_path / "r")
    one_line_error(hangar("branch", "-m", "dev", "other"), "'other' already exists", "branch -M dev other")
    assert Repository(str(tmp_path / "r")).list_branches() == ["dev", "master", "other"]
    hangar.ok("branch", "-M", "dev", "other")
    assert Repository(str(tmp_path / "r")).list_branches() == ["master", "other"]
    one_line_error(hangar("branch", "-M", "other", "master"), "write branch")


def test_rename_refusals(tmp_path: Path, two_branches: Repository) -> None:
    hangar = Hangar(tmp_path / "r")
    one_line_error(hangar("branch", "-m", "nosuch", "x"), "nosuch")
    one_line_error(hangar("branch", "-m", "dev", "bad..name"), "invalid branch name")
    assert hangar("branch", "-m").exit_code == 2
    assert hangar("branch", "-m", "-d", "dev").exit_code == 2
    one_line_error(hangar("branch", "a", "b"), "'b'")  # a at revision b, as in git: there is none
    with pytest.raises(BranchNotFoundError):
        two_branches.rename_branch("nosuch", "y")
    with pytest.raises(BranchExistsError):
        two_branches.rename_branch("dev", "master")
    with pytest.raises(BranchRemovalError):
        two_branches.rename_branch("dev", "master", force=True)
    with two_branches.checkout(write=True):
        with pytest.raises(WriterLockError):
            two_branches.rename_branch("dev", "feature")
    assert two_branches.list_branches() == ["dev", "master"]
    assert two_branches.rename_branch("dev", "dev") == two_branches.branch_head("dev")


def test_branch_name_start_creates_at_start_as_in_git(tmp_path: Path, two_branches: Repository) -> None:
    """Regression: `branch f1 master~1` was refused as an extra argument (pointing to -m)."""
    hangar = Hangar(tmp_path / "r")
    with two_branches.checkout(write=True) as co:
        co.columns["x"][5] = np.zeros(3)
        co.commit("second")
    parent = two_branches.ctx.git.commit_info(two_branches.branch_head("master")).parents[0]
    assert hangar.ok("branch", "f1", "master~1").stdout.startswith("Created branch f1 at ")
    assert Repository(str(tmp_path / "r")).branch_head("f1") == parent
    both = hangar("branch", "f2", "master~1", "--base", "master")
    assert both.exit_code == 2 and "not both" in both.output
