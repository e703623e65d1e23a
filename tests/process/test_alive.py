"""Whether a process holding a lock or a claim still runs: an exited child its parent has not
reaped yet (a zombie) does not (a DataLoader worker's claim held readers back 60 s)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from hangar_git.forks import process_alive


def test_a_running_process_is_alive_and_a_zombie_or_gone_one_is_not() -> None:
    assert process_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while process_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.01)  # exited but not reaped (no wait yet): a zombie
    assert not process_alive(child.pid)
    assert os.path.exists(f"/proc/{child.pid}") or sys.platform != "linux"  # still there, unreaped
    child.wait()
    assert not process_alive(child.pid)
    assert not process_alive(0) and not process_alive(-1)
