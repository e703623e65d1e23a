"""A repository on a read-only file system (a copy on a read-only mount, a snapshot, a CD)
can be read as `git log` reads it: every reading command works, and says nothing about the
caches and registries it could not write (regression: `status`, `show`, `ls`, `export` and
`fsck` failed with "the file system (.../present-trees) is read-only")."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.subprocesses import python_env

from .conftest import GH, commit_samples

READS = [("status",), ("log",), ("diff",), ("branch",), ("summary",), ("ls", "master", "x"),
         ("show", "master", "x", "1"), ("fsck",), ("export", "x", "{out}")]


def _read_only_mounts_work(path: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    proc = subprocess.run(["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && ! touch "$0/probe"',
                           str(path)], capture_output=True, timeout=30)
    return proc.returncode == 0


def run_read_only(repo: Path, args: tuple[str, ...]) -> subprocess.CompletedProcess:
    """`git hangar ARGS` in ``repo`` with ``repo`` mounted read-only (a private mount namespace)."""
    script = 'mount --bind -o ro "$0" "$0" && cd "$0" && exec git hangar "$@"'
    return subprocess.run(["unshare", "-m", "sh", "-c", script, str(repo), *args], env=python_env(),
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def read_only_repo(tmp_path: Path, gh: GH) -> Path:
    if not _read_only_mounts_work(tmp_path):
        pytest.skip("needs `unshare -m` and bind mounts (root in a mount namespace)")
    repo = tmp_path / "repo"
    repo.mkdir()
    gh("init", cwd=repo)
    commit_samples(repo, range(0, 3))
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(repo), str(copy)], check=True)  # a copy not yet read anywhere
    return copy


@pytest.mark.parametrize("args", READS, ids=lambda a: a[0])
def test_reading_commands_work_on_a_read_only_repository(read_only_repo: Path, tmp_path: Path,
                                                         args: tuple[str, ...]) -> None:
    args = tuple(a.format(out=tmp_path / "out") for a in args)
    proc = run_read_only(read_only_repo, args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    if args[0] == "show":
        assert "1" in proc.stdout
    if args[0] == "export":
        assert len(list((tmp_path / "out").iterdir())) == 3


def test_writing_commands_say_the_file_system_is_read_only(read_only_repo: Path, tmp_path: Path) -> None:
    proc = run_read_only(read_only_repo, ("branch", "dev"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("Error:") and "read-only" in proc.stderr, proc.stderr
