"""Failures of the machine as one line each (issue 11): disk full, a port in use, a damaged git
object, a deleted current directory (the last in test_commands.py)."""
from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from hangar_git import Repository

from .conftest import Files, GitHangar, Hangar, one_line_error, subprocess_env


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MB tmpfs (needs root; skipped where mounting is not allowed)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def random_file(path: Path, megabytes: int) -> Path:
    np.save(path, np.random.default_rng(0).integers(0, 255, (megabytes, 1 << 20), dtype=np.uint8))
    return path


def test_disk_full_in_add_and_commit(small_disk: Path, tmp_path: Path, git_hangar: GitHangar) -> None:
    repo = small_disk / "repo"
    repo.mkdir()
    assert git_hangar("init", cwd=repo).returncode == 0
    big = random_file(tmp_path / "big.npy", 12)
    one_line_error(git_hangar("add", "--rows", "big", big, cwd=repo), "no space left on the device")
    small = random_file(tmp_path / "small.npy", 1)
    done = git_hangar("add", "--rows", "small", small, cwd=repo)
    if done.returncode == 0:  # what the failed add wrote was freed: the commit is what meets the full disk
        filler = small_disk / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
        one_line_error(git_hangar("commit", "-m", "x", cwd=repo), "no space left on the device")
    else:
        one_line_error(done, "no space left on the device")


def test_disk_full_in_clone_and_fetch_data(small_disk: Path, tmp_path: Path, git_hangar: GitHangar) -> None:
    origin = Repository(tmp_path / "origin", exists=False)
    origin.init("o", "o@x")
    with origin.checkout(write=True) as co:
        col = co.add_ndarray_column("big", shape=(1 << 20,), dtype=np.uint8)
        with col:
            for i, row in enumerate(np.random.default_rng(1).integers(0, 255, (12, 1 << 20), dtype=np.uint8)):
                col[i] = row
        co.commit("12 MB")
    done = git_hangar("clone", tmp_path / "origin", small_disk / "clone", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    one_line_error(git_hangar("fetch-data", "origin", cwd=small_disk / "clone"), "no space left on the device")
    subprocess.run(["dd", "if=/dev/zero", f"of={small_disk / 'filler'}", "bs=64k"], capture_output=True)
    one_line_error(git_hangar("clone", tmp_path / "origin", small_disk / "clone2", cwd=tmp_path),
                   "no space left on the device")
    assert not (small_disk / "clone2").exists()


def test_server_on_a_port_in_use(tmp_path: Path) -> None:
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key), "-C", "alice"], check=True)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(["git", "hangar", "server", "--ip", "127.0.0.1", "--port", str(port), "--root",
                               str(tmp_path), "--authorized-keys", f"{key}.pub"], env=subprocess_env(),
                              capture_output=True, text=True, timeout=60)
    one_line_error(done, "already in use", "--port")


@pytest.fixture
def damaged(repo_dir: Path, hangar: Hangar, files: Files) -> Path:
    """Two commits; one loose record blob of the first overwritten with garbage."""
    hangar.ok("add", "imgs", files / "a.npy")
    hangar.ok("commit", "-m", "one")
    git_dir = repo_dir / ".git"
    before = {p for p in (git_dir / "objects").glob("??/*")}
    hangar.ok("add", "imgs", files / "b.npy")
    hangar.ok("commit", "-m", "two")
    shards = [p for p in set((git_dir / "objects").glob("??/*")) - before
              if subprocess.run(["git", "cat-file", "-t", p.parent.name + p.name], cwd=repo_dir,
                                capture_output=True, text=True).stdout.strip() == "blob"]
    victim = max(shards, key=lambda p: p.stat().st_size)  # the records shard is the largest new blob
    os.chmod(victim, 0o644)
    victim.write_bytes(b"garbage")
    for cache in (git_dir / "hangar").glob("record*"):
        subprocess.run(["rm", "-rf", str(cache)], check=True)
    return repo_dir


def test_damaged_git_object(damaged: Path, hangar: Hangar, tmp_path: Path, git_hangar: GitHangar) -> None:
    """Regression: one damaged loose object made fsck, export and diff crash with a traceback."""
    done = git_hangar("fsck", cwd=damaged)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "is damaged" in done.stdout and "problem(s) found" in done.stdout
    one_line_error(git_hangar("export", "imgs", tmp_path / "out", cwd=damaged), "is damaged", "fsck")
    first = Repository(damaged).log(return_contents=True)["order"][-1]
    one_line_error(git_hangar("diff", first, cwd=damaged), "is damaged", "fsck")
