"""A server trusts nothing a client sends: raw protocol sessions with lying or incomplete requests.

Each test talks to a real server (``git-hangar serve`` or our SSH server)
through :func:`open_session` and checks both the error and that the
server kept nothing (store objects, git objects and branches unchanged).
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import hangar_git.transport.connect as connect_module
from hangar_git import IntegrityError, NonFastForwardError, ProtocolError, Repository
from hangar_git.bookkeeping.transfer import objects_to_send, read_raw
from hangar_git.storage import Digest, digest_of, ndarray_meta
from hangar_git.transport.connect import open_local_session_in_process, open_session
from hangar_git.transport.framing import Frame
from hangar_git.transport.rpc import Reply, Session, Stream, rpc_method
from hangar_git.transport.service import RepositoryService
from hangar_git.transport.wire import check_oids, decode_digest_list, encode_data

from .conftest import ServerRepo, add_rows, dota_rows

ROWS = dota_rows(20, np.uint16, seed=21)
# the path kind runs `git-hangar serve` in a subprocess, hangarssh our SSH server in-process
SERVER_KINDS = ("path", "hangarssh")


def sample(row: np.ndarray) -> tuple[str, str, bytes]:
    meta = ndarray_meta(row.dtype, row.shape)
    data = row.tobytes()
    return digest_of(meta, data), meta, data


def send_data(session: Session, items: list[tuple[str, str, bytes]]) -> None:
    session.send("put_data", {"count": len(items)})
    session.send("data", *encode_data([d for d, _, _ in items], [m for _, m, _ in items],
                                      [len(b) for _, _, b in items], b"".join(b for _, _, b in items)))
    session.send("end", {})


def large_files(server: ServerRepo) -> list[Path]:
    return [p for p in (server.path / "hangar" / "store" / "large").rglob("*") if p.is_file()]


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_put_data_with_a_wrong_digest_is_refused_and_nothing_is_stored(
        kind: str, server_address: Callable[[str], ServerRepo]) -> None:
    server = server_address(kind)
    good = sample(ROWS[0])
    digest, meta, data = sample(ROWS[1])
    liar = (digest, meta, data[:-1] + bytes([data[-1] ^ 1]))        # same size, one bit flipped
    with open_session(server.address) as s:
        send_data(s, [liar])
        with pytest.raises(IntegrityError, match=digest):
            s.recv()
    assert server.digests() == set()
    with open_session(server.address) as s:      # a good object before the bad one in one batch
        send_data(s, [good, liar])
        with pytest.raises(IntegrityError):
            s.recv()
    assert server.digests() == set()
    big = np.arange(300_000, dtype=np.uint64)     # a large object (its own file on the server)
    big_digest, big_meta, big_data = sample(big)
    with open_session(server.address) as s:
        send_data(s, [(big_digest, big_meta, big_data[:-8] + bytes(8))])
        with pytest.raises(IntegrityError):
            s.recv()
    assert server.digests() == set() and large_files(server) == []
    with open_session(server.address) as s:      # honest data is accepted
        send_data(s, [good])
        assert s.recv().header == {"stored": 1}
    assert server.digests() == {good[0]}


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_put_data_with_a_lying_meta_or_sizes(kind: str, server_address: Callable[[str], ServerRepo]) -> None:
    server = server_address(kind)
    digest, meta, data = sample(ROWS[0])
    other_meta = ndarray_meta(np.dtype(np.int16), ROWS[0].shape)    # same bytes, other dtype
    with open_session(server.address) as s:
        send_data(s, [(digest, other_meta, data)])
        with pytest.raises(IntegrityError):
            s.recv()
    with open_session(server.address) as s:
        s.send("put_data", {"count": 1})
        header, payload = encode_data([digest], [meta], [len(data)], data)
        s.send("data", {**header, "size": len(data) + 5}, payload)
        s.send("end", {})
        with pytest.raises(ProtocolError, match="sizes"):
            s.recv()
    assert server.digests() == set()


@pytest.fixture
def history(make_repo: Callable[[str], Repository]) -> Repository:
    repo = make_repo("client")
    add_rows(repo, "master", "dota", ROWS[:10], "ten games")
    add_rows(repo, "master", "dota", ROWS[10:], "ten more", start=10)
    return repo


def send_objects(session: Session, objects: list[tuple[str, int, bytes]]) -> None:
    session.send("put_objects", {"count": len(objects)})
    session.send("objects", {"oids": [o for o, _, _ in objects], "types": [t for _, t, _ in objects],
                             "sizes": [len(d) for _, _, d in objects]}, b"".join(d for _, _, d in objects))
    session.send("end", {})


def raw_objects(repo: Repository, head: str, haves: list[str] = []) -> list[tuple[str, int, bytes]]:
    git = repo.ctx.git
    return [(oid, *read_raw(git, oid)) for oid, _ in objects_to_send(git, [head], haves)]


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_put_objects_with_a_corrupt_git_object_is_refused(
        kind: str, server_address: Callable[[str], ServerRepo], history: Repository) -> None:
    server = server_address(kind)
    before = server.git_objects()
    head = history.branch_head("master")
    objects = raw_objects(history, head)
    commit_oid, commit_type, commit_raw = objects[-1]
    corrupt = (commit_oid, commit_type, commit_raw.replace(b"ten more", b"ten MORE"))
    with open_session(server.address) as s:
        send_objects(s, [corrupt])
        with pytest.raises(IntegrityError, match=commit_oid) as err:
            s.recv()
    assert err.value.expected == commit_oid
    assert server.git_objects() == before
    blob_oid, _, blob_raw = next(o for o in objects if o[1] == 3)
    with open_session(server.address) as s:       # a blob announced as a tree
        send_objects(s, [(blob_oid, 2, blob_raw)])
        with pytest.raises(IntegrityError):
            s.recv()
    with open_session(server.address) as s:       # an object type we never send (tag)
        send_objects(s, [(blob_oid, 4, blob_raw)])
        with pytest.raises(IntegrityError, match="unexpected type"):
            s.recv()
    assert server.git_objects() == before
    server.fsck()


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_update_ref_needs_the_data_and_the_whole_history(
        kind: str, server_address: Callable[[str], ServerRepo], history: Repository) -> None:
    server = server_address(kind)
    git = history.ctx.git
    head = history.branch_head("master")
    first = git.commit_info(head).parents[0]
    objects = raw_objects(history, head)
    # only the newest commit's own objects: its parent is missing on the server
    newest = raw_objects(history, head, [first])
    with open_session(server.address) as s:
        send_objects(s, newest)
        assert s.recv().header["stored"] == len(newest)
        with pytest.raises(IntegrityError, match=r"incomplete"):
            s.call("update_ref", {"branch": "master", "old": None, "new": head})
        assert server.heads() == {}
        # every git object, but no sample data
        send_objects(s, objects)
        s.recv()
        with pytest.raises(IntegrityError, match=r"20 sample\(s\).*not on the remote"):
            s.call("update_ref", {"branch": "master", "old": None, "new": head})
        assert server.heads() == {}
        # half the data is still not enough
        send_data(s, [sample(r) for r in ROWS[:15]])
        s.recv()
        with pytest.raises(IntegrityError, match=r"5 sample\(s\)"):
            s.call("update_ref", {"branch": "master", "old": None, "new": head})
        assert server.heads() == {}
        send_data(s, [sample(r) for r in ROWS[15:]])
        s.recv()
        # compare-and-swap: a stale "old" is refused, the right one accepted
        with pytest.raises(NonFastForwardError):
            s.call("update_ref", {"branch": "master", "old": first, "new": head})
        assert s.call("update_ref", {"branch": "master", "old": None, "new": head}).header == {
            "branch": "master", "head": head}
        with pytest.raises(NonFastForwardError):        # moving backwards is not a fast-forward
            s.call("update_ref", {"branch": "master", "old": head, "new": first})
        with pytest.raises(NonFastForwardError):        # creating it again from nothing neither
            s.call("update_ref", {"branch": "master", "old": None, "new": head})
    assert server.heads() == {"master": head}
    server.fsck()


def _alter_loose_object(repo: Repository, oid: str, old: bytes, new: bytes) -> None:
    """Rewrite loose object ``oid`` so that it still inflates, to other bytes of the same size
    (so that only hashing it again shows it no longer matches its id)."""
    import zlib
    path = Path(repo.ctx.git.git_dir) / "objects" / oid[:2] / oid[2:]
    raw = zlib.decompress(path.read_bytes())
    assert old in raw and len(old) == len(new)
    path.chmod(0o644)
    path.write_bytes(zlib.compress(raw.replace(old, new)))


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_a_push_of_a_damaged_local_object_is_refused_by_the_server(
        kind: str, server_address: Callable[[str], ServerRepo], history: Repository) -> None:
    """The sender reads the objects it sends without hashing them again (the receiver checks
    each): one that no longer matches its id is refused there and the branch does not move;
    the sender's own reads hash again once the push is over."""
    import pygit2
    server = server_address(kind)
    stats = _stats_blob(history)  # read by nothing but the sending
    history.remote.add("origin", server.address)
    _alter_loose_object(history, stats, b'"count": 20', b'"count": 21')
    with pytest.raises(IntegrityError, match=stats):
        history.remote.push("origin", "master")
    assert server.heads() == {}
    with pytest.raises(pygit2.GitError, match="hash mismatch"):
        history.ctx.git.pygit2_repo.odb.read(pygit2.Oid(hex=stats))


def _stats_blob(repo: Repository) -> str:
    """The id of the newest commit's column stats blob (``{"count": 20, ...}``)."""
    return next(oid for oid, kind, data in raw_objects(repo, repo.branch_head("master"), [])
                if kind == 3 and data.startswith(b'{"count": 20'))


def test_unverified_reads_end_with_their_last_block(history: Repository) -> None:
    """Several threads may be inside ``unverified_reads`` at once: reads hash again only
    once the last one has left."""
    import pygit2

    from hangar_git.bookkeeping.transfer import unverified_reads
    stats = _stats_blob(history)
    _alter_loose_object(history, stats, b'"count": 20', b'"count": 21')
    odb = history.ctx.git.pygit2_repo.odb

    def read() -> bytes:
        return odb.read(pygit2.Oid(hex=stats))[1]

    with pytest.raises(pygit2.GitError):
        read()
    with unverified_reads():
        with unverified_reads():
            assert b'"count": 21' in read()
        assert b'"count": 21' in read()
    with pytest.raises(pygit2.GitError):
        read()


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_a_refused_data_frame_counts_for_nothing_in_the_ref_update(
        kind: str, server_address: Callable[[str], ServerRepo], history: Repository) -> None:
    """The ref update takes the samples its session verified and kept as present without
    looking them up: a frame refused for a corrupt row must not be among them."""
    server = server_address(kind)
    head = history.branch_head("master")
    digest, meta, data = sample(ROWS[17])
    corrupt = (digest, meta, data[:-1] + bytes([data[-1] ^ 1]))
    with open_session(server.address) as s:
        send_objects(s, raw_objects(history, head))
        s.recv()
        send_data(s, [sample(r) for r in ROWS[:15]])
        assert s.recv().header["stored"] == 15
    with open_session(server.address) as s:
        send_data(s, [sample(r) for r in ROWS[15:17]] + [corrupt] + [sample(r) for r in ROWS[18:]])
        with pytest.raises(IntegrityError, match=digest):
            s.recv()
            s.recv()
    with open_session(server.address) as s:
        send_data(s, [sample(r) for r in ROWS[18:]])
        assert s.recv().header["stored"] == 2
        with pytest.raises(IntegrityError, match=r"3 sample\(s\).*not on the remote"):
            s.call("update_ref", {"branch": "master", "old": None, "new": head})
        assert server.heads() == {}
        send_data(s, [sample(r) for r in ROWS[15:18]])
        s.recv()
        s.call("update_ref", {"branch": "master", "old": None, "new": head})
    assert server.heads() == {"master": head}
    server.fsck()


@pytest.mark.parametrize("header", [
    {"branch": "../evil", "old": None, "new": "0" * 40},
    {"branch": "master", "old": None, "new": "not-a-commit"},
    {"branch": "master", "old": None, "new": "1" * 40},
], ids=["bad-branch-name", "bad-oid", "unknown-commit"])
def test_update_ref_rejects_malformed_requests(header: dict, server_address: Callable[[str], ServerRepo]) -> None:
    from hangar_git import HangarError
    server = server_address("hangarssh")
    with open_session(server.address) as s:
        with pytest.raises(HangarError):
            s.call("update_ref", header)
    assert server.heads() == {}


# -- the other direction: a client trusts nothing a server sends ------------------------------------
class LyingService(RepositoryService):
    """Serves a real repository but flips a bit in every sample and in every commit it sends."""

    @rpc_method
    def get_data(self, request: Frame, stream: Stream) -> Reply:
        digests = decode_digest_list(request.header, request.payload)
        parts, metas = [], []
        for digest in digests:
            meta, data = self.store.read(Digest(digest))
            raw = bytearray(data)
            raw[0] ^= 1
            parts.append(bytes(raw))
            metas.append(meta)
        stream.send("data", *encode_data(digests, metas, [len(p) for p in parts], b"".join(parts)))
        return {"objects": len(digests)}

    @rpc_method
    def fetch_objects(self, request: Frame, stream: Stream) -> Reply:
        wants = check_oids(request.header.get("wants"), "wants")
        todo = objects_to_send(self.git, wants, [])
        raw = [read_raw(self.git, oid) for oid, _ in todo]
        raw = [(t, d.replace(b"ten more", b"ten MORE")) for t, d in raw]
        stream.send("count", {"objects": len(todo)})
        stream.send("objects", {"oids": [o for o, _ in todo], "types": [t for t, _ in raw],
                                "sizes": [len(d) for _, d in raw]}, b"".join(d for _, d in raw))
        return {"objects": len(todo)}


@pytest.fixture
def lying_remote(server_address: Callable[[str], ServerRepo], history: Repository,
                 monkeypatch: pytest.MonkeyPatch) -> ServerRepo:
    """``history`` pushed to a server; from now on connections reach a LyingService of it."""
    server = server_address("path")
    history.remote.add("origin", server.address)
    history.remote.quiet = True
    history.remote.push("origin", "master")
    monkeypatch.setattr(connect_module, "open_session",
                        lambda address, **kwargs: open_local_session_in_process(LyingService(str(server.path))))
    return server


def test_fetch_data_refuses_corrupt_samples_from_the_server(lying_remote: ServerRepo, history: Repository,
                                                           tmp_path: Path) -> None:
    clone = Repository(tmp_path / "clone", exists=False)
    clone.init("c", "c@x")
    clone.remote.add("origin", lying_remote.address)
    clone.remote.quiet = True
    # records come from the real server (fetched with git itself), data from the liar
    subprocess.run(["git", "-C", clone.path, "fetch", "-q", str(lying_remote.path),
                    "refs/hangar/heads/*:refs/hangar/remotes/origin/*"], check=True)
    with pytest.raises(IntegrityError):
        clone.remote.fetch_data("origin", "master")
    assert list(clone.ctx.store.iter_objects()) == []


def test_fetch_refuses_corrupt_commits_from_the_server(lying_remote: ServerRepo, history: Repository,
                                                      tmp_path: Path) -> None:
    clone = Repository(tmp_path / "clone", exists=False)
    clone.init("c", "c@x")
    clone.remote.add("origin", lying_remote.address)
    clone.remote.quiet = True
    with pytest.raises(IntegrityError, match="corrupt"):
        clone.remote.fetch("origin", "master")
    assert clone.ctx.git.list_refs("refs/hangar/") == {}     # no tracking branch to a broken history
