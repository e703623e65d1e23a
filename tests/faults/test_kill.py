"""Kill a real `git hangar` (or its `git-hangar serve`) with SIGKILL at every kill point of
:data:`hangar_git.faults.CHECKPOINTS`, then check that

* the repositories open, ``repo.fsck()`` and ``git fsck --full`` are clean (no ref points at
  a commit whose records are missing), on the client and on the server;
* the last committed state reads back exactly, and a ref that moved points at a complete
  new state (never a half one);
* running the interrupted operation again completes it, and every sample then equals the
  original array.

A default run tries :data:`DEFAULT` (one or two points of each operation); ``--slow`` tries
all of :data:`KILLS`.
"""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import pytest

from hangar_git import Repository
from hangar_git.errors import HangarError
from hangar_git.faults import CHECKPOINTS
from hangar_git.transport import connect

from .world import (World, assert_state, fault_hits, git_fsck, git_hangar, hangar_fsck, head, parents,
                    place, subprocess_env, wait_for_servers)

# (operation, kill point) pairs; "name:N" is the N-th time one process reaches the point.
KILLS: list[tuple[str, str]] = [
    # git hangar add small; add big; commit
    ("commit", "store.flush.after_log"),
    ("commit", "store.flush.after_index"),
    ("commit", "store.large.before_move"),
    ("commit", "store.large.before_move:4"),
    ("commit", "staging.before_ref"),
    ("commit", "commit.before_branch_ref"),
    ("commit", "commit.before_staging_drop"),
    # git hangar push origin master (the local `git-hangar serve` inherits the kill point)
    ("push", "push.after_records"),
    ("push", "push.between_data_frames"),
    ("push", "push.after_data"),
    ("push", "push.before_update_ref"),
    ("push", "store.batch.verified"),
    ("push", "store.batch.verified:2"),
    ("push", "store.flush.after_log"),
    ("push", "store.large.before_move:5"),
    ("push", "serve.update_ref.before_set_ref"),
    # push from the API in this process; only the server subprocess is armed
    ("push-server", "store.batch.verified"),
    ("push-server", "store.flush.after_index"),
    ("push-server", "store.large.before_move"),
    ("push-server", "serve.update_ref.before_set_ref"),
    # git hangar fetch origin master
    ("fetch", "fetch.between_object_frames"),
    # git hangar fetch-data origin master (client kills, and the serving side's get_data)
    ("fetch-data", "fetch_data.between_frames"),
    ("fetch-data", "store.batch.verified"),
    ("fetch-data", "store.batch.verified:2"),
    ("fetch-data", "store.flush.after_log"),
    ("fetch-data", "store.flush.after_index"),
    ("fetch-data", "store.large.before_move:3"),
    ("fetch-data", "serve.get_data.between_frames"),
]
DEFAULT = {
    ("commit", "store.large.before_move"),
    ("commit", "commit.before_branch_ref"),
    ("push", "push.after_records"),
    ("push", "push.between_data_frames"),
    ("push", "serve.update_ref.before_set_ref"),
    ("push-server", "store.batch.verified"),
    ("fetch", "fetch.between_object_frames"),
    ("fetch-data", "fetch_data.between_frames"),
}


def _params() -> list:
    return [pytest.param(op, fault, id=f"{op}-{fault}",
                         marks=() if (op, fault) in DEFAULT else pytest.mark.slow)
            for op, fault in KILLS]


def test_every_kill_point_is_tried() -> None:
    tried = {fault.split(":")[0] for _, fault in KILLS}
    assert tried == set(CHECKPOINTS)
    assert DEFAULT <= set(KILLS)


# -- operations ---------------------------------------------------------------------------------
class Operation:
    """One interruptible operation: set up, run (armed), check, run again, check."""

    def __init__(self, world: World, tmp: Path) -> None:
        self.world, self.tmp = world, tmp
        self.log = tmp / "faults.log"
        self.outputs: list[subprocess.CompletedProcess] = []

    def run(self, fault: Optional[str]) -> bool:
        """Run the steps (armed with ``fault``); False once a step fails."""
        for args, cwd in self.steps():
            result = git_hangar(*args, cwd=cwd, fault=fault, log=self.log if fault else None)
            self.outputs.append(result)
            self.settle()
            if result.returncode != 0 and not self.tolerated(args, result):
                if fault is None:
                    pytest.fail(f"`git hangar {' '.join(map(str, args))}` failed:\n{result.stderr}")
                return False
        return True

    def steps(self) -> list[tuple[list, Path]]:
        raise NotImplementedError

    def settle(self) -> None:
        """Wait for servers a killed client left running."""
        server = getattr(self, "server", None)
        if server is not None:
            wait_for_servers(server)

    def tolerated(self, args: list, result: subprocess.CompletedProcess) -> bool:
        return False

    def check_interrupted(self) -> None:
        raise NotImplementedError

    def check_done(self) -> None:
        raise NotImplementedError


class Commit(Operation):
    """`git hangar add small ...`, `add big ...`, `commit -m c1` on a repo at c0."""

    def __init__(self, world: World, tmp: Path) -> None:
        super().__init__(world, tmp)
        self.repo = place(world.client["c0"], tmp / "client")

    def steps(self) -> list[tuple[list, Path]]:
        d = self.world.data
        return [(["add", "small", *d.new_small], self.repo), (["add", "big", *d.new_big], self.repo),
                (["commit", "-m", "c1"], self.repo)]

    def tolerated(self, args: list, result: subprocess.CompletedProcess) -> bool:
        # the killed run had moved the branch already: nothing is left to commit
        return args[0] == "commit" and "nothing to commit" in result.stderr and self._landed()

    def _landed(self) -> bool:
        now = head(self.repo)
        return now is not None and now != self.world.commits["c0"]

    def check_interrupted(self) -> None:
        self._check(final=None)

    def check_done(self) -> None:
        self._check(final=True)
        rerun = self.outputs[-3]  # the first step of the run to completion
        pids = [pid for _, pid in fault_hits(self.log)]
        assert f"recovered a stale writer lock left by pid {pids[0]}" in rerun.stderr, rerun.stderr

    def _check(self, final: Optional[bool]) -> None:
        w = self.world
        hangar_fsck(self.repo)
        assert_state(self.repo, w.commits["c0"], w.data.states["c0"])
        now = head(self.repo)
        assert now is not None
        if now == w.commits["c0"]:
            assert not final
        else:
            assert parents(self.repo, now) == [w.commits["c0"]]
            assert_state(self.repo, now, w.data.states["c1"])


class Push(Operation):
    """`git hangar push origin master` of c1 to a server at c0."""

    def __init__(self, world: World, tmp: Path) -> None:
        super().__init__(world, tmp)
        self.server = place(world.server["c0"], tmp / "server")
        self.repo = place(world.client["c1"], tmp / "client", remote=self.server)

    def steps(self) -> list[tuple[list, Path]]:
        return [(["push", "origin", "master"], self.repo)]

    def check_interrupted(self) -> None:
        self._check(final=False)

    def check_done(self) -> None:
        self._check(final=True)
        assert head(self.repo, "refs/hangar/remotes/origin/master") == self.world.commits["c1"]

    def _check(self, final: bool) -> None:
        w = self.world
        for repo in (self.repo, self.server):
            hangar_fsck(repo)
        assert_state(self.repo, w.commits["c1"], w.data.states["c1"])
        now = head(self.server)
        assert now in ((w.commits["c1"],) if final else (w.commits["c0"], w.commits["c1"]))
        assert_state(self.server, w.commits["c0"], w.data.states["c0"])
        if now == w.commits["c1"]:
            assert_state(self.server, now, w.data.states["c1"])


class PushServer(Push):
    """The same push from this process's API; only the server subprocess is armed."""

    def __init__(self, world: World, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(world, tmp)
        self.monkeypatch = monkeypatch

    def run(self, fault: Optional[str]) -> bool:
        with self.monkeypatch.context() as mp:
            if fault:
                mp.setattr(connect, "local_server_command", lambda path: [
                    "env", f"HANGAR_FAULT={fault}", f"HANGAR_FAULT_LOG={self.log}",
                    sys.executable, "-m", "hangar_git", "serve", path])
            repo = Repository(self.repo)
            repo.remote.quiet = True
            try:
                repo.remote.push("origin", "master")
            except HangarError as exc:
                assert fault, exc
                assert "remote" in str(exc).lower() or "connection" in str(exc).lower(), exc
                return False
            finally:
                repo.ctx.reset_store()
        return True


class Fetch(Operation):
    """`git hangar fetch origin master` into a clone at c0 from a server at c1."""

    def __init__(self, world: World, tmp: Path) -> None:
        super().__init__(world, tmp)
        self.server = place(world.server["c1"], tmp / "server")
        self.repo = place(world.clone_c0, tmp / "client", remote=self.server)

    def steps(self) -> list[tuple[list, Path]]:
        return [(["fetch", "origin", "master"], self.repo)]

    def check_interrupted(self) -> None:
        w = self.world
        hangar_fsck(self.repo)
        assert head(self.repo) == w.commits["c0"]
        assert head(self.repo, "refs/hangar/remotes/origin/master") in (w.commits["c0"], w.commits["c1"])
        assert_state(self.repo, w.commits["c0"], w.data.states["c0"])

    def check_done(self) -> None:
        w = self.world
        assert head(self.repo, "refs/hangar/remotes/origin/master") == w.commits["c1"]
        hangar_fsck(self.repo)
        result = git_hangar("fetch-data", "origin", "--commit", w.commits["c1"], cwd=self.repo)
        assert result.returncode == 0, result.stderr
        assert_state(self.repo, w.commits["c1"], w.data.states["c1"])


class FetchData(Operation):
    """`git hangar fetch-data origin master` into a records-only clone of c1."""

    def __init__(self, world: World, tmp: Path) -> None:
        super().__init__(world, tmp)
        self.server = place(world.server["c1"], tmp / "server")
        self.repo = place(world.clone_c1_nodata, tmp / "client", remote=self.server)

    def steps(self) -> list[tuple[list, Path]]:
        return [(["fetch-data", "origin", "master"], self.repo)]

    def check_interrupted(self) -> None:
        w = self.world
        for repo in (self.repo, self.server):
            hangar_fsck(repo)
        assert head(self.repo) == w.commits["c1"]
        missing = assert_state(self.repo, w.commits["c1"], w.data.states["c1"], allow_missing=True)
        assert missing > 0  # it was interrupted
        assert_state(self.server, w.commits["c1"], w.data.states["c1"])

    def check_done(self) -> None:
        w = self.world
        hangar_fsck(self.repo)
        assert_state(self.repo, w.commits["c1"], w.data.states["c1"])


OPERATIONS: dict[str, Callable[..., Operation]] = {
    "commit": Commit, "push": Push, "fetch": Fetch, "fetch-data": FetchData}


def make_operation(op: str, world: World, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Operation:
    if op == "push-server":
        return PushServer(world, tmp, monkeypatch)
    return OPERATIONS[op](world, tmp)


# -- the tests ------------------------------------------------------------------------------------
@pytest.mark.parametrize("op,fault", _params())
def test_killed_at_a_kill_point_then_run_again(op: str, fault: str, world: World, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    operation = make_operation(op, world, tmp_path, monkeypatch)
    assert not operation.run(fault), "the armed operation should have been killed"
    assert [name for name, _ in fault_hits(operation.log)] == [fault.split(":")[0]]
    operation.check_interrupted()
    assert operation.run(None)
    operation.check_done()
    for repo in (operation.repo, getattr(operation, "server", None)):
        if repo is not None:
            git_fsck(repo)


RANDOM_KILLS = {"commit": 3, "push": 3}


@pytest.mark.parametrize("op", sorted(RANDOM_KILLS))
@pytest.mark.parametrize("round_", [pytest.param(0, id="r0")]
                         + [pytest.param(i, id=f"r{i}", marks=pytest.mark.slow) for i in range(1, 6)])
def test_killed_after_a_random_delay_then_run_again(op: str, round_: int, world: World,
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL at a random moment (not only at the named points); several per round."""
    rng = random.Random(f"{op}-{round_}")
    operation = make_operation(op, world, tmp_path, monkeypatch)
    for _ in range(RANDOM_KILLS[op]):
        for args, cwd in operation.steps():
            proc = subprocess.Popen(["git-hangar", "-q", *map(str, args)], cwd=cwd, env=subprocess_env(),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(rng.uniform(0.3, 2.5))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=60)
            operation.settle()
            if proc.returncode not in (0, -signal.SIGKILL) and not operation.tolerated(
                    args, subprocess.CompletedProcess(args, proc.returncode, "", err)):
                pytest.fail(f"`git hangar {' '.join(map(str, args))}` failed after a kill:\n{err}")
            if proc.returncode != 0:
                break
        _check_after_random_kill(operation)
    assert operation.run(None)
    if isinstance(operation, Commit):  # check_done also wants the stale-lock warning
        operation._check(final=True)
    else:
        operation.check_done()
    git_fsck(operation.repo)


def _check_after_random_kill(operation: Operation) -> None:
    if isinstance(operation, Commit):
        operation._check(final=None)
    else:
        operation.check_interrupted()
