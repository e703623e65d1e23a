"""`git hangar init --bare` on a server with no git identity (it makes no commit)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hangar_git import Repository
from tests import subprocesses


def test_init_bare_needs_no_identity(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = subprocesses.python_env({"HOME": str(home), "GIT_CONFIG_GLOBAL": str(home / "none"),
                                   "GIT_CONFIG_NOSYSTEM": "1"})
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        env.pop(var, None)
    done = subprocess.run([sys.executable, "-m", "hangar_git", "init", "--bare", str(tmp_path / "r.git")],
                          env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert Repository(tmp_path / "r.git").initialized
    plain = subprocess.run([sys.executable, "-m", "hangar_git", "init", str(tmp_path / "w")],
                           env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr  # as `git init`: a commit asks for the identity, init does not
    assert Repository(tmp_path / "w").initialized
