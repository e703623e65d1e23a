"""Faults between processes: a push killed mid-transfer then resumed, and two racing pushers."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.transport.connect import open_session
from hangar_git.transport.push import push as push_branch

from .conftest import KINDS, ServerRepo, add_rows, assert_rows, dota_rows, python_env, reader

ROWS = dota_rows(3000, np.uint16, seed=41)        # 3000 samples of 234 bytes, about 700 kB

# Runs in a child interpreter: pushes with tiny batches and, once a few
# batches are on their way, says so and stalls (the parent then SIGKILLs it).
KILLED_PUSH = """
import sys, time
from hangar_git import Repository
import hangar_git.transport.push as push_mod
import hangar_git.transport.datastream as datastream

datastream.BATCH_BYTES = 16 << 10              # about 70 samples per data frame
original = datastream.send_data

def stalling_send_data(store, stream, digests, progress=None, **kwargs):
    class Stall:
        batches = nbytes = 0
        def update(self, n):
            self.batches += 1
            self.nbytes += n
            if self.batches == 8:
                stream.flush()
                print("STALLED", self.nbytes, flush=True)
                time.sleep(600)
    return original(store, stream, digests, progress=Stall(), **kwargs)

push_mod.send_data = stalling_send_data
repo = Repository(sys.argv[1])
repo.remote.quiet = True
repo.remote.push("origin", "master")
print("FINISHED", flush=True)
"""


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("kind", KINDS)
def test_push_killed_mid_transfer_resumes(kind: str, server_address: Callable[[str], ServerRepo],
                                          make_repo: Callable[[str], Repository], tmp_path: Path) -> None:
    server = server_address(kind)
    client = make_repo("client")
    head = add_rows(client, "master", "dota", ROWS, "3000 games")
    client.remote.add("origin", server.address)
    script = tmp_path / "killed_push.py"
    script.write_text(KILLED_PUSH)
    proc = subprocess.Popen([sys.executable, str(script), client.path], env=python_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().split()  # type: ignore[union-attr]
        assert line[:1] == ["STALLED"], (line, proc.stderr.read())  # type: ignore[union-attr]
        sent = int(line[1]) // ROWS[0].nbytes
        # the server verified and flushed every frame that arrived; then the client dies
        wait_for(lambda: len(server.digests()) >= sent)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    partial = server.digests()
    assert 0 < len(partial) == sent < len(ROWS)
    assert server.heads() == {}                  # the branch did not move

    with open_session(server.address) as session:
        result = push_branch(client.ctx.git, client.ctx.store, session, "origin", "master", quiet=True)
    assert (result.old, result.new) == (None, head)
    assert result.samples == len(ROWS) - len(partial) < len(ROWS)      # only what was missing
    assert server.head("master") == head
    assert len(server.digests()) == len(ROWS)
    server.fsck()

    clone = Repository(tmp_path / "clone", exists=False)
    clone.clone("c", "c@x", server.address)
    clone.remote.quiet = True
    clone.remote.fetch_data("origin", "master")
    with reader(clone) as co:
        assert co["dota"].contains_remote_references is False
        assert_rows(co, "dota", ROWS)


# Runs in a child interpreter: waits for the parent's "go", then pushes.
RACING_PUSH = """
import sys
from hangar_git import Repository, NonFastForwardError
repo = Repository(sys.argv[1])
repo.remote.quiet = True
print("READY", flush=True)
sys.stdin.readline()
try:
    repo.remote.push("origin", "master")
    print("WON", flush=True)
except NonFastForwardError as exc:
    print("NON-FAST-FORWARD", exc, flush=True)
"""


def race(server: ServerRepo, tmp_path: Path, base_rows: int = 50) -> None:
    """Two clones of one base commit each commit something new and push at the same moment."""
    origin = Repository(tmp_path / "origin", exists=False)
    origin.init("o", "o@x")
    origin.remote.quiet = True
    base = add_rows(origin, "master", "dota", ROWS[:base_rows], "base")
    origin.remote.add("origin", server.address)
    origin.remote.push("origin", "master")
    heads = {}
    for name, rows in (("alice", ROWS[1000:1600]), ("bob", ROWS[2000:2600])):
        repo = Repository(tmp_path / name, exists=False)
        repo.clone(name, f"{name}@x", server.address)
        heads[name] = add_rows(repo, "master", "dota", rows, f"{name}'s games", start=base_rows)
    script = tmp_path / "racing_push.py"
    script.write_text(RACING_PUSH)
    procs = {name: subprocess.Popen([sys.executable, str(script), str(tmp_path / name)], env=python_env(),
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True) for name in heads}
    try:
        for p in procs.values():
            assert p.stdout.readline().strip() == "READY"  # type: ignore[union-attr]
        for p in procs.values():
            p.stdin.write("go\n")  # type: ignore[union-attr]
            p.stdin.flush()  # type: ignore[union-attr]
        outputs = {name: p.communicate(timeout=120) for name, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.communicate()
    for name, (out, err) in outputs.items():
        assert procs[name].returncode == 0, err
    verdicts = {name: out.split()[0] for name, (out, _) in outputs.items()}
    assert sorted(verdicts.values()) == ["NON-FAST-FORWARD", "WON"], outputs
    winner = next(name for name, v in verdicts.items() if v == "WON")
    assert server.head("master") == heads[winner] != base
    server.fsck()
    # the server holds every sample of its branch
    rows = ROWS[1000:1600] if winner == "alice" else ROWS[2000:2600]
    with server.open().checkout() as co:
        assert co["dota"].contains_remote_references is False
        assert_rows(co, "dota", np.concatenate([ROWS[:base_rows], rows]))


@pytest.mark.parametrize("kind", ["path", "hangarssh"])
def test_two_concurrent_pushers_of_one_branch(kind: str, server_address: Callable[[str], ServerRepo],
                                              tmp_path: Path) -> None:
    race(server_address(kind), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_concurrent_pushers_repeatedly(kind: str, server_address: Callable[[str], ServerRepo],
                                       tmp_path: Path) -> None:
    for i in range(8):
        race(server_address(kind), tmp_path / f"round{i}")
