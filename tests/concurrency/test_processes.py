"""Concurrency with real processes: each side either succeeds or fails cleanly, and the
repositories stay consistent (``repo.fsck()``, ``git fsck --full``, every sample exact).

* readers iterating while a writer commits over and over (pack merges included): a reader
  always sees one whole commit;
* processes racing for the write checkout: exactly one wins, the others get
  WriterLockError naming it; a killed winner's lock is recovered with a warning;
* two clients pushing the same branch at once: one wins, the other gets non-fast-forward;
* fetch-data from a server while a push lands on it: both succeed.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from hangar_git import Repository

from tests.faults.world import (World, assert_state, git_fsck, hangar_fsck, head, place, subprocess_env,
                                wait_for_servers, write_state)

COMMITS = 20          # writer commits while readers read (a pack merge happens past 16 packs)
READERS = 3


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=30)


def spawn(procs: list, code: str, *args: object, stdin: bool = False) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                         env=subprocess_env(), stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(p)
    return p


def finish(p: subprocess.Popen, timeout: float = 240) -> str:
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, f"{p.args[3:]} failed ({p.returncode}):\n{out}\n{err}"
    return out


# -- readers while a writer commits -------------------------------------------------------------
WRITER = """
    import sys
    import numpy as np
    from hangar_git import Repository
    repo = Repository(sys.argv[1])
    for i in range(1, int(sys.argv[2]) + 1):
        with repo.checkout(write=True) as co:
            with co["v"] as col:
                for k in range(10):
                    col[f"k{k}"] = np.full(256, i, np.int32)
                col[f"c{i}"] = np.full(256, i, np.int32)
            co["big"]["x"] = np.random.default_rng(i).standard_normal((600, 600)).astype(np.float32)
            co.metadata["i"] = str(i)
            co.commit(f"commit {i}")
"""

READER = """
    import os, sys
    import numpy as np
    from hangar_git import Repository
    path, stop, fresh = sys.argv[1], sys.argv[2], sys.argv[3] == "fresh"
    repo = Repository(path)
    checks, seen = 0, set()
    while not os.path.exists(stop) or checks < 2:
        if fresh:
            repo = Repository(path)
        with repo.checkout(branch="master") as co:
            i = int(co.metadata["i"])
            col = co["v"]
            want = {f"k{k}": i for k in range(10)}
            want.update({f"c{j}": j for j in range(i + 1)})
            assert sorted(col.keys()) == sorted(want), (i, sorted(col.keys()))
            for key, value in col.items():
                assert value.shape == (256,) and (value == want[key]).all(), (i, key, value[:3])
            for key in list(want)[:5]:
                assert (col[key] == want[key]).all(), (i, key)
            big = co["big"]["x"]
            assert np.array_equal(big, np.random.default_rng(i).standard_normal((600, 600)).astype(np.float32)), i
        checks += 1
        seen.add(i)
    print(checks, len(seen))
"""


@pytest.mark.parametrize("commits", [pytest.param(COMMITS, id="default"),
                                     pytest.param(3 * COMMITS, id="long", marks=pytest.mark.slow)])
def test_readers_see_whole_commits_while_a_writer_commits(commits: int, tmp_path: Path, procs: list) -> None:
    path = tmp_path / "repo"
    repo = Repository(path, exists=False)
    repo.init("t", "t@x")
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("v", prototype=np.zeros(256, np.int32))
        for k in range(10):
            co["v"][f"k{k}"] = np.full(256, 0, np.int32)
        co["v"]["c0"] = np.full(256, 0, np.int32)
        co.add_ndarray_column("big", prototype=np.zeros((600, 600), np.float32))
        co["big"]["x"] = np.random.default_rng(0).standard_normal((600, 600)).astype(np.float32)
        co.metadata["i"] = "0"
        co.commit("commit 0")
    stop = tmp_path / "stop"
    readers = [spawn(procs, READER, path, stop, "fresh" if n == 0 else "reuse") for n in range(READERS)]
    writer = spawn(procs, WRITER, path, commits)
    finish(writer)
    stop.touch()
    seen = [tuple(map(int, finish(r).split())) for r in readers]
    assert all(checks >= 2 for checks, _ in seen), seen
    assert any(distinct >= 2 for _, distinct in seen), f"no reader overlapped the writer: {seen}"
    hangar_fsck(path)
    with Repository(path).checkout() as co:
        assert co.metadata["i"] == str(commits) and len(co["v"]) == 11 + commits


# -- racing for the write checkout -----------------------------------------------------------------
CONTENDER = """
    import os, sys, time, warnings
    from hangar_git import Repository
    from hangar_git.errors import WriterLockError
    path, go = sys.argv[1], sys.argv[2]
    repo = Repository(path)
    while not os.path.exists(go):
        time.sleep(0.001)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            co = repo.checkout(write=True)
    except WriterLockError as exc:
        print("lost", exc.holder, "|", exc, flush=True)
        sys.exit(0)
    print("won", os.getpid(), "|", "; ".join(str(w.message) for w in caught), flush=True)
    sys.stdin.readline()
    co.close()
    print("released", flush=True)
"""


@pytest.mark.parametrize("round_", range(3))
def test_exactly_one_of_several_processes_gets_the_writer(round_: int, tmp_path: Path, procs: list) -> None:
    path = tmp_path / "repo"
    Repository(path, exists=False).init("t", "t@x")
    go = tmp_path / "go"
    contenders = [spawn(procs, CONTENDER, path, go, stdin=True) for _ in range(3)]
    time.sleep(1.0)  # all are waiting for the go file
    go.touch()
    lines = {p.pid: p.stdout.readline().strip() for p in contenders}  # type: ignore[union-attr]
    winners = [pid for pid, line in lines.items() if line.startswith("won")]
    assert len(winners) == 1, lines
    winner = next(p for p in contenders if p.pid == winners[0])
    for pid, line in lines.items():
        if pid != winner.pid:
            assert line.startswith(f"lost pid {winner.pid} on "), line
            assert "another writer holds this repository" in line
    # a live holder is never robbed
    late = spawn(procs, CONTENDER, path, go, stdin=True)
    assert late.stdout.readline().startswith(f"lost pid {winner.pid} ")  # type: ignore[union-attr]
    if round_ == 2:  # the holder dies: its lock is recovered, with a warning naming it
        winner.kill()
        winner.communicate(timeout=30)
        heir = spawn(procs, CONTENDER, path, go, stdin=True)
        line = heir.stdout.readline().strip()  # type: ignore[union-attr]
        assert line.startswith("won") and f"recovered a stale writer lock left by pid {winner.pid}" in line
        heir.communicate("\n", timeout=30)
    else:
        out, _ = winner.communicate("\n", timeout=30)
        assert out.strip() == "released"
        free = spawn(procs, CONTENDER, path, go, stdin=True)
        line = free.stdout.readline().strip()  # type: ignore[union-attr]
        assert line.startswith("won") and line.endswith("|"), line  # no stale-lock warning
        free.communicate("\n", timeout=30)
    for p in contenders + [late]:
        p.communicate(timeout=30)
    assert not (path / ".git" / "hangar" / "writer.lock").exists()


# -- two clients pushing one branch ----------------------------------------------------------------
def _diverging_clients(world: World, tmp: Path, server: Path) -> dict[str, tuple[Path, str, dict]]:
    """Two clients at c1, each with its own new commit (5 MB of new data) on master."""
    out = {}
    for name in ("a", "b"):
        path = place(world.client["c1"], tmp / f"client-{name}", remote=server)
        rng = np.random.default_rng(ord(name))
        state = {**world.data.states["c1"],
                 name: {f"x{i}": rng.standard_normal((512, 640)).astype(np.float32) for i in range(4)}}
        digest = write_state(Repository(path), {name: state[name]}, f"client {name}")
        out[name] = (path, digest, state)
    return out


def _git_hangar_popen(procs: list, cwd: Path, *args: str) -> subprocess.Popen:
    p = subprocess.Popen(["git-hangar", "-q", *args], cwd=cwd, env=subprocess_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(p)
    return p


@pytest.mark.parametrize("round_", [pytest.param(i, id=f"r{i}", marks=() if i < 2 else pytest.mark.slow)
                                    for i in range(6)])
def test_two_clients_push_the_same_branch(round_: int, world: World, tmp_path: Path, procs: list) -> None:
    server = place(world.server["c1"], tmp_path / "server")
    clients = _diverging_clients(world, tmp_path, server)
    order = ["a", "b"] if round_ % 2 == 0 else ["b", "a"]
    running = {}
    for name in order:
        running[name] = _git_hangar_popen(procs, clients[name][0], "push", "origin", "master")
        time.sleep(0.05 * (round_ // 2))
    results = {name: (p.wait(timeout=240), p.stderr.read()) for name, p in running.items()}  # type: ignore[union-attr]
    wait_for_servers(server)
    winners = [n for n, (code, _) in results.items() if code == 0]
    assert len(winners) == 1, results
    loser = "b" if winners[0] == "a" else "a"
    code, err = results[loser]
    assert code == 1 and "non-fast-forward" in err and err.count("\n") == 1, err
    path, digest, state = clients[winners[0]]
    assert head(server) == digest
    hangar_fsck(server)
    assert_state(server, digest, state)
    assert_state(server, world.commits["c1"], world.data.states["c1"])
    hangar_fsck(clients[loser][0])


# -- fetch-data while a push lands -------------------------------------------------------------------
@pytest.mark.parametrize("round_", [pytest.param(i, id=f"r{i}", marks=() if i < 1 else pytest.mark.slow)
                                    for i in range(4)])
def test_fetch_data_while_a_push_lands(round_: int, world: World, tmp_path: Path, procs: list) -> None:
    server = place(world.server["c1"], tmp_path / "server")
    reader = place(world.clone_c1_nodata, tmp_path / "reader", remote=server)
    pusher = place(world.client["c2"], tmp_path / "pusher", remote=server)
    fetcher = _git_hangar_popen(procs, reader, "fetch-data", "origin", "master")
    time.sleep(0.1 * round_)
    push = _git_hangar_popen(procs, pusher, "push", "origin", "master")
    for p in (fetcher, push):
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    wait_for_servers(server)
    assert head(server) == world.commits["c2"]
    for repo in (server, reader, pusher):
        hangar_fsck(repo)
    assert_state(server, world.commits["c2"], world.data.states["c2"])
    assert_state(reader, world.commits["c1"], world.data.states["c1"])
    r = Repository(reader)
    r.remote.quiet = True
    r.remote.fetch("origin", "master")
    r.remote.fetch_data("origin", commit=world.commits["c2"])
    assert_state(reader, world.commits["c2"], world.data.states["c2"])
    git_fsck(reader)
