"""The autouse session fixture keeps git and pygit2 off the machine's config."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pygit2

from tests.conftest import GIT_EMAIL, GIT_NAME, GitEnv


def test_home_and_global_config_are_temporary(isolated_git_env: GitEnv) -> None:
    assert Path(os.environ["HOME"]) == isolated_git_env.home
    assert Path(os.environ["GIT_CONFIG_GLOBAL"]) == isolated_git_env.gitconfig
    assert os.environ["GIT_CONFIG_NOSYSTEM"] == "1"
    assert "SSH_AUTH_SOCK" not in os.environ


def test_git_cli_sees_only_the_test_identity(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shown = subprocess.run(["git", "-C", str(tmp_path), "config", "--show-origin", "--list"],
                           check=True, capture_output=True, text=True).stdout
    origins = {line.split("\t", 1)[0] for line in shown.splitlines()}
    assert origins <= {f"file:{os.environ['GIT_CONFIG_GLOBAL']}", "file:.git/config"}
    assert f"user.name={GIT_NAME}" in shown


def test_pygit2_reads_only_the_test_global_config(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"))
    assert repo.config["user.name"] == GIT_NAME
    assert repo.config["user.email"] == GIT_EMAIL
    assert pygit2.Config.get_global_config()["user.name"] == GIT_NAME
    assert repo.default_signature.email == GIT_EMAIL
