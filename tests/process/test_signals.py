"""SIGINT and SIGTERM end `git hangar server` and interrupted clients cleanly.

A server stops accepting, lets operations in flight finish (or hangs up on them after
--shutdown-timeout), exits 0 with no traceback; a client interrupted by SIGINT prints one
line and exits 130. Either way the repositories pass fsck and the operation, run again,
completes with every sample exact. Interruptions land at exact points: the fault hooks'
``HANGAR_FAULT_SIGNAL`` makes the process signal itself at a named checkpoint.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import paramiko
import pytest

from hangar_git.bookkeeping.gitrepo import GitRepo
from hangar_git.transport.framing import MAGIC
from tests.faults.world import World, assert_state, hangar_fsck, head, place, subprocess_env, wait_for_servers
from tests.sshd import free_port
from tests.subprocesses import run_python

SIGNALS = [signal.SIGINT, signal.SIGTERM]
CRASH_MARKS = ("Traceback", "Segmentation fault", "core dumped", "Fatal Python error")


def _env(fault: Optional[str] = None, sig: Optional[str] = None) -> dict[str, str]:
    env = subprocess_env(fault)
    if sig:
        env["HANGAR_FAULT_SIGNAL"] = sig
    return env


class Server:
    """A `git-hangar server` (or `git hangar server`) subprocess serving ``root``."""

    def __init__(self, root: Path, keys: Path, argv0: list[str], env: dict[str, str], *extra: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([*argv0, "server", "--ip", "127.0.0.1", "--port", str(self.port),
                                      "--root", str(root), "--authorized-keys", str(keys), *extra],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.banner = []
        while not (self.banner and self.banner[-1].startswith(f"[127.0.0.1]:{self.port} ")):
            self.banner.append(self.proc.stderr.readline())  # type: ignore[union-attr]
            assert self.banner[-1] and len(self.banner) < 50, self.banner

    def stop(self, sig: int, timeout: float = 30) -> tuple[int, str]:
        """Send ``sig``; the exit status and the rest of stderr (fails on a hang)."""
        self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout: float = 30) -> tuple[int, str]:
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            pytest.fail("the server did not stop")
        return self.proc.returncode, err


@pytest.fixture
def served(world: World, tmp_path: Path, sshd_server: Any) -> Iterator[tuple[Path, Path]]:
    """(root, authorized_keys): a root with ``team.git`` at c0; known_hosts restored after."""
    root = tmp_path / "root"
    root.mkdir()
    place(world.server["c0"], root / "team.git")
    keys = tmp_path / "authorized_keys"
    keys.write_text(Path(sshd_server.client_pub_key_path).read_text())
    known = Path(os.path.expanduser("~/.ssh/known_hosts"))
    saved = known.read_text()
    started: list[Server] = []
    yield root, keys
    known.write_text(saved)
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.communicate()


def _client(world: World, tmp_path: Path, port: int, user: str) -> Path:
    client = place(world.client["c1"], tmp_path / "client")
    git = GitRepo.discover(str(client))
    assert git is not None
    git.config_set("hangar-remote.origin.url", f"ssh://{user}@127.0.0.1:{port}/team.git")
    return client


def _push(client: Path, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["git", "hangar", "-q", "push", "--trust-host-key", "origin", "master"], cwd=client,
                          env=_env(), capture_output=True, text=True, timeout=120)
    assert not ok or done.returncode == 0, done.stderr
    return done


def _clean(err: str) -> None:
    assert not any(mark in err for mark in CRASH_MARKS), err
    assert "hangar server: stopped" in err, err


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_signal_stops_a_server_that_has_served(sig: signal.Signals, served: tuple[Path, Path], world: World,
                                               tmp_path: Path, sshd_server: Any) -> None:
    server = Server(*served, ["git-hangar"], _env())
    client = _client(world, tmp_path, server.port, sshd_server.user)
    _push(client)                                         # the server's store, pools and context exist
    code, err = server.stop(sig)
    assert code == 0, err
    _clean(err)
    hangar_fsck(served[0] / "team.git")
    assert_state(served[0] / "team.git", world.commits["c1"], world.data.states["c1"])


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_signal_through_git_stops_the_server(sig: signal.Signals, served: tuple[Path, Path], world: World,
                                             tmp_path: Path, sshd_server: Any) -> None:
    """`git hangar server`: git passes the signal on, waits for the server, then ends by the
    same signal itself (git's convention for its dashed commands)."""
    server = Server(*served, ["git", "hangar"], _env())
    _push(_client(world, tmp_path, server.port, sshd_server.user))
    code, err = server.stop(sig)
    assert code == -sig, err
    _clean(err)
    hangar_fsck(served[0] / "team.git")


@pytest.mark.parametrize("sig", ["INT", "TERM"])
def test_signal_during_a_push_lets_it_finish(sig: str, served: tuple[Path, Path], world: World,
                                             tmp_path: Path, sshd_server: Any) -> None:
    """The server signals itself once it has verified the push's first data batch."""
    server = Server(*served, ["git-hangar"], _env("store.batch.verified", sig))
    client = _client(world, tmp_path, server.port, sshd_server.user)
    _push(client)                                         # finishes: the server waits for it
    code, err = server.wait()
    assert code == 0, err
    _clean(err)
    hangar_fsck(served[0] / "team.git")
    assert head(served[0] / "team.git") == world.commits["c1"]
    assert_state(served[0] / "team.git", world.commits["c1"], world.data.states["c1"])


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_signal_abandons_a_stalled_client_after_the_timeout(sig: signal.Signals, served: tuple[Path, Path],
                                                            sshd_server: Any) -> None:
    server = Server(*served, ["git-hangar"], _env(), "--shutdown-timeout", "1")
    ssh = paramiko.SSHClient()
    ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    ssh.connect("127.0.0.1", server.port, username=sshd_server.user, key_filename=str(sshd_server.client_key_path),
                allow_agent=False, look_for_keys=False)
    try:
        chan = ssh.get_transport().open_session()  # type: ignore[union-attr]
        chan.exec_command("git-hangar serve /team.git")
        chan.sendall(MAGIC[:2])                           # half a frame, then nothing
        time.sleep(0.5)
        started = time.monotonic()
        code, err = server.stop(sig)
        assert time.monotonic() - started < 15
    finally:
        ssh.close()
    assert code == 0, err
    _clean(err)
    hangar_fsck(served[0] / "team.git")


# -- clients -----------------------------------------------------------------------------------------
def _one_line_interrupt(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 130, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: interrupted"), done.stderr


def test_sigint_during_push(world: World, tmp_path: Path) -> None:
    server = place(world.server["c0"], tmp_path / "server")
    client = place(world.client["c1"], tmp_path / "client", remote=server)
    done = subprocess.run(["git-hangar", "-q", "push", "origin", "master"], cwd=client, capture_output=True,
                          text=True, env=_env("push.between_data_frames", "INT"), timeout=120)
    _one_line_interrupt(done)
    wait_for_servers(server)
    hangar_fsck(client)
    hangar_fsck(server)
    assert head(server) == world.commits["c0"]                  # nothing half-kept
    subprocess.run(["git-hangar", "-q", "push", "origin", "master"], cwd=client, env=_env(), check=True)
    assert_state(server, world.commits["c1"], world.data.states["c1"])


def test_sigint_during_fetch_data(world: World, tmp_path: Path) -> None:
    server = place(world.server["c1"], tmp_path / "server")
    clone = place(world.clone_c1_nodata, tmp_path / "clone", remote=server)
    done = subprocess.run(["git-hangar", "-q", "fetch-data", "origin", "master"], cwd=clone, capture_output=True,
                          text=True, env=_env("fetch_data.between_frames", "INT"), timeout=120)
    _one_line_interrupt(done)
    wait_for_servers(server)
    hangar_fsck(clone)
    subprocess.run(["git-hangar", "-q", "fetch-data", "origin", "master"], cwd=clone, env=_env(), check=True)
    assert_state(clone, world.commits["c1"], world.data.states["c1"])


def test_the_store_installs_no_signal_handlers(world: World, tmp_path: Path) -> None:
    """TileDB's own handlers (``sm.enable_signal_handlers``) stay off: the C-level handlers
    of SIGINT and SIGTERM are the same after the store was written and read as before."""
    repo = place(world.client["c1"], tmp_path / "repo")
    run_python(f"""
        import ctypes, signal
        class Action(ctypes.Structure):
            _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * 16),
                        ("flags", ctypes.c_int), ("restorer", ctypes.c_void_p)]
        def handlers():
            libc, out = ctypes.CDLL(None), []
            for sig in (signal.SIGINT, signal.SIGTERM):
                action = Action()
                assert libc.sigaction(int(sig), None, ctypes.byref(action)) == 0
                out.append(action.handler)
            return out
        before = handlers()
        import numpy as np
        from hangar_git import Repository
        repo = Repository({str(repo)!r})
        with repo.checkout(write=True) as co:
            co.columns["big"]["new"] = np.ones((512, 640), np.float32)
            co.commit("more")
        with repo.checkout() as co:
            for name in co.columns:
                list(co.columns[name].values())
        assert handlers() == before, (before, handlers())
        """, _env())
