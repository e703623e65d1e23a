"""A write checkout that is never closed keeps what was written (Hangar 0.5 users' habit):
samples are in the staging area once a ``with col:`` / ``with co.columns:`` block ends, and at
a normal interpreter exit an open write checkout is flushed and its writer lock released. A
forked child never flushes its parent's checkout; SIGKILL leaves only whole flushes behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hangar_git import Repository
from tests.repos import new_repo
from tests.subprocesses import python_env, run_python, spawn_python

WRITES = {
    "with-col": """
        with col:
            col[77] = np.ones((4, 4), np.float32)
    """,
    "with-columns": """
        with co.columns:
            col[77] = np.ones((4, 4), np.float32)
    """,
    "no-with": """
        col[77] = np.ones((4, 4), np.float32)
    """,
    "dropped-checkout": """
        col[77] = np.ones((4, 4), np.float32)
        del co, col
        import gc; gc.collect()
    """,
}


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    repo = new_repo(tmp_path / "r")
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("imgs", prototype=np.zeros((4, 4), np.float32))[0] = np.zeros((4, 4), np.float32)
        co.commit("first")
    return repo


def _writer_script(path: Path, body: str, tail: str = "") -> str:
    indented = "\n".join("    " + line for line in body.strip("\n").splitlines())
    return (f"import numpy as np\nfrom hangar_git import Repository\n"
            f"co = Repository({str(path)!r}).checkout(write=True)\ncol = co.columns['imgs']\n"
            f"if True:\n{indented}\n{tail}")


def _status(path: Path) -> subprocess.CompletedProcess:
    """`git hangar status` in a new process."""
    return subprocess.run([sys.executable, "-m", "hangar_git", "-C", str(path), "status"],
                          env=python_env(), capture_output=True, text=True, check=True)


@pytest.mark.parametrize("how", list(WRITES))
def test_writes_of_an_unclosed_checkout_survive_a_normal_exit(repo: Repository, how: str) -> None:
    proc = run_python(_writer_script(repo.path, WRITES[how]), python_env())
    assert proc.stderr == ""
    fresh = Repository(repo.path)
    assert not fresh.writer_lock_held  # released at exit, not left to be recovered as stale
    with fresh.checkout(write=True) as co:
        assert 77 in co.columns["imgs"] and (co["imgs", 77] == 1).all()
    status = _status(repo.path)
    assert "No changes" not in status.stdout and "imgs" in status.stdout
    assert "stale" not in status.stderr


def test_staged_once_the_with_block_ends(repo: Repository) -> None:
    """Another process sees the sample while the writer is still running (its lock held)."""
    code = _writer_script(repo.path, WRITES["with-col"], "print('written', flush=True)\ninput()\n")
    proc = spawn_python(code, python_env())
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
        assert "imgs" in _status(repo.path).stdout
    finally:
        proc.communicate("\n", timeout=60)
    assert proc.returncode == 0


def test_a_forked_child_does_not_flush_or_release_its_parents_checkout(repo: Repository) -> None:
    code = _writer_script(repo.path, """
        col[5] = np.full((4, 4), 5, np.float32)
        import os, sys
        pid = os.fork()
        if pid == 0:
            col[6] = np.full((4, 4), 6, np.float32)   # the child's own copy: never flushed
            sys.exit(0)                               # a normal exit: atexit runs in the child
        os.waitpid(pid, 0)
        from hangar_git import Repository as R
        assert R(co._ctx.git.git_dir).writer_lock_held, "the child released the parent's lock"
        print('child done', flush=True)
    """)
    proc = run_python(code, python_env())
    assert "child done" in proc.stdout
    with Repository(repo.path).checkout(write=True) as co:
        assert 5 in co.columns["imgs"] and 6 not in co.columns["imgs"]


def test_sigkill_mid_write_leaves_whole_blocks(repo: Repository) -> None:
    """Blocks of 50 samples, each in its own ``with col:``: after SIGKILL the staging area
    holds every block reported done and no part of a block."""
    code = _writer_script(repo.path, """
        for block in range(1000):
            with col:
                for i in range(50):
                    col[1000 + block * 50 + i] = np.full((4, 4), block, np.float32)
            print(block, flush=True)
    """)
    proc = spawn_python(code, python_env())
    assert proc.stdout is not None
    done = -1
    deadline = time.monotonic() + 60
    while done < 3 and time.monotonic() < deadline:
        done = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert done >= 3
    fresh = Repository(repo.path)
    assert fresh.fsck()
    with pytest.warns(UserWarning, match="stale writer lock"):
        co = fresh.checkout(write=True)
    with co:
        col = co.columns["imgs"]
        keys = [k for k in col.keys() if k >= 1000]
        assert len(keys) % 50 == 0 and len(keys) >= (done + 1) * 50
        for k in keys[::7]:
            assert (col[k] == (k - 1000) // 50).all()
