"""Cost follows the change, not the repository: a push of a few samples, a no-op fetch-data and
a fetch-data of a few new samples read as many git objects and check as many digests in the
store on a repository of 40,000 samples as on one of 2,000 (issue 15, "Cost ∝ change").

Regressions: the push checked every digest of each changed shard (~150 per new sample) on both
ends, and fetch-data with nothing to fetch checked every digest of the commit in the store.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.transport.connect import open_local_session_in_process
from hangar_git.transport.fetch_data import fetch_data
from hangar_git.bookkeeping.transfer import BLOB, objects_to_send
from hangar_git.transport.push import push
from hangar_git.transport.service import RepositoryService
from tests.remote.conftest import init_bare

ADDED = 10
_CHECKS = ("missing", "absent", "describe", "contains")


@dataclass
class Counts:
    git_reads: int = 0
    digests_checked: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    raw_reads: Counter = field(default_factory=Counter)
    """How often each object was read whole from git's object database (blobs, raw objects)."""


class _CountingOdb:
    def __init__(self, inner: Any, counts: Counts) -> None:
        self._inner, self._counts = inner, counts

    def read(self, oid: Any) -> Any:
        self._counts.git_reads += 1
        self._counts.raw_reads[str(oid)] += 1
        return self._inner.read(oid)

    def __contains__(self, oid: Any) -> bool:
        return oid in self._inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _CountingRepo:
    """A pygit2 repository that counts every object it reads."""

    def __init__(self, inner: Any, counts: Counts) -> None:
        self._inner, self._counts = inner, counts
        self.odb = _CountingOdb(inner.odb, counts)

    def __getitem__(self, oid: Any) -> Any:
        self._counts.git_reads += 1
        return self._inner[oid]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _CountingStore:
    """A store that counts how many digests it is asked about."""

    def __init__(self, inner: Any, counts: Counts) -> None:
        self._inner, self._counts = inner, counts

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in _CHECKS:
            return attr

        def counted(digests: Any, *args: Any, **kwargs: Any) -> Any:
            digests = list(digests) if not hasattr(digests, "__len__") else digests
            self._counts.digests_checked += len(digests)
            self._counts.calls[name] = self._counts.calls.get(name, 0) + 1
            return attr(digests, *args, **kwargs)
        return counted


def _commit(repo: Repository, start: int, count: int) -> str:
    rows = np.random.default_rng(start).integers(0, 256, size=(count, 8), dtype=np.uint8)
    with repo.checkout(write=True) as co:
        col = co.columns["x"] if "x" in co.columns else co.add_ndarray_column("x", prototype=rows[0])
        with col:
            col.update({start + i: rows[i] for i in range(count)})
        return co.commit(f"{count} rows from {start}")


def _repo(path: Path) -> Repository:
    repo = Repository(path, exists=False)
    repo.init("c", "c@x")
    repo.remote.quiet = True
    return repo


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, tuple[Counts, Counts]]]:
    """Per repository size: (client counts, server counts) of each operation."""
    return {n: _measure(tmp_path_factory.mktemp(f"cost{n}"), n) for n in (2_000, 40_000)}


class _CountingCache:
    """A record cache that counts its look-ups (each a file opened, or a miss)."""

    def __init__(self, inner: Any, counts: Counts) -> None:
        self._inner, self._counts = inner, counts

    def get(self, oid: str) -> Any:
        self._counts.calls["record cache"] = self._counts.calls.get("record cache", 0) + 1
        return self._inner.get(oid)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _session(server: Path, counts: Counts) -> Any:
    service = RepositoryService(str(server))
    service.git._repo = _CountingRepo(service.git._repo, counts)  # type: ignore[assignment]
    service.git._record_cache = _CountingCache(service.git.record_cache, counts)  # type: ignore[assignment]
    service._store = _CountingStore(service.store, counts)  # type: ignore[assignment]
    return open_local_session_in_process(service)


def _client(repo: Repository, counts: Counts) -> tuple[Any, Any]:
    git = repo.ctx.git
    git._repo = _CountingRepo(git._repo, counts)  # type: ignore[assignment]
    return git, _CountingStore(repo.ctx.store, counts)


def _measure(tmp: Path, n: int) -> dict[str, tuple[Counts, Counts]]:
    server = init_bare(tmp / "server.git")
    local = _repo(tmp / "local")
    _commit(local, 0, n)
    with open_local_session_in_process(RepositoryService(str(server))) as s:
        push(local.ctx.git, local.ctx.store, s, "origin", "master", quiet=True)
    clone = _repo(tmp / "clone")
    clone.remote.add("origin", str(server))
    clone.remote.fetch("origin", "master")
    clone.remote.fetch_data("origin", branch="master")           # everything local, marked so
    out: dict[str, tuple[Counts, Counts]] = {}

    def run(name: str, repo: Repository, op: Any) -> None:
        mine, theirs = Counts(), Counts()
        fresh = Repository(repo.path)                                # nothing cached from before
        git, store = _client(fresh, mine)
        with _session(server, theirs) as session:
            op(fresh, git, store, session)
        out[name] = (mine, theirs)

    def fetch_all(repo: Repository, git: Any, store: Any, session: Any) -> None:
        head = git.get_ref("refs/hangar/remotes/origin/master")
        result = fetch_data(git, store, session, [head], quiet=True, presence=repo.ctx.presence)
        assert result.complete

    run("no-op fetch-data", clone, fetch_all)
    _commit(local, n, ADDED)
    sent = objects_to_send(local.ctx.git, [local.ctx.git.get_ref("refs/hangar/heads/master")],
                           [local.ctx.git.get_ref("refs/hangar/remotes/origin/master")])
    run("push", local, lambda r, g, st, s: push(g, st, s, "origin", "master", quiet=True))
    out["push"][1].calls["sent blobs"] = sum(1 for _, kind in sent if kind == BLOB)
    out["push"][1].raw_reads["sent"] = sum(out["push"][1].raw_reads[oid] for oid, kind in sent if kind == BLOB)
    clone.remote.fetch("origin", "master")
    run("fetch-data of the new samples", clone, fetch_all)
    fetched = Repository(clone.path)
    with fetched.checkout(commit=fetched.ctx.git.get_ref("refs/hangar/remotes/origin/master")) as co:
        assert len(co["x"]) == n + ADDED and not co["x"].contains_remote_references
    return out


@pytest.mark.parametrize("op", ["push", "no-op fetch-data", "fetch-data of the new samples"])
def test_cost_does_not_grow_with_the_repository(measured: dict[int, dict[str, tuple[Counts, Counts]]],
                                                op: str) -> None:
    (small_client, small_server), (big_client, big_server) = measured[2_000][op], measured[40_000][op]
    for side, small, big in (("client", small_client, big_client), ("server", small_server, big_server)):
        # each new sample is looked up about once per end (plus the pipeline's own checks)
        assert big.digests_checked <= 3 * ADDED, (op, side, big)
        # one more level of shard trees at most: a few reads per new sample, never per stored one
        assert big.git_reads <= small.git_reads + 3 * ADDED + 10, (op, side, small, big)
        assert big.git_reads <= 12 * ADDED + 40, (op, side, big)


def test_a_push_reads_each_new_shard_once(measured: dict[int, dict[str, tuple[Counts, Counts]]]) -> None:
    """Regression: the client read each new shard blob twice (to list its samples, then to send
    it) and the server read again every blob it had just received and checked, to list the
    samples its ref update must find (issue 15, the ref-update phase)."""
    for n in measured:
        client, server = measured[n]["push"]
        assert server.calls["sent blobs"] >= ADDED // 2, server.calls
        assert max(client.raw_reads.values()) == 1, (n, client.raw_reads.most_common(3))
        assert server.raw_reads["sent"] == 0, (n, server.raw_reads.most_common(3))


def test_a_server_without_a_record_cache_does_not_look_in_it(
        measured: dict[int, dict[str, tuple[Counts, Counts]]]) -> None:
    """Regression: a push's ref update opened (and missed) a record-cache file per changed
    shard on a server, which never caches records (issue 15, the ref-update phase)."""
    for n in measured:
        _, server = measured[n]["push"]
        assert server.calls["sent blobs"] >= ADDED // 2 and server.calls.get("record cache", 0) == 0, server.calls


def test_noop_fetch_data_checks_nothing(measured: dict[int, dict[str, tuple[Counts, Counts]]]) -> None:
    for n in measured:
        client, server = measured[n]["no-op fetch-data"]
        assert client.digests_checked == 0 and server.digests_checked == 0, (n, client, server)



def test_the_ref_update_looks_up_no_sample_its_push_just_sent(
        measured: dict[int, dict[str, tuple[Counts, Counts]]]) -> None:
    """Regression: the server's ref update looked up again in the store every sample the same
    session had just verified and kept; now the only look-up is the client's ``missing_data``
    (one call, the new samples) and the ref update asks the store about none of them."""
    for n in measured:
        _, server = measured[n]["push"]
        assert server.calls.get("absent") == 1 and server.digests_checked == ADDED, (n, server)


@pytest.mark.parametrize("width, first", [(8, "put_data"), (4096, "put_objects")],
                         ids=["less-data-than-records", "more-data-than-records"])
def test_a_push_sends_the_smaller_part_while_the_remote_answers_which_samples_it_lacks(
        tmp_path: Path, width: int, first: str) -> None:
    """Regressions: the client waited for the remote's ``missing_data`` answer before its store
    described the samples, and then before it sent anything (the remote sat idle for the
    round trip). The question goes out first and the store describes the samples; with more
    data than records the records follow at once, before the answer is read, and the data
    goes last; with less data, the data goes first and the records last."""
    server = init_bare(tmp_path / "server.git")
    local = _repo(tmp_path / "local")
    rows = np.random.default_rng(0).integers(0, 256, size=(ADDED, width), dtype=np.uint8)
    with local.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=rows[0])
        col.update({i: rows[i] for i in range(ADDED)})
        co.commit("rows")
    events: list[str] = []
    store = local.ctx.store
    describe = store.describe_raws

    def described(raws: Any) -> Any:
        events.append("described")
        return describe(raws)

    store.describe_raws = described  # type: ignore[method-assign]
    with open_local_session_in_process(RepositoryService(str(server))) as session:
        send, recv = session.send, session.recv

        def sent(kind: str, *args: Any, **kwargs: Any) -> None:
            events.append(f"sent {kind}")
            send(kind, *args, **kwargs)

        def received() -> Any:
            frame = recv()
            events.append(f"received {sorted(frame.header)}")
            return frame

        session.send, session.recv = sent, received  # type: ignore[method-assign]
        push(local.ctx.git, store, session, "origin", "master", quiet=True)
    asked = events.index("sent missing_data")
    assert events[asked + 1] == "described", events
    answer = events.index("received ['count']")
    second = "put_data" if first == "put_objects" else "put_objects"
    assert events.index(f"sent {first}") < events.index(f"sent {second}") < events.index("sent update_ref"), events
    if first == "put_objects":
        assert events.index("sent put_objects") < answer < events.index("sent put_data"), events
    assert Repository(server).ctx.git.get_ref("refs/hangar/heads/master") == local.ctx.git.get_ref(
        "refs/hangar/heads/master")


def test_the_ref_update_takes_what_the_records_add_from_when_they_arrived(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: the ref update read every new shard after the last byte of data (25 ms of a
    100,000-row push); the samples the new commit adds are now worked out when its records
    arrive, while the data is still on its way."""
    from hangar_git.transport import addedsamples
    server = init_bare(tmp_path / "server.git")
    local = _repo(tmp_path / "local")
    rows = np.random.default_rng(0).integers(0, 256, size=(500, 256), dtype=np.uint8)  # more data than records
    with local.checkout(write=True) as co:
        co.add_ndarray_column("x", prototype=rows[0]).update({i: rows[i] for i in range(len(rows))})
        co.commit("rows")
    events: list[str] = []
    real = addedsamples.added_since
    monkeypatch.setattr(addedsamples, "added_since", lambda *a, **k: events.append("worked out") or real(*a, **k))
    service = RepositoryService(str(server))
    for name in ("put_objects", "put_data", "update_ref"):
        method = getattr(service, name)
        monkeypatch.setattr(service, name, lambda *a, _m=method, _n=name, **k: events.append(_n) or _m(*a, **k))
    with open_local_session_in_process(service) as session:
        push(local.ctx.git, local.ctx.store, session, "origin", "master", quiet=True)
    assert events == ["put_objects", "worked out", "put_data", "update_ref"], events
    assert Repository(server).ctx.git.get_ref("refs/hangar/heads/master") == local.ctx.git.get_ref(
        "refs/hangar/heads/master")


def test_what_was_worked_out_ahead_is_used_only_for_the_same_commit_and_heads(tmp_path: Path) -> None:
    from hangar_git.transport.addedsamples import AddedSamples, added_since
    repo = _repo(tmp_path / "r")
    first = _commit(repo, 0, 20)
    second = _commit(repo, 20, 5)
    git = repo.ctx.git
    added = AddedSamples()
    added.prepare(git, [first, second], [])
    assert [k[0] for k in added._known] == [second]  # only the newest is worked out
    expected = added_since(git, second, [])
    assert len(expected) == 25
    assert (added.added(git, second, []) == expected).all()
    assert not added._known  # used once
    added.prepare(git, [second], [])
    assert len(added.added(git, second, [first])) == 5  # other heads: worked out afresh
    added.prepare(git, ["0" * 40], [])  # a commit that is not here: left to the ref update
    assert not added._known
