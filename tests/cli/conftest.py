"""Fixtures for the CLI tests: real git repositories in tmp_path, the CLI
driven through click's CliRunner (``hangar``) or a real `git hangar`
subprocess (``git_hangar``).

* ``hangar(*args)``: runs ``git hangar -C <repo> args`` in-process and
  returns click's Result; unexpected exceptions propagate (a traceback is a
  test failure, not an output to assert on).
* ``repo_dir``: an initialised repository (via `git hangar init`).
* ``files``: small .npy/.npz/.csv files under tmp_path/files.
* ``server``, ``pushed``, ``clone(tmp_path, server, name)``, ``add_sample``: a bare hangar
  repository as remote origin, a repository with one commit pushed there, partial clones.
* ``git_hangar(*args, cwd=...)``: `git hangar args` in a subprocess, with
  this interpreter's bin dir (and the source checkout's ./git-hangar
  launcher) first on PATH.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from click.testing import CliRunner, Result

import hangar_git
from hangar_git import Repository
from hangar_git.cli.main import cli

SRC_ROOT = Path(hangar_git.__file__).resolve().parent.parent


class Hangar:
    """`git hangar` in-process, run in one directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.runner = CliRunner()

    def __call__(self, *args: str, cwd: Path | None = None, input: str | None = None) -> Result:
        argv = ["-C", str(cwd or self.path), *map(str, args)]
        return self.runner.invoke(cli, argv, input=input, catch_exceptions=False)

    def ok(self, *args: str, **kwargs: Any) -> Result:
        """Run and require exit code 0."""
        result = self(*args, **kwargs)
        assert result.exit_code == 0, (args, result.output)
        return result


def one_line_error(result: Any, *fragments: str, code: int = 1) -> str:
    """Assert the command failed with exactly one ``Error:`` line on stderr."""
    stderr = result.stderr if isinstance(result.stderr, str) else result.stderr.decode()
    exit_code = getattr(result, "exit_code", getattr(result, "returncode", None))
    assert exit_code == code, (exit_code, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: "), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture
def hangar(tmp_path: Path) -> Hangar:
    return Hangar(tmp_path / "repo")


@pytest.fixture
def repo_dir(tmp_path: Path, hangar: Hangar) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    hangar.ok("init")
    return path


@dataclass(frozen=True)
class Files:
    """Small input files and the arrays they hold."""

    root: Path
    a: np.ndarray      # a.npy
    b: np.ndarray      # b.npy
    npz: dict          # z.npz members
    csv_rows: np.ndarray  # d.csv, int rows

    def __truediv__(self, name: str) -> Path:
        return self.root / name


@pytest.fixture
def files(tmp_path: Path) -> Files:
    root = tmp_path / "files"
    root.mkdir()
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.ones((2, 3), dtype=np.float32)
    np.save(root / "a.npy", a)
    np.save(root / "b.npy", b)
    npz = {"x": np.zeros((2, 3), np.float32), "y": np.full((2, 3), 7, np.float32)}
    np.savez(root / "z.npz", **npz)
    rows = np.array([[1, -2, 3], [4, 5, 6], [7, 8, 90]], dtype=np.int64)
    (root / "d.csv").write_text("".join(",".join(map(str, r)) + "\n" for r in rows))
    np.save(root / "wrong_shape.npy", np.zeros((4,), np.float32))
    return Files(root, a, b, npz, rows)


# -- remotes: a server, a pushed repository, clones -------------------------------------
@pytest.fixture
def server(tmp_path: Path) -> Path:
    path = tmp_path / "server.git"
    Hangar(tmp_path).ok("init", "--bare", path)
    return path


@pytest.fixture
def pushed(repo_dir: Path, hangar: Hangar, files: Files, server: Path) -> Path:
    """repo_dir with one commit, pushed to remote origin (a local hangar repository)."""
    hangar.ok("add", "imgs", files / "a.npy", files / "b.npy")
    hangar.ok("commit", "-m", "two arrays")
    hangar.ok("remote", "add", "origin", server)
    hangar.ok("push", "origin", "master")
    return repo_dir


def clone(tmp_path: Path, server: Path, name: str) -> Hangar:
    Hangar(tmp_path).ok("clone", server, tmp_path / name)
    return Hangar(tmp_path / name)


def add_sample(path: Path, key: str, value: float, branch: str = "master") -> str:
    with Repository(path).checkout(write=True, branch=branch) as co:
        co["imgs"][key] = np.full((2, 3), value, np.float32)
        return co.commit(f"{key} = {value}")



# -- subprocess ---------------------------------------------------------------------
def subprocess_env() -> dict[str, str]:
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([bin_dir, str(SRC_ROOT), env.get("PATH", os.defpath)])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC_ROOT), env.get("PYTHONPATH")) if p)
    return env


GitHangar = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def git_hangar() -> GitHangar:
    env = subprocess_env()

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "hangar", *map(str, args)], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=120)
    return run
