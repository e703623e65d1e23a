"""The server treats every client message as untrusted.

(tests/transport covers the frame decoder, SSH authentication, the served-root jail and
garbage peers; tests/remote covers wrong digests, lying sizes and the basic update_ref checks.)
Here: ref names outside the hangar branch namespace, git objects whose id is right but whose
content `git fsck` would reject, records that are not hangar records, requests naming
objects of the wrong kind, and raw oversized or malformed frames against a real
`git hangar serve` process. Each gets an error, and nothing on the server changes.
"""
from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pygit2
import pytest

from hangar_git.bookkeeping.transfer import BLOB, COMMIT, TREE
from hangar_git.errors import HangarError, IntegrityError, InvalidNameError, ProtocolError
from hangar_git.storage import DIGEST_ALGORITHM
from hangar_git.transport.connect import open_local_session_in_process
from hangar_git.transport.framing import MAGIC, PREFIX, FrameReader
from hangar_git.transport.rpc import PROTOCOL_VERSION
from hangar_git.transport.wire import encode_digest_list
from hangar_git.transport.service import RepositoryService

from tests.faults.world import subprocess_env

from .conftest import encode, git_fsck_ok, snapshot

ZERO = "0" * 40


def _sha(kind: bytes, data: bytes) -> str:
    return hashlib.sha1(kind + b" " + str(len(data)).encode() + b"\0" + data).hexdigest()


def _head(served: Path) -> str:
    return pygit2.Repository(str(served)).references["refs/hangar/heads/master"].target.__str__()


# -- ref names ----------------------------------------------------------------------------------------
BAD_BRANCHES = {
    "dotdot": "../../heads/x", "dotdot-inner": "a/../b", "double-dot": "a..b", "newline": "x\n",
    "nul": "x\x00y", "tab": "x\ty", "del": "x\x7f", "escape": "x\x1b[31m", "space": "a b",
    "empty": "", "too-long": "b" * 300, "dash": "-rf", "lock": "x.lock", "slash-end": "x/",
    "slash-start": "/etc", "double-slash": "a//b", "at-brace": "x@{1}", "tilde": "x~1",
    "caret": "x^", "colon": "x:y", "question": "x?", "star": "x*", "bracket": "x[", "backslash": "a\\b",
    "dot-start": ".hidden", "int": 5, "null": None, "list": ["master"], "dict": {"a": 1},
}


@pytest.mark.parametrize("branch", list(BAD_BRANCHES.values()), ids=list(BAD_BRANCHES))
def test_update_ref_outside_the_branch_namespace_is_refused(branch: Any, served: Path) -> None:
    before = snapshot(served)
    head = _head(served)
    with open_local_session_in_process(RepositoryService(str(served))) as s:
        with pytest.raises(InvalidNameError, match="invalid branch name"):
            s.call("update_ref", {"branch": branch, "old": head, "new": head})
        assert s.call("list_refs").header["heads"] == {"master": head}  # the session survives
    assert snapshot(served) == before


@pytest.mark.parametrize("field,value", [
    ("new", "refs/heads/master"), ("new", "HEAD"), ("new", "../../" + ZERO), ("new", "A" * 40),
    ("new", None), ("new", 1), ("old", "master"), ("old", ["x"]),
])
def test_update_ref_with_a_malformed_id_is_refused(field: str, value: Any, served: Path) -> None:
    before = snapshot(served)
    request = {"branch": "master", "old": _head(served), "new": _head(served), field: value}
    with open_local_session_in_process(RepositoryService(str(served))) as s:
        with pytest.raises(ProtocolError, match=f"bad git object id in {field}"):
            s.call("update_ref", request)
    assert snapshot(served) == before


# -- objects with the right id but content `git fsck` rejects --------------------------------------------------
def _entry(mode: bytes, name: bytes, oid: bytes = b"\x11" * 20) -> bytes:
    return mode + b" " + name + b"\0" + oid


IDENT = b"A U Thor <a@x> 1700000000 +0000\n"
MALFORMED = {
    "tree-truncated": (TREE, _entry(b"100644", b"a")[:-3]),
    "tree-no-nul": (TREE, b"100644 a" + b"\x11" * 20),
    "tree-bad-mode": (TREE, _entry(b"100666", b"a")),
    "tree-zero-padded-mode": (TREE, _entry(b"040000", b"a")),
    "tree-empty-name": (TREE, _entry(b"100644", b"")),
    "tree-slash-in-name": (TREE, _entry(b"100644", b"a/b")),
    "tree-dotdot": (TREE, _entry(b"40000", b"..")),
    "tree-dotgit": (TREE, _entry(b"40000", b".GIT")),
    "tree-unsorted": (TREE, _entry(b"100644", b"b") + _entry(b"100644", b"a")),
    "tree-duplicate": (TREE, _entry(b"100644", b"a") + _entry(b"100644", b"a")),
    "tree-file-and-dir": (TREE, _entry(b"100644", b"a") + _entry(b"40000", b"a")),
    "commit-empty": (COMMIT, b""),
    "commit-no-tree": (COMMIT, b"author " + IDENT + b"committer " + IDENT + b"\nmsg"),
    "commit-bad-tree-id": (COMMIT, b"tree xyz\nauthor " + IDENT + b"committer " + IDENT + b"\nmsg"),
    "commit-bad-parent": (COMMIT, b"tree " + ZERO.encode() + b"\nparent 12\nauthor " + IDENT
                          + b"committer " + IDENT + b"\nmsg"),
    "commit-no-committer": (COMMIT, b"tree " + ZERO.encode() + b"\nauthor " + IDENT + b"\nmsg"),
    "commit-bad-ident": (COMMIT, b"tree " + ZERO.encode() + b"\nauthor <a@x> 1 +0000\ncommitter " + IDENT
                         + b"\nmsg"),
    "commit-bad-date": (COMMIT, b"tree " + ZERO.encode() + b"\nauthor A <a@x> 01 +0000\ncommitter "
                        + IDENT + b"\nmsg"),
    "commit-bad-zone": (COMMIT, b"tree " + ZERO.encode() + b"\nauthor A <a@x> 1 0000\ncommitter "
                        + IDENT + b"\nmsg"),
    "commit-nul-in-header": (COMMIT, b"tree " + ZERO.encode() + b"\nauthor A\0 <a@x> 1 +0000\ncommitter "
                             + IDENT + b"\nmsg"),
}


@pytest.mark.parametrize("kind,data", list(MALFORMED.values()), ids=list(MALFORMED))
def test_git_objects_that_fsck_would_reject_are_not_kept(kind: int, data: bytes, served: Path) -> None:
    oid = _sha(b"tree" if kind == TREE else b"commit", data)
    before = snapshot(served)
    with open_local_session_in_process(RepositoryService(str(served))) as s:
        s.send("put_objects", {"count": 1})
        s.send("objects", {"oids": [oid], "types": [kind], "sizes": [len(data)]}, data)
        s.send("end", {})
        with pytest.raises(IntegrityError, match=f"git object {oid} is malformed"):
            s.recv()
    assert snapshot(served) == before
    git_fsck_ok(served)


def test_well_formed_objects_with_dangling_links_are_kept_until_a_push_completes(served: Path) -> None:
    """A tree may arrive before its blobs (the push order): kept, fsck-clean, refused as a head."""
    tree = _entry(b"100644", b"a")
    commit = b"tree " + _sha(b"tree", tree).encode() + b"\nauthor " + IDENT + b"committer " + IDENT + b"\nm\n"
    oids = [_sha(b"tree", tree), _sha(b"commit", commit)]
    with open_local_session_in_process(RepositoryService(str(served))) as s:
        s.send("put_objects", {"count": 2})
        s.send("objects", {"oids": oids, "types": [TREE, COMMIT], "sizes": [len(tree), len(commit)]},
                tree + commit)
        s.send("end", {})
        assert s.recv().header == {"stored": 2}
        with pytest.raises(IntegrityError, match="incomplete"):
            s.call("update_ref", {"branch": "new", "old": None, "new": oids[1]})
    git_fsck_ok(served)
    assert set(snapshot(served).refs) == {"refs/hangar/heads/master"}


# -- records that are not hangar records ----------------------------------------------------------------------
@pytest.mark.parametrize("shard", [b"\xff\xfe not text\n", b"z" * 64 + b"\n", b"\n\n\x00\n"],
                         ids=["not-utf8", "not-hex", "nul"])
def test_update_ref_to_commits_whose_records_are_not_hangar_records(shard: bytes, served: Path,
                                                                    tmp_path: Path) -> None:
    scratch = pygit2.init_repository(str(tmp_path / "scratch"), bare=True)
    blob = scratch.create_blob(shard)
    tree = blob
    for name in ("aa", "samples", "x", "columns"):
        builder = scratch.TreeBuilder()
        builder.insert(name, tree, pygit2.enums.FileMode.BLOB if tree == blob else pygit2.enums.FileMode.TREE)
        tree = builder.write()
    sig = pygit2.Signature("a", "a@x", 1, 0)
    commit = scratch.create_commit(None, sig, sig, "m", tree, [])
    oids = [blob] + [o for o in _tree_oids(scratch, tree)] + [commit]
    raws = [scratch.odb.read(o) for o in oids]
    before = snapshot(served)
    with open_local_session_in_process(RepositoryService(str(served))) as s:
        s.send("put_objects", {"count": len(oids)})
        s.send("objects", {"oids": [str(o) for o in oids], "types": [int(t) for t, _ in raws],
                           "sizes": [len(d) for _, d in raws]}, b"".join(d for _, d in raws))
        s.send("end", {})
        s.recv()
        with pytest.raises(IntegrityError, match="refused"):
            s.call("update_ref", {"branch": "evil", "old": None, "new": str(commit)})
    assert snapshot(served).refs == before.refs
    git_fsck_ok(served)


def _tree_oids(repo: pygit2.Repository, root: Any) -> list:
    out, stack = [], [root]
    while stack:
        oid = stack.pop()
        out.append(oid)
        stack += [e.id for e in repo[oid] if e.type_str == "tree"]
    return out


@pytest.mark.parametrize("field", ["wants", "haves"])
def test_fetch_objects_naming_a_tree_or_blob(field: str, served: Path) -> None:
    repo = pygit2.Repository(str(served))
    head = repo.references["refs/hangar/heads/master"].target
    tree = str(repo[head].tree_id)
    with open_local_session_in_process(RepositoryService(str(served))) as s:
        if field == "wants":
            with pytest.raises(HangarError, match=f"the remote has no commit {tree}"):
                s.call("fetch_objects", {"wants": [tree], "haves": []})
        else:  # a have that is no commit is ignored
            frames = list(s.stream("fetch_objects", {"wants": [str(head)], "haves": [tree]}))
            assert frames[-1].kind == "ok" and frames[-1].header["objects"] > 0


def test_get_and_size_requests_for_absent_or_oversized_lists(served: Path) -> None:
    with open_local_session_in_process(RepositoryService(str(served))) as s:
        with pytest.raises(ProtocolError, match="at least one wanted commit"):  # found by test_fuzz
            s.call("fetch_objects", {"wants": [], "haves": []})
    with open_local_session_in_process(RepositoryService(str(served))) as s:
        with pytest.raises(HangarError, match="does not hold"):
            s.call("get_data", *encode_digest_list(["ab" * 32]))
        assert s.call("data_sizes", {"digests": ["ab" * 32] * 3}).header["sizes"] == [-1] * 3
        many = [f"{i:064x}" for i in range(15000)]
        assert s.call("missing_data", {"digests": many}).header["missing"] == many


# -- raw frames against a real `git hangar serve` -----------------------------------------------------------
def _prefix(kind: bytes, header_len: int, payload_len: int) -> bytes:
    return PREFIX.pack(MAGIC, len(kind), header_len, payload_len) + kind


RAW = {
    "header-over-1MB": (_prefix(b"list_refs", 2 << 20, 0), "frame header of 2097152 bytes exceeds"),
    "payload-over-256MB": (_prefix(b"put_data", 0, 1 << 40), "frame payload of 1099511627776 bytes exceeds"),
    "bad-magic": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "bad frame magic"),
    "bad-kind": (PREFIX.pack(MAGIC, 3, 0, 0) + b"A\x00/", "invalid frame kind"),
    "kind-length-0": (PREFIX.pack(MAGIC, 0, 0, 0), "bad frame kind length"),
    "header-not-json": (_prefix(b"list_refs", 5, 0) + b"{nope", "not valid JSON"),
    "header-not-object": (_prefix(b"list_refs", 2, 0) + b"[]", "must be a JSON object"),
    "header-deep-nesting": (_prefix(b"list_refs", 200_000, 0) + b"[" * 100_000 + b"]" * 100_000,
                            "not valid JSON"),
    "header-huge-int": (_prefix(b"list_refs", 10_007, 0) + b'{"a": ' + b"9" * 10_000 + b"}", "not valid JSON"),
    "header-nan": (_prefix(b"list_refs", 10, 0) + b'{"a": NaN}', "non-JSON constant NaN"),
    "digest-list-over-header-limit": (encode(("missing_data", {"digests": ["ab" * 32] * 20000})),
                                      "exceeds the limit"),
    "unknown-request": (encode(("rm_rf", {"path": "/"})), "unknown request 'rm_rf'"),
    "truncated-frame": (encode(("echo", {}, b"x" * 100))[:-10], ""),
}


@pytest.mark.parametrize("data,message", list(RAW.values()), ids=list(RAW))
def test_raw_garbage_to_git_hangar_serve_gets_one_error_and_a_hang_up(data: bytes, message: str,
                                                                       served: Path) -> None:
    before = snapshot(served)
    hello = encode(("hello", {"protocol": PROTOCOL_VERSION, "digest": DIGEST_ALGORITHM}))
    proc = subprocess.run([sys.executable, "-m", "hangar_git", "serve", str(served)], input=hello + data,
                          capture_output=True, env=subprocess_env(), timeout=60)
    import io
    reader = FrameReader(io.BytesIO(proc.stdout))
    assert reader.recv().kind == "ok"  # hello
    rest = []
    while True:
        try:
            rest.append(reader.recv())
        except Exception:  # noqa: BLE001 - end of the output
            break
    if message:
        assert [f.kind for f in rest] == ["error"], rest
        assert message in rest[0].header["message"], rest[0].header
    assert all(f.kind == "error" for f in rest)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    assert proc.returncode in (0, 1)
    assert snapshot(served) == before


def test_a_malformed_peer_does_not_disturb_another_client(served: Path) -> None:
    """Two `git hangar serve` processes on one repository: one fed garbage, one pushed to."""
    bad = subprocess.Popen([sys.executable, "-m", "hangar_git", "serve", str(served)], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=subprocess_env())
    assert bad.stdin is not None
    bad.stdin.write(encode(("hello", {"protocol": PROTOCOL_VERSION, "digest": DIGEST_ALGORITHM})) + struct.pack(">4sBIQ", MAGIC, 9, 0, 1 << 30) + b"put_data")
    bad.stdin.flush()
    with open_local_session_in_process(RepositoryService(str(served))) as good:
        assert good.call("list_refs").header["heads"]["master"] == _head(served)
    out, _ = bad.communicate(b"\0" * 1000, timeout=60)
    assert b"exceeds" in out or b"error" in out
    git_fsck_ok(served)


def test_blob_content_is_free_but_verified(served: Path) -> None:
    data = b"\xff\x00 anything at all"
    oid = _sha(b"blob", data)
    with open_local_session_in_process(RepositoryService(str(served))) as s:
        s.send("put_objects", {"count": 1})
        s.send("objects", {"oids": [oid], "types": [BLOB], "sizes": [len(data)]}, data)
        s.send("end", {})
        assert s.recv().header == {"stored": 1}
    git_fsck_ok(served)


def test_missing_data_bitmap_answers_and_refuses_a_lying_count(served: Path) -> None:
    import numpy as np
    from hangar_git import Repository
    stored = [o.digest for o in Repository(str(served)).ctx.store.iter_objects()][:3]
    absent = [f"{i:064x}" for i in range(1, 4)]
    asked = stored + absent
    with open_local_session_in_process(RepositoryService(str(served))) as s:
        reply = s.call("missing_data", *encode_digest_list(asked))
        mask = np.unpackbits(np.frombuffer(reply.payload, dtype=np.uint8), count=len(asked)).astype(bool)
        assert reply.header["count"] == len(asked)
        assert [d for d, m in zip(asked, mask) if m] == absent
    with open_local_session_in_process(RepositoryService(str(served))) as s:
        header, payload = encode_digest_list(asked)
        with pytest.raises(ProtocolError, match="count"):
            s.call("missing_data", {"count": len(asked) + 1}, payload)
