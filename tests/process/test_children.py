"""Children under fork, forkserver and spawn read a repository their parent made and read.

The parent reads every sample first, so its thread pools, TileDB context and open
byte-log reader exist when it starts children (the DataLoader life cycle: the dataset
is used in the main process, then workers start). A child that hangs fails the test
through a hard timeout; a child that crashes fails it through its exit code.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import time
from typing import Any

import pygit2
import pytest

from hangar_git import Repository

from .conftest import Dataset
from .workers import Samples, fingerprint, read_fresh, worker_loop

METHODS = ["fork", "forkserver", "spawn"]
TIMEOUT = 60.0


def read_all_in_parent(dataset: Dataset) -> Samples:
    """A dataset used in this process first, as a training script does before its workers start."""
    samples = Samples(str(dataset.path), dataset.index)
    got = {samples.index[i]: fingerprint(samples[i]) for i in range(len(samples))}
    assert got == dataset.expected
    with Repository(dataset.path).checkout() as co:   # read_many: the io pool, the hash pool
        assert [fingerprint(v) for v in co.columns["big"].values()] == \
            [dataset.expected[("big", k)] for k in co.columns["big"].keys()]
    return samples


def run_workers(ctx: Any, samples: Samples, workers: int = 2) -> dict[tuple[str, str], str]:
    """DataLoader-style: ``workers`` processes read interleaved indices; hard timeout."""
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker_loop, args=(samples, list(range(w, len(samples), workers)), queue))
             for w in range(workers)]
    for p in procs:
        p.start()
    got: dict[tuple[str, str], str] = {}
    deadline = time.monotonic() + TIMEOUT
    try:
        while len(got) < len(samples):
            left = deadline - time.monotonic()
            assert left > 0 and all(p.exitcode in (None, 0) for p in procs), \
                f"workers hung or died: {[p.exitcode for p in procs]}, {len(got)}/{len(samples)} read"
            try:
                i, fp = queue.get(timeout=min(left, 1.0))
            except Exception:  # queue.Empty: look at the workers again
                continue
            assert samples.index[i] not in got, "a sample was read twice"
            got[samples.index[i]] = fp
        for p in procs:
            p.join(max(1.0, deadline - time.monotonic()))
            assert p.exitcode == 0, f"a worker ended with {p.exitcode}"
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
        queue.close()
    return got


@pytest.mark.parametrize("method", METHODS)
def test_dataloader_style_workers_read_every_sample(dataset: Dataset, method: str) -> None:
    samples = read_all_in_parent(dataset)
    assert run_workers(mp.get_context(method), samples) == dataset.expected


@pytest.mark.parametrize("method", METHODS)
def test_pool_children_open_the_repository_and_read(dataset: Dataset, method: str) -> None:
    read_all_in_parent(dataset)
    jobs = [(str(dataset.path), column, key) for column, key in dataset.index[::7] + dataset.index[-LARGE_KEYS:]]
    with mp.get_context(method).Pool(2) as pool:
        got = pool.map_async(read_fresh, jobs).get(timeout=TIMEOUT)
    assert got == [dataset.expected[(c, k)] for _, c, k in jobs]


LARGE_KEYS = 6


def test_a_child_of_a_child_reads(dataset: Dataset) -> None:
    """Pools and contexts are reset at every fork, not only the first."""
    samples = read_all_in_parent(dataset)
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_fork_again, args=(samples, queue))
    proc.start()
    try:
        assert queue.get(timeout=TIMEOUT) == [dataset.expected[k] for k in samples.index]
        proc.join(TIMEOUT)
        assert proc.exitcode == 0
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()


def _fork_again(samples: Samples, out: Any) -> None:
    [fingerprint(samples[i]) for i in range(0, len(samples), 5)]    # this child's own pools and context
    inner: Any = mp.get_context("fork").Queue()
    child = mp.get_context("fork").Process(target=worker_loop, args=(samples, range(len(samples)), inner))
    child.start()
    got = dict(inner.get(timeout=TIMEOUT) for _ in range(len(samples)))
    child.join(TIMEOUT)
    out.put([got[i] for i in range(len(samples))] if child.exitcode == 0 else [])


def test_forked_child_reads_git_objects_through_the_parents_pygit2_repository(dataset: Dataset) -> None:
    """libgit2 across fork: packs (mmap'd) and loose objects, through a handle the parent opened."""
    subprocess.run(["git", "-C", str(dataset.path), "repack", "-a", "-q"], check=True)
    git = pygit2.Repository(str(dataset.path))
    head = git.references["refs/hangar/heads/master"].peel(pygit2.Commit)
    names = sorted(_walk(git, head.tree))                       # the parent reads, so packs are mapped
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_walk_in_child, args=(git, head.id, queue))
    proc.start()
    try:
        assert queue.get(timeout=TIMEOUT) == names
        proc.join(TIMEOUT)
        assert proc.exitcode == 0
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()


def _walk(git: pygit2.Repository, tree: pygit2.Tree, prefix: str = "") -> list[str]:
    out = []
    for entry in tree:
        obj = git[entry.id]
        if isinstance(obj, pygit2.Tree):
            out += _walk(git, obj, prefix + entry.name + "/")
        else:
            out.append(f"{prefix}{entry.name}:{len(obj.data)}")
    return out


def _walk_in_child(git: pygit2.Repository, commit: Any, out: Any) -> None:
    tree = git[commit].peel(pygit2.Tree)
    mine = sorted(_walk(pygit2.Repository(git.path), tree))
    out.put(sorted(_walk(git, tree)) if mine == sorted(_walk(git, tree)) else [])


def test_bare_fork_child_that_ends_with_os_exit(dataset: Dataset) -> None:
    """os.fork() directly (as DataLoader's fork workers do underneath): read, report, os._exit."""
    samples = read_all_in_parent(dataset)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            ok = all(fingerprint(samples[i]) == dataset.expected[samples.index[i]] for i in range(len(samples)))
            os.write(write, b"ok" if ok else b"bad")
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung")
    assert os.waitstatus_to_exitcode(status) == 0
    assert os.read(read, 16) == b"ok"
    os.close(read)
