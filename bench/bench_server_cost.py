"""Server cost against the size of the repository: no-op operations, a small push, serve start-up.

One command: ``python -m bench --only server_cost [--quick]`` (or ``python -m bench.bench_server_cost``).

A repository of N samples (1,000,000; 100,000 with ``--quick``) of uint8[16] is pushed
to two remotes on loopback: ``git hangar server`` and a real OpenSSH sshd running
``git-hangar serve``. Each has a clone holding every sample (fetch-data done). Then,
for each remote, measured in the same run beside ``git`` doing the same over the
same sshd:

* no-op push, fetch and fetch-data (best of 5; the API in this warm process, each
  opening its own connection) -- baseline ``git push`` / ``git fetch`` with nothing
  to do, each a new ``git`` process over OpenSSH;
* a push adding 1,000 samples (best of 3 such pushes): the time before its data starts
  flowing and the ref-update phase (from the ``update_ref`` request to its answer), and the whole
  push -- baseline ``git push`` of the same git objects (the bookkeeping commit)
  to a plain bare git repository;
* ``git-hangar serve`` start-up (run with nothing on stdin, as sshd runs it, until
  it exits), wall and CPU time -- baseline ``python -c pass``;
* the SSH round trip alone, the floor under every OpenSSH figure: OpenSSH's ``ssh HOST
  true`` and our client (paramiko) running ``true`` on the same sshd, each a new connection
  -- what of a no-op is the handshake, and what is ``git-hangar serve``.

Targets (issue 15): no-op push, fetch and fetch-data < 150 ms; ref-update phase of a
1,000-sample push < 0.2 s; time before data < 0.5 s.
"""
from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from hangar_git import Repository
from hangar_git.transport.rpc import Session

from .common import Figure

ROW = 16
ADDED = 1_000
BEST_OF = 5
PUSHES = 3


@contextlib.contextmanager
def _home(tmp: Path) -> Iterator[dict[str, str]]:
    """A throwaway HOME (ssh config, known_hosts, git identity) for this process and its children."""
    home = tmp / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    (home / ".gitconfig").write_text("[user]\n\tname = bench\n\temail = bench@localhost\n")
    names = ("HOME", "SSH_AUTH_SOCK", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "PATH")
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(HOME=str(home), GIT_CONFIG_GLOBAL=str(home / ".gitconfig"), GIT_CONFIG_NOSYSTEM="1",
                      PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    os.environ.pop("SSH_AUTH_SOCK", None)
    try:
        yield {"PATH": os.environ["PATH"], "HOME": str(home), "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
               "GIT_CONFIG_NOSYSTEM": "1"}
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _hangar_server(tmp: Path, root: Path, keys: Path) -> Iterator[tuple[int, int]]:
    """``git hangar server`` on a free port (its known_hosts line added); yields its port and pid."""
    err = tmp / "server.err"
    with err.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "hangar_git", "server", "--ip", "127.0.0.1", "--port", "0",
                                 "--root", str(root), "--authorized-keys", str(keys),
                                 "--host-key", str(tmp / "host_key"), "--log", str(tmp / "audit.log")],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=fh)
    try:
        deadline = time.monotonic() + 60
        while not (m := re.search(r"^(\S*\[127\.0\.0\.1\]:(\d+) \S+ \S+)$", err.read_text(), re.M)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("git hangar server did not start:\n" + err.read_text())
            time.sleep(0.05)
        with open(Path(os.environ["HOME"]) / ".ssh" / "known_hosts", "a") as known:
            known.write(m.group(1) + "\n")
        yield int(m.group(2)), proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _repo(path: Path, bare: bool = False) -> Repository:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        repo = Repository(path, exists=False)
    repo.init("bench", "bench@localhost", remove_old=True, bare=bare)
    repo.remote.quiet = True
    return repo


def _add_rows(repo: Repository, start: int, count: int) -> str:
    rows = np.random.default_rng(start).integers(0, 256, size=(count, ROW), dtype=np.uint8)
    with repo.checkout(write=True) as co:
        col = co.columns["x"] if "x" in co.columns else co.add_ndarray_column("x", prototype=rows[0])
        with col:
            col.update({start + i: rows[i] for i in range(count)})
        return co.commit(f"rows {start}..{start + count}")


def _best(fn: Callable[[], Any], n: int = BEST_OF) -> float:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


class _Phases:
    """Times a push's requests from the client: first data sent, update_ref sent, push done."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    @contextlib.contextmanager
    def watching(self) -> Iterator["_Phases"]:
        original = Session.send
        marks = self.marks

        def send(session: Session, kind: str, *args: Any, **kwargs: Any) -> Any:
            if kind in ("put_data", "put_objects", "update_ref"):
                marks.setdefault(kind, time.perf_counter())
            return original(session, kind, *args, **kwargs)
        Session.send = send  # type: ignore[method-assign, assignment]
        try:
            yield self
        finally:
            Session.send = original  # type: ignore[method-assign]


def _git(env: dict[str, str], *args: str, cwd: Path | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def _measure_remote(label: str, local: Repository, clone: Repository, remote: str, start: int,
                    git_noop_push: float, git_noop_fetch: float, git_push_change: float) -> list[Figure]:
    no_push = _best(lambda: local.remote.push(remote, "master"))
    no_fetch = _best(lambda: clone.remote.fetch("origin", "master"))
    no_data = _best(lambda: clone.remote.fetch_data("origin", branch="master"))
    before_data = ref_update = whole = float("inf")
    for k in range(PUSHES):  # the best of a few pushes, each adding ADDED new samples
        _add_rows(local, start + k * ADDED, ADDED)
        phases = _Phases()
        with phases.watching():
            t0 = time.perf_counter()
            local.remote.push(remote, "master")
            t1 = time.perf_counter()
        m = phases.marks
        # data or records, whichever the push sends first (the larger goes last)
        before_data = min(before_data, min(m.get("put_data", t1), m.get("put_objects", t1)) - t0)
        ref_update = min(ref_update, t1 - m["update_ref"])
        whole = min(whole, t1 - t0)
    target = "< 150 ms"
    return [
        Figure(f"{label}: no-op push (s)", no_push, "s", "git push, nothing to send", git_noop_push, target,
               higher_is_better=False),
        Figure(f"{label}: no-op fetch (s)", no_fetch, "s", "git fetch, nothing to get", git_noop_fetch, target,
               higher_is_better=False),
        Figure(f"{label}: no-op fetch-data (s)", no_data, "s", "git fetch, nothing to get", git_noop_fetch,
               target, higher_is_better=False),
        Figure(f"{label}: push +{ADDED:,} samples, before data (s)", before_data, "s",
               "git push of the same commit", git_push_change, "< 0.5 s", higher_is_better=False),
        Figure(f"{label}: push +{ADDED:,} samples, ref update (s)", ref_update, "s",
               "git push of the same commit", git_push_change, "< 0.2 s", higher_is_better=False),
        Figure(f"{label}: push +{ADDED:,} samples, whole (s)", whole, "s",
               "git push of the same commit", git_push_change, "", higher_is_better=False),
    ]


def _cpu_of(fn: Callable[[], Any], n: int = BEST_OF) -> tuple[float, float]:
    """(best wall time, CPU time of the child processes of that best run) of ``fn``."""
    best = (float("inf"), 0.0)
    for _ in range(n):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        fn()
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, (wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime))
    return best


def _serve_startup(path: Path) -> list[Figure]:
    exe = os.path.join(os.path.dirname(sys.executable), "git-hangar")
    serve, serve_cpu = _cpu_of(lambda: subprocess.run([exe, "serve", str(path)], stdin=subprocess.DEVNULL,
                                                      capture_output=True, check=True))
    bare, bare_cpu = _cpu_of(lambda: subprocess.run([sys.executable, "-c", "pass"], capture_output=True,
                                                    check=True))
    return [Figure("git-hangar serve start-up, empty request (s)", serve, "s", "python -c pass", bare, "",
                   higher_is_better=False),
            Figure("git-hangar serve start-up, CPU (s)", serve_cpu, "s", "python -c pass, CPU", bare_cpu, "",
                   higher_is_better=False)]


def _ssh_round_trips(sshd: Any, genv: dict[str, str], git_noop_push: float) -> list[Figure]:
    """The handshake alone: OpenSSH's ``ssh HOST true`` and our paramiko client running ``true``."""
    from hangar_git.transport.connect import ssh_vendor
    openssh = _best(lambda: subprocess.run(sshd.ssh_command("true"), env=genv, check=True, capture_output=True,
                                           stdin=subprocess.DEVNULL))

    def ours() -> None:
        pipe = ssh_vendor.run_command(sshd.host, sshd.port, sshd.user, "true")
        pipe.end_input()
        while pipe.reader.read(1 << 16):
            pass
        pipe.close()
    return [Figure("OpenSSH `ssh HOST true` (s)", openssh, "s", "git push, nothing to send", git_noop_push, "",
                   higher_is_better=False),
            Figure("our SSH client running `true` (s)", _best(ours), "s", "OpenSSH `ssh HOST true`", openssh, "",
                   higher_is_better=False)]


def run(quick: bool = False) -> list[Figure]:
    from tests.sshd import start_sshd  # the same real sshd the tests use
    n = 100_000 if quick else 1_000_000
    tmp = Path(tempfile.mkdtemp(prefix="hangar-bench-cost-"))
    figs: list[Figure] = []
    print(f"   load average at start: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    try:
        with _home(tmp) as env, start_sshd(tmp / "sshd", env, client_dir=tmp / "home" / ".ssh") as sshd:
            genv = {**os.environ, "GIT_SSH_COMMAND": f"ssh -F {sshd.ssh_config_path}"}
            root = tmp / "root"
            root.mkdir()
            with _hangar_server(tmp, root, sshd.authorized_keys_path) as (port, _):
                local = _repo(tmp / "local")
                t = time.perf_counter()
                _add_rows(local, 0, n)
                print(f"   {n:,} samples written in {time.perf_counter() - t:.1f} s", file=sys.stderr)
                remotes = {"git hangar server": f"ssh://bench@127.0.0.1:{port}/srv.git",
                           "OpenSSH serve": sshd.address(root / "ossh.git")}
                _repo(root / "srv.git", bare=True)
                _repo(root / "ossh.git", bare=True)
                clones = {}
                for i, (label, address) in enumerate(remotes.items()):
                    local.remote.add(f"r{i}", address)
                    t = time.perf_counter()
                    local.remote.push(f"r{i}", "master")
                    push_s = time.perf_counter() - t
                    clone = _repo(tmp / f"clone{i}")
                    clone.remote.add("origin", address)
                    clone.remote.fetch("origin", "master")
                    t = time.perf_counter()
                    clone.remote.fetch_data("origin", branch="master")
                    print(f"   {label}: first push {push_s:.1f} s, fetch-data {time.perf_counter() - t:.1f} s",
                          file=sys.stderr)
                    clones[label] = clone
                # git's own baseline: the same bookkeeping commits pushed to a plain bare repository
                plain = root / "plain.git"
                _git(genv, "init", "-q", "--bare", str(plain))
                url = sshd.address(plain)
                _git(genv, "push", "-q", url, "refs/hangar/heads/master:refs/heads/master", cwd=local.path)
                gclone = tmp / "gclone"
                _git(genv, "clone", "-q", "--bare", url, str(gclone))
                git_noop_push = _best(lambda: _git(genv, "push", "-q", url,
                                                   "refs/hangar/heads/master:refs/heads/master", cwd=local.path))
                git_noop_fetch = _best(lambda: _git(genv, "fetch", "-q", "origin", cwd=gclone))
                start = n
                for i, (label, address) in enumerate(remotes.items()):
                    # the baseline first: git pushes the commit that adds ADDED samples
                    _add_rows(local, start, ADDED)
                    t = time.perf_counter()
                    _git(genv, "push", "-q", url, "refs/hangar/heads/master:refs/heads/master", cwd=local.path)
                    git_push = time.perf_counter() - t
                    local.remote.push(f"r{i}", "master")  # the remote catches up (not measured)
                    clones[label].remote.fetch("origin", "master")
                    clones[label].remote.fetch_data("origin", branch="master")
                    figs += _measure_remote(label, local, clones[label], f"r{i}", start + ADDED,
                                            git_noop_push, git_noop_fetch, git_push)
                    start += (PUSHES + 1) * ADDED
                figs += _serve_startup(root / "srv.git")
                figs += _ssh_round_trips(sshd, genv, git_noop_push)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"   load average at end: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    return figs


if __name__ == "__main__":
    from .common import print_table
    print_table(run(quick="--quick" in sys.argv))
