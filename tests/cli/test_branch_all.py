"""`git hangar branch -a` lists remote-tracking branches, as `repo.list_branches()` does."""
from __future__ import annotations

from click.testing import CliRunner

from hangar_git.cli.main import cli

from ..repos import add_bare_origin, one_sample_repo


def test_branch_all_lists_remote_tracking_branches(tmp_path):
    repo = one_sample_repo(tmp_path / "a")
    add_bare_origin(repo, tmp_path / "srv")
    repo.remote.push("origin", "master")
    runner = CliRunner()
    local = runner.invoke(cli, ["-C", str(tmp_path / "a"), "branch"])
    every = runner.invoke(cli, ["-C", str(tmp_path / "a"), "branch", "-a"])
    assert local.exit_code == 0 and local.output.split() == ["*", "master"]
    assert every.exit_code == 0 and every.output.split() == ["*", "master", "origin/master"]
    assert repo.list_branches() == ["master", "origin/master"]


def test_remote_failures_are_one_line(tmp_path):
    repo = one_sample_repo(tmp_path / "a")
    (tmp_path / "not-a-repo").mkdir()
    repo.remote.add("origin", str(tmp_path / "not-a-repo"))
    result = CliRunner().invoke(cli, ["-C", str(tmp_path / "a"), "push", "origin", "master"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "not-a-repo" in errors[0] and "git hangar init" in errors[0]
    assert "\n" not in errors[0]


def test_branch_all_verbose_aligns_local_and_remote_tracking_columns(tmp_path):
    repo = one_sample_repo(tmp_path / "a")
    repo.create_branch("a-much-longer-name")
    add_bare_origin(repo, tmp_path / "srv")
    repo.remote.push("origin", "master")
    result = CliRunner().invoke(cli, ["-C", str(tmp_path / "a"), "branch", "-a", "-v"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line[2:].split()[0] for line in lines] == ["a-much-longer-name", "master", "origin/master"]
    # every digest starts in the same column: after the longest name and two spaces
    assert {line.index("a=") for line in lines} == {2 + len("a-much-longer-name") + 2}, lines
