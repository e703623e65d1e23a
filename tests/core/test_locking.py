"""One writer at a time: refused second writers, stale lock recovery, readers alongside."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from hangar_git import Repository, WriterLockError
from hangar_git import locks
from hangar_git.locks import HeldLock

from .conftest import PyRunner, wait_line

HOLD_WRITER = """
    import os, sys
    from hangar_git import Repository
    co = Repository({path!r}).checkout(write=True)
    co["c"]["from-child"] = "child"
    print("holding", flush=True)
    sys.stdin.readline()
    co.close()
    print("released", flush=True)
"""


@pytest.fixture
def seeded(repo: Repository) -> Repository:
    with repo.checkout(write=True) as co:
        co.add_str_column("c")["k"] = "v"
        co.commit("seed")
    return repo


def test_second_writer_in_the_same_process_is_refused(seeded: Repository) -> None:
    first = seeded.checkout(write=True)
    try:
        with pytest.raises(WriterLockError) as info:
            seeded.checkout(write=True)
        assert f"pid {os.getpid()}" in info.value.holder
        assert info.value.holder in str(info.value)
        with pytest.raises(WriterLockError):
            Repository(seeded.path).checkout(write=True)   # another Repository object
        first["c"]["still"] = "works"                       # the holder is unaffected
    finally:
        first.close()
    with seeded.checkout(write=True) as co:
        assert co["c", "still"] == "works"


def test_writer_in_another_process_is_named_and_refused(seeded: Repository,
                                                        spawn_py: Callable[[str], Any]) -> None:
    child = spawn_py(HOLD_WRITER.format(path=seeded.path))
    wait_line(child, "holding")
    with pytest.raises(WriterLockError) as info:
        seeded.checkout(write=True)
    assert f"pid {child.pid}" in info.value.holder
    assert socket.gethostname() in info.value.holder
    assert f"pid {child.pid}" in str(info.value)
    assert seeded.writer_lock_held
    # readers work while the other process writes
    with seeded.checkout() as reader:
        assert reader["c", "k"] == "v" and "from-child" not in reader["c"]
    child.stdin.write("\n"); child.stdin.flush()
    wait_line(child, "released")
    assert child.wait(timeout=30) == 0
    with seeded.checkout(write=True) as co:
        assert co["c", "from-child"] == "child"


def test_readers_work_while_a_writer_is_open_in_this_process(seeded: Repository,
                                                             run_py: PyRunner) -> None:
    with seeded.checkout(write=True) as writer:
        writer["c"]["k"] = "staged, not committed"
        writer.flush()
        with seeded.checkout() as reader:
            assert reader["c", "k"] == "v"
        out = run_py(f"""
            from hangar_git import Repository
            with Repository({seeded.path!r}).checkout() as co:
                print(co["c", "k"])
        """).stdout
        assert out.strip() == "v"
        digest = writer.commit("change")
        with seeded.checkout() as reader:
            assert reader.commit_hash == digest and reader["c", "k"] == "staged, not committed"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_lock(repo: Repository, info: dict) -> Path:
    path = Path(repo.ctx.path("writer.lock"))
    path.write_text(json.dumps(info))
    return path


def test_lock_of_a_dead_process_is_recovered_with_a_warning(seeded: Repository) -> None:
    pid = dead_pid()
    write_lock(seeded, {"pid": pid, "host": socket.gethostname(), "since": "2020-01-01 00:00:00"})
    with pytest.warns(UserWarning, match=f"pid {pid}"):
        co = seeded.checkout(write=True)
    try:
        co["c"]["after-recovery"] = "ok"
        assert HeldLock(seeded.ctx.path("writer.lock")).holder()["pid"] == os.getpid()
    finally:
        co.close()
    assert not seeded.writer_lock_held


@pytest.mark.parametrize("content", ["", "not json", "{}"], ids=["empty", "garbage", "no-pid"])
def test_unreadable_lock_files_are_recovered(seeded: Repository, content: str) -> None:
    Path(seeded.ctx.path("writer.lock")).write_text(content)
    with pytest.warns(UserWarning, match="recovered a stale writer lock"):
        seeded.checkout(write=True).close()
    assert not seeded.writer_lock_held


def test_lock_held_on_another_host_is_respected(seeded: Repository) -> None:
    write_lock(seeded, {"pid": 1, "host": "elsewhere.invalid", "since": "2020-01-01 00:00:00"})
    with pytest.raises(WriterLockError) as info:
        seeded.checkout(write=True)
    assert "elsewhere.invalid" in info.value.holder
    assert seeded.force_release_writer_lock()
    seeded.checkout(write=True).close()


def test_a_lock_being_written_is_not_taken_as_stale(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: a second acquirer looking while the first is still writing its lock
    file found it empty, took it for stale, removed it and also 'won'."""
    path = str(tmp_path / "writer.lock")
    first, second = HeldLock(path), HeldLock(path)
    results: dict[str, Any] = {}
    real_dump = json.dump

    def dump_while_another_acquires(obj: Any, fh: Any, *args: Any, **kwargs: Any) -> None:
        if "started" not in results:
            results["started"] = True
            thread = threading.Thread(target=lambda: results.update(second=second.try_acquire()))
            thread.start()
            results["thread"] = thread
            time.sleep(0.3)                  # the other acquirer runs now, mid-write
        real_dump(obj, fh, *args, **kwargs)

    monkeypatch.setattr(locks.json, "dump", dump_while_another_acquires)
    results["first"] = first.try_acquire()
    results["thread"].join(timeout=30)
    monkeypatch.undo()
    winners = [name for name in ("first", "second") if results[name] is None]
    assert winners == ["first"], results
    assert results["second"]["pid"] == os.getpid()
    assert not second.recovered
    first.release()
    assert HeldLock(path).holder() is None
