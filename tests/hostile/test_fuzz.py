"""Fuzz the server's protocol handling (hypothesis): random request conversations and
mutated copies of a real push, fed as raw bytes to a RepositoryService.

Oracle: serve() returns (no crash, no hang); no answer is an internal server error (a
handler bug); a mutated push either lands whole or not at all; nothing but a branch under
refs/hangar/heads/ ever changes, and only to a commit the server fully holds; the store
only ever holds objects that verify (``repo.fsck()`` and ``git fsck --full`` at the end).

tests/transport/test_framing.py fuzzes the frame decoder itself; tests/cli/test_importers.py
fuzzes the CLI's file importers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hangar_git import Repository
from hangar_git.bookkeeping.gitrepo import GitRepo
from hangar_git.bookkeeping.transfer import objects_to_send, read_raw, referenced_digests
from hangar_git.storage import DIGEST_ALGORITHM, Digest
from hangar_git.transport.framing import PREFIX, Frame
from hangar_git.transport.rpc import PROTOCOL_VERSION
from hangar_git.transport.wire import encode_data
from hangar_git.transport.service import RepositoryService

from tests.faults.world import place

from .conftest import encode, git_fsck_ok, raw_exchange

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ_SLOW = settings(FUZZ, max_examples=1500)


@pytest.fixture(scope="module")
def arena(served_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A served repository, the ids a fuzzer should try, and a real push conversation."""
    root = tmp_path_factory.mktemp("fuzz")
    served = place(served_template, root / "served")
    client = place(served_template, root / "client")
    repo = Repository(client)
    base = repo.ctx.git.get_ref("refs/hangar/heads/master")
    with repo.checkout(write=True) as co:
        co["small"]["new"] = np.arange(4) * 7
        co["big"]["c"] = np.full((600, 600), 3.0)
        new = co.commit("second")
    git, store = repo.ctx.git, repo.ctx.store
    todo = objects_to_send(git, [new], [base])
    digests = list(referenced_digests(git, [new], [base]))
    raw = [read_raw(git, oid) for oid, _ in todo]
    items = [(d, *store.read(Digest(d))) for d in digests]
    push = encode(
        ("hello", {"protocol": PROTOCOL_VERSION, "digest": DIGEST_ALGORITHM}), ("list_refs", {}), ("missing_data", {"digests": digests}),
        ("put_data", {"count": len(items)}),
        ("data", *encode_data([d for d, _, _ in items], [m for _, m, _ in items],
                              [len(b) for _, _, b in items], b"".join(bytes(b) for _, _, b in items))),
        ("end", {}), ("put_objects", {"count": len(todo)}),
        ("objects", {"oids": [o for o, _ in todo], "types": [t for t, _ in raw],
                     "sizes": [len(d) for _, d in raw]}, b"".join(d for _, d in raw)),
        ("end", {}), ("update_ref", {"branch": "master", "old": base, "new": new}), ("bye", {}))
    sgit = GitRepo.discover(str(served))
    assert sgit is not None
    stored = [o.digest for o in Repository(served).ctx.store.iter_objects()]
    oids = [o for o, _ in objects_to_send(sgit, [base], [])]
    repo.ctx.reset_store()
    return {"served": served, "base": base, "new": new, "push": push, "oids": oids + [new],
            "digests": stored + digests, "counts": {"random": 0, "mutated": 0}}


def _hex_ids(arena: dict[str, Any]) -> st.SearchStrategy[str]:
    return (st.sampled_from(arena["oids"]) | st.sampled_from(arena["digests"])
            | st.text("0123456789abcdef", min_size=40, max_size=40)
            | st.text("0123456789abcdef", min_size=64, max_size=64))


def _values(arena: dict[str, Any]) -> st.SearchStrategy[Any]:
    leaves = (st.none() | st.booleans() | st.integers(-2, 2**63) | st.floats(allow_nan=False, allow_infinity=False)
              | st.text(max_size=12) | _hex_ids(arena)
              | st.sampled_from(["master", "../x", "nd:<f8:4", "nd:<f8:600,600", "str", "bytes", "refs/heads/x"]))
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=6)
                        | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=24)


KEYS = ["digests", "oids", "wants", "haves", "branch", "old", "new", "metas", "sizes", "types",
        "count", "stream", "protocol", "digest", "meta", "size", "offset", "parts"]
KINDS = ["hello", "echo", "discard", "list_refs", "fetch_objects", "put_objects", "update_ref",
         "missing_data", "data_sizes", "put_data", "get_data", "objects", "data", "part", "end", "bye", "ok"]


def _near_valid_header(arena: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Headers shaped like real requests, with real and made-up ids and sizes."""
    ids = _hex_ids(arena)
    some = st.lists(ids, max_size=5)
    return st.fixed_dictionaries({}, optional={
        "digests": some, "oids": some, "wants": some, "haves": some, "old": st.none() | ids, "new": ids,
        "branch": st.sampled_from(["master", "dev", "a/b", "HEAD"]) | st.text(max_size=8),
        "metas": st.lists(st.sampled_from(["nd:<i8:4", "nd:<f8:600,600", "str", "bytes", "nd:|u1:"])
                          | st.text(max_size=12), max_size=5),
        "sizes": st.lists(st.integers(-2, 400), max_size=5), "types": st.lists(st.integers(-1, 5), max_size=5),
        "count": st.integers(-1, 10), "stream": st.booleans(), "protocol": st.integers(0, 2),
        "digest": ids, "meta": st.sampled_from(["bytes", "nd:|u1:2097152", "nd:<f8:600,600"]) | st.text(max_size=12),
        "size": st.sampled_from([0, 1 << 20, (1 << 20) + 1, 2 << 20, 1 << 41]) | st.integers(-2, 1 << 22),
        "offset": st.sampled_from([0, 1 << 20, 5]) | st.integers(-2, 1 << 22), "parts": st.booleans()})


def _frames(arena: dict[str, Any]) -> st.SearchStrategy[list[tuple[str, dict, bytes]]]:
    known = st.sampled_from(KINDS)
    kind = st.one_of(known, known, known, st.from_regex(r"[a-z][a-z0-9_.-]{0,20}", fullmatch=True))
    header = st.one_of(_near_valid_header(arena), _near_valid_header(arena),
                       st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), _values(arena), max_size=6))
    return st.lists(st.tuples(kind, header, st.binary(max_size=300)), min_size=1, max_size=6)


def _check_answers(frames: list[Frame]) -> None:
    for frame in frames:
        assert frame.kind in ("ok", "error", "count", "objects", "data", "part"), frame
        if frame.kind == "error":
            assert "internal server error" not in frame.header.get("message", ""), frame.header


def _check_state(arena: dict[str, Any]) -> None:
    git = GitRepo.discover(str(arena["served"]))
    assert git is not None
    refs = git.list_refs("")
    assert all(name.startswith("refs/hangar/heads/") for name in refs), refs
    assert refs["refs/hangar/heads/master"] in (arena["base"], arena["new"])
    for name, oid in refs.items():
        assert oid in arena["oids"], (name, oid)  # only commits the server fully holds


def _finally_consistent(arena: dict[str, Any]) -> None:
    git_fsck_ok(arena["served"])
    report = Repository(arena["served"]).fsck()
    assert report.ok, str(report)


def _budget(request: pytest.FixtureRequest) -> settings:
    """150 examples by default, 1500 with --slow."""
    return FUZZ_SLOW if request.config.getoption("--slow") else FUZZ


def test_fuzz_random_conversations(arena: dict[str, Any], request: pytest.FixtureRequest) -> None:
    @_budget(request)
    @given(_frames(arena))
    def run(frames: list[tuple[str, dict, bytes]]) -> None:
        arena["counts"]["random"] += 1
        _check_answers(raw_exchange(RepositoryService(str(arena["served"])), encode(*frames)))
        _check_state(arena)

    run()
    _finally_consistent(arena)


@st.composite
def _mutations(draw: st.DrawFn, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "flip", "set", "delete", "duplicate", "truncate"]))
        pos = draw(st.integers(0, len(out) - 1))
        if op == "flip":
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            out[pos] = draw(st.integers(0, 255))
        elif op == "delete":
            del out[pos:pos + draw(st.integers(1, 64))]
        elif op == "duplicate":
            n = draw(st.integers(1, 64))
            out[pos:pos] = out[pos:pos + n]
        else:
            del out[pos:]
        if not out:
            out = bytearray(data[:1])
    return bytes(out)


def test_fuzz_mutated_push(arena: dict[str, Any], request: pytest.FixtureRequest) -> None:
    push = arena["push"]
    # most bytes are the data payload; aim half of the mutations at the frames after it
    small_part = len(push) - (push.rfind(b"put_objects") - PREFIX.size)

    @_budget(request)
    @given(_mutations(push) | _mutations(push[-small_part:]).map(lambda tail: push[:-small_part] + tail))
    def run(data: bytes) -> None:
        arena["counts"]["mutated"] += 1
        _check_answers(raw_exchange(RepositoryService(str(arena["served"])), data))
        _check_state(arena)

    run()
    _finally_consistent(arena)
