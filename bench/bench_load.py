"""Load: 16 concurrent clients against one ``git hangar server`` on a large repository.

One command: ``python -m bench --only load [--quick]``.

The server (a subprocess, loopback only) holds master with N samples of uint8[16]
(1,000,000; 50,000 with ``--quick``). Sixteen client processes each clone it (records
only: the ``clone`` operation), then run ROUNDS rounds of, in this order:

* ``push``: a commit of 100 new samples on the client's own branch, pushed;
* ``race``: every client commits 10 samples on a new branch ``race<r>`` (the same name
  for all) and, released together by a barrier, pushes it: exactly one push may win,
  every other must be refused as non-fast-forward;
* ``fetch``: the branch another client pushed (records);
* ``fetch-data``: that branch's data: in the first round the whole commit (N samples of
  master too, since a clone has no data), later only the 100 samples it adds;
* ``stream``: 2,000 random samples of master read through a streaming checkout
  (``stream_from='origin'``, ``keep=False``) of a second clone that never fetches data, so
  every round's reads come from the server.

Recorded: operations completed and failed, racing rounds with exactly one winner, p50/p99
latency per operation, aggregate operations per second beside one client alone doing the
same (the same-run baseline), and the server's peak RSS (VmHWM). Bounded in count (ROUNDS)
and time (a deadline per client).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hangar_git import NonFastForwardError

from .bench_server_cost import _add_rows, _hangar_server, _home, _repo
from .common import Figure

CLIENTS = 16
ROUNDS = 3
DEADLINE = 900.0
STREAMED = 2_000


def _commit_on(repo: Any, branch: str, start: int, count: int) -> None:
    rows = np.random.default_rng(start).integers(0, 256, size=(count, 16), dtype=np.uint8)
    with repo.checkout(write=True, branch=branch) as co:
        with co.columns["x"] as col:
            col.update({start + i: rows[i] for i in range(count)})
        co.commit(f"{count} rows from {start}")


def _stream_reads(reader: Any, samples: int, seed: int) -> None:
    """STREAMED random samples of master, read in one call through a streaming checkout."""
    keys = np.random.default_rng(seed).choice(samples, STREAMED, replace=False).tolist()
    co = reader.checkout(branch="master", stream_from="origin")
    try:
        co["x", keys]
    finally:
        co.close()


def _client(k: int, clients: int, address: str, tmp: str, barrier: Any, out: Any, samples: int) -> None:
    """One client's whole run; puts (op, seconds, outcome) tuples on ``out``, then None."""
    import warnings
    warnings.simplefilter("ignore")
    from hangar_git import Repository
    deadline = time.monotonic() + DEADLINE

    def timed(op: str, fn: Any, expect: type[BaseException] | None = None) -> None:
        t = time.perf_counter()
        try:
            fn()
            outcome = "ok"
        except Exception as exc:  # recorded, not raised: the run goes on
            outcome = "refused" if expect is not None and isinstance(exc, expect) else f"failed: {exc!r:.200}"
        out.put((k, op, time.perf_counter() - t, outcome))

    repo = Repository(os.path.join(tmp, f"client{k}"), exists=False)
    timed("clone", lambda: repo.clone(f"c{k}", f"c{k}@x", address))
    repo.remote.quiet = True
    reader = Repository(os.path.join(tmp, f"reader{k}"), exists=False)
    timed("clone", lambda: reader.clone(f"r{k}", f"r{k}@x", address))
    master = repo.branch_head("master")
    repo.create_branch(f"own{k}", base_commit=master)
    base = 10_000_000 * (k + 1)
    for r in range(ROUNDS):
        if time.monotonic() > deadline:
            break
        _commit_on(repo, f"own{k}", base + r * 1000, 100)
        timed("push", lambda: repo.remote.push("origin", f"own{k}"))
        repo.create_branch(f"race{r}", base_commit=master)
        _commit_on(repo, f"race{r}", base + r * 1000 + 500, 10)
        if clients > 1:
            barrier.wait(120)
        timed("race", lambda: repo.remote.push("origin", f"race{r}"), NonFastForwardError)
        if clients > 1:
            barrier.wait(120)  # everyone pushed own{k} of this round: the neighbour's is there
        other = f"own{(k + 1) % clients}"
        timed("fetch", lambda: repo.remote.fetch("origin", other))
        # the first brings the whole commit (master's N samples too: a clone has no data),
        # the later ones only what the neighbour's new commit adds
        timed("fetch-data, all" if r == 0 else "fetch-data, new 100",
              lambda: repo.remote.fetch_data("origin", branch=f"origin/{other}"))
        timed(f"stream {STREAMED:,} random samples", lambda: _stream_reads(reader, samples, k * 100 + r))
    out.put(None)


def _run_clients(clients: int, address: str, tmp: str,
                 samples: int) -> tuple[list[tuple[int, str, float, str]], float]:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(clients), ctx.Queue()
    start = time.perf_counter()
    procs = [ctx.Process(target=_client, args=(k, clients, address, tmp, barrier, out, samples))
             for k in range(clients)]
    for p in procs:
        p.start()
    results, done = [], 0
    while done < clients:
        item = out.get(timeout=DEADLINE + 300)
        if item is None:
            done += 1
        else:
            results.append(item)
    for p in procs:
        p.join(60)
    return results, time.perf_counter() - start


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _figures(results: list[tuple[int, str, float, str]], wall: float, alone: tuple[list, float],
             rss: float, clients: int) -> list[Figure]:
    figs = []
    ops = sorted({op for _, op, _, _ in results})
    for op in ops:
        secs = np.array([s for _, o, s, _ in results if o == op])
        alone_secs = [s for _, o, s, _ in alone[0] if o == op]
        figs.append(Figure(f"load {clients} clients: {op} p50 (s)", float(np.percentile(secs, 50)), "s",
                           "one client alone, p50", float(np.median(alone_secs)) if alone_secs else None,
                           "", higher_is_better=False,
                           note=f"p99 {np.percentile(secs, 99):.3f} s over {len(secs)}"))
        figs.append(Figure(f"load {clients} clients: {op} p99 (s)", float(np.percentile(secs, 99)), "s",
                           higher_is_better=False))
    bad = [r for r in results if r[3].startswith("failed")]
    winners = _winners([r for r in results if r[1] == "race"])
    figs += [
        Figure(f"load {clients} clients: operations failed", len(bad), "ops", "operations completed",
               len(results) - len(bad), "0", higher_is_better=False,
               note="; ".join(r[3] for r in bad[:3])),
        Figure(f"load {clients} clients: racing rounds with exactly one winner", winners.count(1), "rounds",
               "racing rounds", len(winners), f"= {len(winners)}", note=f"winners per round {winners}"),
        Figure(f"load {clients} clients: aggregate operations/s", len(results) / wall, "/s",
               "one client alone, operations/s", len(alone[0]) / alone[1], ""),
        Figure("load: server peak RSS (MB)", rss, "MB", higher_is_better=False),
    ]
    return figs


def _winners(races: list[tuple[int, str, float, str]]) -> list[int]:
    """Winners per racing round (each client's n-th race is round n)."""
    seen: dict[int, int] = {}
    rounds: dict[int, int] = {}
    for k, _, _, outcome in races:
        r = seen.get(k, 0)
        seen[k] = r + 1
        rounds[r] = rounds.get(r, 0) + (outcome == "ok")
    return [rounds[r] for r in sorted(rounds)]


def run(quick: bool = False) -> list[Figure]:
    from tests.sshd import keygen
    n = 50_000 if quick else 1_000_000
    tmp = Path(tempfile.mkdtemp(prefix="hangar-bench-load-"))
    try:
        with _home(tmp):
            ssh = tmp / "home" / ".ssh"
            keygen(ssh / "id_ed25519", "bench")
            (ssh / "config").write_text(f"Host 127.0.0.1\n    IdentityFile {ssh / 'id_ed25519'}\n"
                                        "    IdentitiesOnly yes\n    IdentityAgent none\n")
            keys = tmp / "authorized_keys"
            keys.write_text((ssh / "id_ed25519.pub").read_text())
            root = tmp / "root"
            root.mkdir()
            with _hangar_server(tmp, root, keys) as (port, pid):
                local = _repo(tmp / "seed")
                _add_rows(local, 0, n)
                address = f"ssh://bench@127.0.0.1:{port}/data.git"
                _repo(root / "data.git", bare=True)
                local.remote.add("origin", address)
                local.remote.push("origin", "master")
                alone = _run_clients(1, address, str(tmp / "alone"), n)
                shutil.rmtree(tmp / "alone", ignore_errors=True)
                # the lone client's branches stay; the crowd pushes own0.. again on top of new ones
                _repo(root / "data.git", bare=True)
                local.remote.push("origin", "master")
                results, wall = _run_clients(CLIENTS, address, str(tmp / "crowd"), n)
                rss = _peak_rss_mb(pid)
        return _figures(results, wall, alone, rss, CLIENTS)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    from .common import print_table
    print_table(run(quick="--quick" in sys.argv))
