"""Failures of the machine as one line each (issue 11): disk full, a port in use, a damaged git
object, a deleted current directory (the last in test_commands.py)."""
from __future__ import annotations

import json
import os
import re
import shlex
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


DAMAGED = {  # what is damaged -> its revision (git rev-parse)
    "record blob": "refs/hangar/heads/master:columns/imgs/samples/_",
    "tree": "refs/hangar/heads/master:columns/imgs/samples",
    "head commit": "refs/hangar/heads/master",
    "older commit": "refs/hangar/heads/master~1",
}


def git_out(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(params=[False, True], ids=["no remote", "with a remote"])
def with_remote(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture(params=sorted(DAMAGED))
def damaged(request: pytest.FixtureRequest, with_remote: bool, repo_dir: Path, hangar: Hangar, files: Files,
            git_hangar: GitHangar, tmp_path: Path) -> tuple[Path, str, str]:
    """Two commits (with a clone as remote 'mirror' when ``with_remote``), then one loose git
    object overwritten with garbage; returns the repository, the damaged object's id and the
    first commit's."""
    hangar.ok("add", "imgs", files / "a.npy")
    hangar.ok("commit", "-m", "one")
    hangar.ok("add", "imgs", files / "b.npy")
    hangar.ok("commit", "-m", "two")
    if with_remote:
        assert git_hangar("clone", repo_dir, tmp_path / "mirror", cwd=tmp_path).returncode == 0
        hangar.ok("remote", "add", "mirror", tmp_path / "mirror")
    oid = git_out(repo_dir, "rev-parse", DAMAGED[request.param])
    first = git_out(repo_dir, "rev-parse", DAMAGED["older commit"])
    victim = repo_dir / ".git" / "objects" / oid[:2] / oid[2:]
    os.chmod(victim, 0o644)
    victim.write_bytes(b"garbage")
    for cache in (repo_dir / ".git" / "hangar").glob("record*"):
        subprocess.run(["rm", "-rf", str(cache)], check=True)
    return repo_dir, oid, first


def problems(stdout: str) -> list[str]:
    return [line[len("problem: "):] for line in stdout.splitlines() if line.startswith("problem: ")]


def test_fsck_lists_a_damaged_git_object_once(damaged: tuple[Path, str, str], git_hangar: GitHangar) -> None:
    """Regression: fsck checked 0 commits, printed git's own lines (HEAD points to an unborn
    branch) and never said which branch or column the damaged object belongs to."""
    repo, oid, _ = damaged
    done = git_hangar("fsck", cwd=repo)
    assert done.returncode == 1 and done.stderr == "", done.stderr
    listed = problems(done.stdout)
    assert len(listed) == 1 and oid in listed[0] and "'master'" in listed[0], done.stdout
    assert "git fsck" not in done.stdout and "HEAD" not in done.stdout and "notice" not in done.stdout
    if "commit" not in listed[0].split(oid)[0]:  # a blob or tree: the column whose records it holds
        assert "column 'imgs'" in listed[0], listed
        assert "checked 2 commit(s)" in done.stdout, done.stdout
    assert done.stdout.splitlines()[-1].startswith("1 problem(s) found"), done.stdout
    report = json.loads(git_hangar("fsck", "--json", cwd=repo).stdout)
    assert report["ok"] is False and report["problems"] == listed


def test_commands_name_the_damaged_object_and_a_repair_that_works(
        damaged: tuple[Path, str, str], with_remote: bool, tmp_path: Path, git_hangar: GitHangar) -> None:
    """Regression: log said 'git object (unknown)', diff of a damaged commit said it does not
    exist, and the hint was `git fetch`, which never brings refs/hangar/* objects back."""
    repo, oid, first = damaged
    commands = [("log",), ("status",), ("export", "imgs", tmp_path / "out"), ("diff", first)]
    errors = []
    for args in commands:
        done = git_hangar(*args, cwd=repo)
        if done.returncode != 0:
            errors.append(one_line_error(done, oid, "is damaged"))
    assert errors, "no command needed the damaged object"
    path = str(repo / ".git" / "objects" / oid[:2] / oid[2:])
    for line in errors:
        assert path in line and "of branch 'master'" in line, line
        assert ("git hangar fetch --refetch mirror" in line) == with_remote, line
        assert with_remote or ("fetch" not in line and "backup" in line), line
    if not with_remote:
        return
    for command in re.findall(r"`([^`]+)`", errors[0]):
        if command.startswith(("rm ", "git hangar fetch")):
            done = subprocess.run(shlex.split(command), cwd=repo, env=subprocess_env(), capture_output=True,
                                  text=True)
            assert done.returncode == 0, (command, done.stderr)
    done = git_hangar("fsck", cwd=repo)
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "ok", done.stdout
    subprocess.run(["rm", "-rf", str(tmp_path / "out")], check=True)
    for args in commands:
        assert git_hangar(*args, cwd=repo).returncode == 0, args


def test_fsck_names_a_damaged_object_of_the_code_once(repo_dir: Path, hangar: Hangar, files: Files,
                                                      git_hangar: GitHangar) -> None:
    """An object outside the hangar records (the code's history beside them) is git fsck's to
    find: one line naming it, none of git's notices or follow-up lines."""
    hangar.ok("add", "imgs", files / "a.npy")
    hangar.ok("commit", "-m", "one")
    (repo_dir / "code.py").write_text("print(1)\n")
    git_out(repo_dir, "add", "code.py")
    git_out(repo_dir, "-c", "user.name=a", "-c", "user.email=a@x", "commit", "-q", "-m", "code")
    oid = git_out(repo_dir, "rev-parse", "HEAD:code.py")
    victim = repo_dir / ".git" / "objects" / oid[:2] / oid[2:]
    os.chmod(victim, 0o644)
    victim.write_bytes(b"garbage")
    done = git_hangar("fsck", cwd=repo_dir)
    assert done.returncode == 1 and done.stderr == "", done.stderr
    listed = problems(done.stdout)
    assert len(listed) == 1 and oid in listed[0] and listed[0].startswith("git fsck: "), done.stdout
    assert "notice" not in done.stdout and "checked 1 commit(s)" in done.stdout, done.stdout


def test_fsck_lists_a_truncated_loose_object_and_returns(repo_dir: Path, hangar: Hangar, files: Files,
                                                         git_hangar: GitHangar) -> None:
    """Regression: libgit2 (1.9) loops forever inflating a truncated loose object, and fsck's
    audit of the record cache read the truncated shard through it: fsck never returned."""
    hangar.ok("add", "imgs", files / "a.npy")
    hangar.ok("commit", "-m", "one")
    assert list((repo_dir / ".git" / "hangar").glob("record*")), "the record cache holds the shard"
    oid = git_out(repo_dir, "rev-parse", DAMAGED["record blob"])
    victim = repo_dir / ".git" / "objects" / oid[:2] / oid[2:]
    os.chmod(victim, 0o644)
    victim.write_bytes(victim.read_bytes()[:20])
    done = git_hangar("fsck", cwd=repo_dir)
    assert done.returncode == 1 and done.stderr == "", done.stderr
    listed = problems(done.stdout)
    assert len(listed) == 1 and oid in listed[0] and "truncated" in listed[0], done.stdout
