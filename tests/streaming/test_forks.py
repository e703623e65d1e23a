"""DataLoader workers forked while a streaming checkout's process is still opening its
connection (nothing read yet, nothing imported for it yet: a fresh interpreter), and workers
whose remote never answers: every batch arrives, or a stream-timeout error does; nothing hangs."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Callable

import pytest

from hangar_git import RemoteError, make_torch_dataset
from hangar_git.api.column_reads import recorded_digest
from hangar_git.transport import connect

from ..subprocesses import python_env
from .conftest import ROWS, Streamed

torch = pytest.importorskip("torch")

SILENT = "import time; time.sleep(20)"
"""A local server that starts and never says a word."""
DEADLINE = 60
"""Seconds a fresh interpreter's epoch may take before the test calls it hung (it takes 5-10)."""

EPOCH = """
import sys
import time
import numpy as np
import torch
from torch.utils.data import DataLoader
from hangar_git import Repository, make_torch_dataset

# batches come back through files, not torch's passing of descriptors: under load (1 run in
# about 10 beside two busy cores) the parent waited for ever in that hand-over (answer_challenge
# of multiprocessing's resource sharer, no thread of ours involved), which is not what is tested
torch.multiprocessing.set_sharing_strategy("file_system")

class SlowImports:  # a cold disk: the modules of a connection load slowly (a second, not a moment)
    def find_spec(self, name, path=None, target=None):
        if name == "hangar_git.transport.connect":
            time.sleep(1.0)

sys.meta_path.insert(0, SlowImports())

class Rows(torch.utils.data.Dataset):  # a dataset of one's own, over the parent's column
    def __init__(self, col):
        self.col = col
    def __len__(self):
        return len(self.col)
    def __getitem__(self, i):
        return self.col[i]

co = Repository({clone!r}).checkout(branch="master", stream_from="origin", **{options!r})
if {own!r}:
    ds = Rows(co["rows"])
    loader = DataLoader(ds, batch_size=64, num_workers=2, shuffle=True, multiprocessing_context={start!r})
else:
    ds = make_torch_dataset([co["rows"]])
    loader = DataLoader(ds, batch_size=64, num_workers=2, sampler=ds.sampler(shuffle=True, seed=0),
                        multiprocessing_context={start!r})
rows = [r.tobytes() for batch in loader for r in np.asarray(batch if {own!r} else batch[0])]
print(len(rows), len(set(rows)))
co.close()
"""


def fresh_epoch(world: Streamed, start: str, own: bool = False, **options: object) -> str:
    """One epoch in a new interpreter that checks out and starts its DataLoader at once; its
    stdout. Killed with its workers (fails the test) if it has not ended after :data:`DEADLINE` s."""
    options = {"cache_bytes": 1 << 20, **options}  # requests of 128 KiB: the epoch's lead is not all of it
    code = textwrap.dedent(EPOCH).format(clone=str(world.clone.path), options=options, own=own, start=start)
    proc = subprocess.Popen([sys.executable, "-c", code], env=python_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own process group: the interpreter and its workers
        proc.communicate()
        pytest.fail(f"no epoch after {DEADLINE} s: the DataLoader's workers hang")
    assert proc.returncode == 0, err
    return out


@pytest.mark.parametrize("kind,start,own", [
    ("path", "fork", False), ("path", "fork", True), ("hangarssh", "fork", False), ("openssh", "fork", True),
    pytest.param("path", "forkserver", False, marks=pytest.mark.slow),
    pytest.param("openssh", "spawn", False, marks=pytest.mark.slow)])
def test_workers_forked_while_the_checkout_still_connects_read_every_sample(
        kind: str, start: str, own: bool, streamed: Callable[[str], Streamed]) -> None:
    """Regression (new-user report): workers forked while the checkout's background thread was
    still importing and opening its connection inherited the locks that thread held (an import's
    module lock) and waited for them forever; now a fork waits until the connection is open, and
    a child drops what it inherited of its parent's connections and threads."""
    world = streamed(kind)
    assert fresh_epoch(world, start, own).split() == [str(len(ROWS))] * 2


def test_workers_forked_before_anything_connects_without_a_directory_cache(
        streamed: Callable[[str], Streamed]) -> None:
    world = streamed("path")
    assert fresh_epoch(world, "fork", cache_dir_bytes=0).split() == [str(len(ROWS))] * 2


def test_a_remote_that_never_answers_the_connection_is_a_stream_timeout_error(
        streamed: Callable[[str], Streamed], monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: a connection that opened but never answered (a server that hangs before its
    greeting) held every read, in the reader and in each worker, forever; the stream timeout
    covers the opening too."""
    world = streamed("path")
    monkeypatch.setattr(connect, "local_server_command", lambda path: [sys.executable, "-c", SILENT])
    for options in ({}, {"cache_dir_bytes": 0}):
        with world.checkout(stream_timeout=1.5, **options) as co:
            began = time.monotonic()
            with pytest.raises(RemoteError, match=r"'origin' sent nothing for 1.5 s while .*connect"):
                co["rows", 0]
            assert time.monotonic() - began < 6
            with pytest.raises(RemoteError, match="sent nothing for 1.5 s"):
                co["rows", [1, 2]]  # at once: the same hang is not waited out twice
            assert time.monotonic() - began < 6


def test_a_worker_whose_remote_never_answers_fails_with_the_stream_timeout(
        streamed: Callable[[str], Streamed], monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: each worker's reads waited for its connection as long as the silent server
    lived (here 20 s, three times); now the DataLoader raises the worker's stream-timeout error."""
    world = streamed("path")
    monkeypatch.setattr(connect, "local_server_command", lambda path: [sys.executable, "-c", SILENT])
    with world.checkout(stream_timeout=1.5) as co:
        ds = make_torch_dataset([co["rows"]])
        loader = torch.utils.data.DataLoader(ds, batch_size=64, num_workers=2, multiprocessing_context="fork",
                                             timeout=60)
        began = time.monotonic()
        with pytest.raises(RemoteError, match=r"'origin' sent nothing for 1.5 s"):
            next(iter(loader))
        assert time.monotonic() - began < 30


def _in_forked_child(co: object, out: object) -> None:
    import os
    store = co.stream_store  # type: ignore[attr-defined]
    source = store.source
    fresh = not source.connected and not source.connecting() and store._ahead is None and not store._inflight
    try:
        row = co["rows", 7]  # type: ignore[index]
        out.put((fresh, row.tobytes(), source.connections))  # type: ignore[attr-defined]
    finally:
        os._exit(0)


def test_a_fork_waits_for_the_connection_being_opened_and_the_child_connects_anew(
        streamed: Callable[[str], Streamed]) -> None:
    """The checkout connects ahead as it opens: a fork at once waits for that connection (the parent is
    connected as the fork returns); the child uses none of it, nor the parent's read-ahead, and opens its own."""
    import multiprocessing
    world = streamed("path")
    with world.checkout() as co:
        source = co.stream_store.source
        co.stream_store.lead([recorded_digest(co["rows"], k) for k in range(200, 300)])  # a read-ahead thread too
        ctx = multiprocessing.get_context("fork")
        out = ctx.SimpleQueue()
        child = ctx.Process(target=_in_forked_child, args=(co, out))
        child.start()
        assert source.connected and not source.connecting()  # the fork waited for it
        child.join(60)
        fresh, row, connections = out.get()
        assert fresh and row == ROWS[7].tobytes()
        assert connections >= 1  # its own, opened for that read


HOOK_ORDER = """
import os, sys, threading, time
from hangar_git.forks import unforked  # before logging and concurrent.futures: their hooks come later
import logging
import concurrent.futures.thread

entered = threading.Event()
def connect():  # a connection being opened: paramiko asks logging for a logger (its lock)
    with unforked(30):
        entered.set()
        time.sleep(0.3)  # the main thread forks meanwhile
        logging.getLogger("hangar-test")
        concurrent.futures.ThreadPoolExecutor(1).submit(lambda: None).result()
threading.Thread(target=connect, daemon=True).start()
entered.wait()
t = time.monotonic()
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print(round(time.monotonic() - t, 1))
"""


def test_a_fork_waiting_for_a_connection_does_not_hold_the_locks_that_connection_takes() -> None:
    """Regression: os.fork's hooks run in reverse order of registration; logging's (and the
    thread pools') took their locks before ours waited for the connection being opened, which
    needed the logging lock: every fork waited the whole stream timeout (60 s)."""
    done = subprocess.run([sys.executable, "-c", HOOK_ORDER], capture_output=True, text=True, timeout=120,
                          env=python_env())
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) < 5, done.stdout
