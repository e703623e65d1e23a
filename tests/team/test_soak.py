"""Soak (``--slow``): a long-running `git hangar server`, many client processes, restarts.

CLIENTS processes run for SOAK_SECONDS against one server (loopback only) while it is
stopped with SIGTERM and started again RESTARTS times on the same port. Each client loops:
push a commit to its own branch; push to a branch name every client races for; fetch a
neighbour's branch and fetch-data it, checking the values. Every operation must either
succeed, lose a race as non-fast-forward, or find the server unreachable (a restart);
nothing else. At the end: each server exit was 0, every race had at most one winner (exactly
one where no push of it met a restart), each client's branch on the server is the last
head it pushed (or one whose answer a restart cut off), the server repository passes fsck
with every sample present, the audit log is well-formed JSON, and the server's memory
stayed bounded. Bounded in time (SOAK_SECONDS, a deadline per client) and in count.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import socket
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hangar_git import Repository

from .conftest import TeamKeys, start_server, stop_server

CLIENTS = 6
RESTARTS = 3
SOAK_SECONDS = float(os.environ.get("HANGAR_SOAK_SECONDS", "150"))
ROWS = 20
PEAK_RSS_LIMIT = 1 << 30
"""The server's peak resident memory over the whole soak (a small repository: far below)."""


def _rows(start: int) -> np.ndarray:
    return np.random.default_rng(start).integers(0, 256, size=(ROWS, 8), dtype=np.uint8)


def _commit(repo: Any, branch: str, start: int) -> str:
    rows = _rows(start)
    with repo.checkout(write=True, branch=branch) as co:
        with co.columns["x"] as col:
            col.update({start + i: rows[i] for i in range(ROWS)})
        return str(co.commit(f"{ROWS} rows from {start}"))


def _client(k: int, url: str, tmp: str, home: dict[str, str], stop_at: float, out: Any) -> None:
    """One client: (op, outcome, detail) tuples on ``out``, then ("done", k, heads)."""
    import warnings
    warnings.simplefilter("ignore")
    os.environ.update(home)
    from hangar_git import BranchNotFoundError, NonFastForwardError, RemoteError

    def attempt(op: str, fn: Any) -> Any:
        try:
            result = fn()
        except NonFastForwardError as exc:
            out.put((op, "nonff", str(exc)[:200]))
        except BranchNotFoundError as exc:
            out.put((op, "absent", str(exc)[:200]))
        except RemoteError as exc:  # the server is restarting: connection refused or cut
            out.put((op, "unreachable", str(exc)[:200]))
        except Exception as exc:  # anything else fails the soak
            out.put((op, "error", f"{type(exc).__name__}: {exc}"[:500]))
        else:
            out.put((op, "ok", ""))
            return result
        return None

    repo = Repository(os.path.join(tmp, f"client{k}"), exists=False)
    repo.init(f"c{k}", f"c{k}@hangar.invalid")
    repo.remote.quiet = True
    repo.remote.add("origin", url)
    while attempt("clone", lambda: repo.remote.fetch("origin", "master")) is None:
        if time.time() > stop_at:
            out.put(("done", k, {}))
            return
        time.sleep(0.5)
    base = repo.ctx.git.get_ref("refs/hangar/remotes/origin/master")
    repo.create_branch(f"b{k}", base)
    pushed: dict[str, list[str]] = {"ok": [], "tried": []}  # heads of b<k>: answered, attempted
    rnd = 0
    while time.time() < stop_at:
        rnd += 1
        head = _commit(repo, f"b{k}", 1_000_000 * (k + 1) + 100 * rnd)
        pushed["tried"].append(head)
        if attempt("push", lambda: repo.remote.push("origin", f"b{k}")) is not None:
            pushed["ok"].append(head)
        race = f"race{rnd}"
        repo.create_branch(race, base)
        _commit(repo, race, 1_000_000 * (k + 1) + 100 * rnd + 50)
        attempt(f"race:{race}", lambda: repo.remote.push("origin", race))
        neighbour = f"b{(k + 1) % CLIENTS}"
        if attempt("fetch", lambda: repo.remote.fetch("origin", neighbour)) is None:
            continue
        if attempt("fetch-data", lambda: repo.remote.fetch_data("origin", branch=f"origin/{neighbour}")) is None:
            continue
        with repo.checkout(branch=f"origin/{neighbour}") as co:
            col = co.columns["x"]
            newest = max(int(key) for key in col.keys())
            start = newest - newest % 100  # the neighbour's latest commit: keys start .. start + ROWS
            for i in range(ROWS):
                if newest >= 1_000_000 and not (col[start + i] == _rows(start)[i]).all():
                    out.put(("verify", "error", f"sample {start + i} of {neighbour} has wrong values"))
    out.put(("done", k, pushed))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


@pytest.mark.slow
def test_soak_many_clients_and_restarts(team_keys: TeamKeys, sshd_server: Any, tmp_path: Path) -> None:
    state, root, work = tmp_path / "state", tmp_path / "root", tmp_path / "clients"
    for d in (state, root, work):
        d.mkdir()
    keys = state / "authorized_keys"
    keys.write_text(team_keys.public_line("alice"))
    port = _free_port()
    args = ("--port", str(port), "--root", str(root), "--authorized-keys", str(keys),
            "--log", str(state / "audit.log"), "--host-key", str(state / "host_key"))
    Repository(root / "soak.git", exists=False).init("s", "s@hangar.invalid", bare=True)

    def start() -> Any:
        return start_server(state, *args)  # the same port each time: clients keep their address

    proc, banner = start()
    line = banner.strip().splitlines()[-1] + "\n"
    known = Path(sshd_server.known_hosts_path)
    with known.open("a") as fh:
        fh.write(line)
    url = f"ssh://alice.team:{port}/soak.git"
    exits, peaks = [], []
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    workers: list[Any] = []
    try:
        seed = Repository(work / "seed", exists=False)
        seed.init("seed", "seed@hangar.invalid")
        seed.remote.quiet = True
        with seed.checkout(write=True) as co:
            co.add_ndarray_column("x", prototype=_rows(0)[0])
            with co.columns["x"] as col:
                col.update({i: row for i, row in enumerate(_rows(0))})
            co.commit("seed")
        seed.remote.add("origin", url)
        seed.remote.push("origin", "master")
        home = {k: os.environ[k] for k in ("HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "PATH")
                if k in os.environ}
        stop_at = time.time() + SOAK_SECONDS
        workers = [ctx.Process(target=_client, args=(k, url, str(work), home, stop_at, out), daemon=True)
                   for k in range(CLIENTS)]
        for w in workers:
            w.start()
        for _ in range(RESTARTS):
            time.sleep(SOAK_SECONDS / (RESTARTS + 1))
            peaks.append(_peak_rss(proc.pid))
            proc.send_signal(signal.SIGTERM)
            exits.append(proc.wait(timeout=60))
            proc, _ = start()
        results: list[tuple] = []
        done: dict[int, dict[str, list[str]]] = {}
        deadline = time.monotonic() + SOAK_SECONDS + 300
        while len(done) < CLIENTS and time.monotonic() < deadline:
            item = out.get(timeout=max(1.0, deadline - time.monotonic()))
            if item[0] == "done":
                done[item[1]] = item[2]
            else:
                results.append(item)
        for w in workers:
            w.join(timeout=60)
        peaks.append(_peak_rss(proc.pid))
    finally:
        for w in workers:
            if w.is_alive():
                w.kill()
        stop_server(proc)
        known.write_text(known.read_text().replace(line, ""))
    exits.append(proc.returncode)

    assert exits == [0] * (RESTARTS + 1), f"server exit statuses: {exits}"
    assert sorted(done) == list(range(CLIENTS)), f"clients that finished: {sorted(done)}"
    assert [w.exitcode for w in workers] == [0] * CLIENTS
    errors = [r for r in results if r[1] == "error"]
    assert not errors, errors[:5]
    count = defaultdict(int)
    for op, outcome, _ in results:
        count[(op.split(":")[0], outcome)] += 1
    assert count[("push", "ok")] >= CLIENTS * 2 and count[("fetch-data", "ok")] >= CLIENTS, dict(count)
    races: dict[str, list[str]] = defaultdict(list)
    for op, outcome, _ in results:
        if op.startswith("race:"):
            races[op[5:]].append(outcome)
    for name, outcomes in races.items():
        assert outcomes.count("ok") <= 1, (name, outcomes)
        assert set(outcomes) <= {"ok", "nonff", "unreachable"}, (name, outcomes)
        if "unreachable" not in outcomes:
            assert outcomes.count("ok") == 1, (name, outcomes)

    server = Repository(root / "soak.git")
    for k, pushed in done.items():
        if not pushed["tried"]:
            continue
        head = server.ctx.git.get_ref(f"refs/hangar/heads/b{k}")
        answered = pushed["ok"][-1] if pushed["ok"] else None
        later = pushed["tried"][pushed["tried"].index(answered) + 1:] if answered else pushed["tried"]
        assert head == answered or head in later, (k, head, answered)
    report = server.fsck()
    assert report.ok, report.problems[:5]
    assert report.remote_references == 0
    for entry in (state / "audit.log").read_text().splitlines():
        line_obj = json.loads(entry)
        assert {"time", "key", "op", "result"} <= set(line_obj), line_obj
    assert max(peaks) < PEAK_RSS_LIMIT, f"server peak RSS {max(peaks) / 2**20:.0f} MB"
