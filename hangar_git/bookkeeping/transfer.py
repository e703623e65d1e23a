"""What must cross the wire: git objects and sample digests of new commits.

These functions work on bookkeeping alone. They never read sample data.
"""
from __future__ import annotations

import hashlib
import re
import threading
from contextlib import contextmanager
from typing import Iterable, Iterator, Optional, Sequence

import pygit2

from ..errors import IntegrityError
from .added import _column_samples
from .gitrepo import GitRepo, Oid
from .packwriter import RECEIVED_COMPRESSION, write_objects

COMMIT, TREE, BLOB = int(pygit2.enums.ObjectType.COMMIT), int(pygit2.enums.ObjectType.TREE), \
    int(pygit2.enums.ObjectType.BLOB)


def new_commits(git: GitRepo, heads: Sequence[str], haves: Sequence[str]) -> list[Oid]:
    """Commits reachable from ``heads`` but not from ``haves``, oldest first."""
    repo = git.pygit2_repo
    walker = repo.walk(pygit2.Oid(hex=heads[0]), pygit2.enums.SortMode.TOPOLOGICAL
                       | pygit2.enums.SortMode.REVERSE)
    for h in heads[1:]:
        walker.push(pygit2.Oid(hex=h))
    for h in haves:
        if git.has_object(h):
            walker.hide(pygit2.Oid(hex=h))
    return [Oid(str(c.id)) for c in walker]


def _tree_closure(git: GitRepo, tree: str, seen: set[str], out: Optional[list[tuple[Oid, int]]]) -> None:
    """Add a tree and everything under it not already in ``seen``."""
    stack = [tree]
    repo = git.pygit2_repo
    while stack:
        oid = stack.pop()
        if oid in seen:
            continue
        seen.add(oid)
        if out is not None:
            out.append((Oid(oid), TREE))
        for entry in repo[oid]:  # type: ignore[attr-defined]
            child = str(entry.id)
            if entry.type_str == "tree":
                stack.append(child)
            elif child not in seen:
                seen.add(child)
                if out is not None:
                    out.append((Oid(child), BLOB))


def objects_to_send(git: GitRepo, heads: list[str], haves: list[str]) -> list[tuple[Oid, int]]:
    """(oid, type) of every git object the other side needs, parents before children.

    The other side holds everything ``haves`` reach, and each new commit's parents are
    either among ``haves``' history or new commits sent before it: each new commit's tree
    is compared with its parents' trees at the same path, and equal subtrees and blobs are
    skipped, so the cost follows the change, not the size of the trees (git's own walk).
    """
    sent: set[str] = set()
    out: list[tuple[Oid, int]] = []
    repo = git.pygit2_repo
    for c in new_commits(git, heads, haves):
        info = git.commit_info(c)
        _changed_objects(repo, info.tree, [git.commit_info(p).tree for p in info.parents], sent, out)
        out.append((c, COMMIT))
    return out


def _changed_objects(repo: pygit2.Repository, tree: str, bases: Sequence[str], sent: set[str],
                     out: list[tuple[Oid, int]]) -> None:
    """Add ``tree`` and what under it differs from ``bases`` (trees at the same path) to ``out``."""
    if tree in sent or tree in bases:
        return
    sent.add(tree)
    out.append((Oid(tree), TREE))
    base_objs = [repo[b] for b in bases]
    for entry in repo[tree]:  # type: ignore[attr-defined]
        oid = str(entry.id)
        if oid in sent:
            continue
        same = [b[entry.name] for b in base_objs if entry.name in b]  # type: ignore[operator, index]
        if any(str(e.id) == oid for e in same):
            continue
        if entry.type_str == "tree":
            _changed_objects(repo, oid, [str(e.id) for e in same if e.type_str == "tree"], sent, out)
        else:
            sent.add(oid)
            out.append((Oid(oid), BLOB))


def trust_stored_objects() -> None:
    """Have libgit2 stop hashing every object it reads again (its strict hash verification),
    for the rest of this process: what a server runs. Every object a server stores was checked
    against its id as it arrived (:func:`check_raw`), a client checks each one it receives,
    and the zlib checksum of each stored object still catches damaged bytes; git itself does
    not re-hash what it reads either. The re-hashing was two thirds of reading the parents'
    shards a push's ref update compares with (~110 of ~170 ms for 1,000 new samples in a
    million)."""
    global _trusted
    with _trust_lock:
        _trusted = True
        pygit2.settings.enable_strict_hash_verification(False)


_trust_lock = threading.Lock()
_trusted = False
_unverified_blocks = 0


@contextmanager
def unverified_reads() -> Iterator[None]:
    """Inside this block (which may be entered by several threads at once) libgit2 does not
    hash again the objects this process reads: what a sender uses for the objects it sends,
    which the receiver checks one by one against their ids (:func:`check_raw`) before it
    keeps any. The zlib checksum of each stored object still catches damaged bytes. The
    setting is the process's: reads of other threads during the block are not re-hashed
    either. Hashing again was about 28 of 69 ms for the 264 objects (7 MB) of a
    100,000-row push."""
    global _unverified_blocks
    with _trust_lock:
        _unverified_blocks += 1
        pygit2.settings.enable_strict_hash_verification(False)
    try:
        yield
    finally:
        with _trust_lock:
            _unverified_blocks -= 1
            if not _unverified_blocks and not _trusted:
                pygit2.settings.enable_strict_hash_verification(True)


def read_raw(git: GitRepo, oid: str) -> tuple[int, bytes]:
    obj_type, data = git.pygit2_repo.odb.read(pygit2.Oid(hex=oid))
    return int(obj_type), data


class KeptBlobs:
    """Blobs read (or received and checked) once and kept for a second use: a push reads
    the new shards to list their samples, then sends them; a server lists the samples of
    the shards a push just brought. Each is handed out again until :meth:`take` or
    :meth:`clear`; at most ``limit`` bytes are kept (the rest are read again)."""

    def __init__(self, git: GitRepo, limit: int = 64 << 20) -> None:
        self.git, self.limit, self.nbytes = git, limit, 0
        self.kept: dict[str, bytes] = {}

    def keep(self, oid: str, data: bytes) -> None:
        if oid not in self.kept and self.nbytes + len(data) <= self.limit:
            self.kept[oid] = data
            self.nbytes += len(data)

    def __call__(self, oid: str) -> bytes:
        """A blob's bytes (a :data:`BlobReader`)."""
        data = self.kept.get(oid)
        if data is None:
            data = self.git.read_blob(oid)
            self.keep(oid, data)
        return data

    def take(self, oid: str) -> tuple[int, bytes]:
        """(type, bytes) of a git object, forgetting it (as :func:`read_raw`)."""
        data = self.kept.pop(oid, None)
        if data is None:
            return read_raw(self.git, oid)
        self.nbytes -= len(data)
        return BLOB, data

    def clear(self) -> None:
        self.kept.clear()
        self.nbytes = 0


def write_raw(git: GitRepo, objects: list[tuple[str, int, bytes]]) -> None:
    """Store received ``(oid, type, data)`` objects: all are checked (IntegrityError, nothing
    kept) before any is written; ones already here are skipped; a large batch becomes one pack
    (uncompressed: :data:`~.packwriter.RECEIVED_COMPRESSION`)."""
    check_all(objects)
    write_objects(git, objects, RECEIVED_COMPRESSION)


def check_all(objects: Sequence[tuple[str, int, bytes]]) -> None:
    """:func:`check_raw` each received ``(oid, type, data)`` object."""
    for oid, obj_type, data in objects:
        check_raw(oid, obj_type, data)


def check_raw(oid: str, obj_type: int, data: bytes) -> None:
    """Raise IntegrityError unless ``data`` is a commit, tree or blob hashing to ``oid``."""
    if obj_type not in (COMMIT, TREE, BLOB):
        raise IntegrityError(f"refusing git object {oid} of unexpected type {obj_type}")
    got = str(pygit2.hash(data)) if obj_type == BLOB else None
    if got is None:
        header = {COMMIT: b"commit", TREE: b"tree"}[obj_type]
        got = hashlib.sha1(header + b" " + str(len(data)).encode() + b"\0" + data).hexdigest()
    if got != oid:
        raise IntegrityError(f"git object {oid} arrived corrupt (hashes to {got}); nothing was stored",
                             expected=oid, got=got)
    problem = _tree_problem(data) if obj_type == TREE else _commit_problem(data) if obj_type == COMMIT else ""
    if problem:
        raise IntegrityError(f"git object {oid} is malformed ({problem}); nothing was stored", expected=oid)


# What `git fsck` demands of trees and commits: a peer's object that breaks these rules is
# refused, or the receiving repository would fail `git fsck` from then on.
_TREE_MODES = frozenset((b"40000", b"100644", b"100755", b"120000", b"160000"))
_IDENT = rb"[^<>\n]* <[^<>\n]*> (?:0|[1-9][0-9]{0,18}) [+-][0-9]{4}\n"
_COMMIT_HEAD = re.compile(rb"tree [0-9a-f]{40}\n(?:parent [0-9a-f]{40}\n)*author " + _IDENT + rb"committer " + _IDENT)


def _tree_problem(data: bytes) -> str:
    pos, last, names = 0, b"", set()
    while pos < len(data):
        sp = data.find(b" ", pos)
        nul = data.find(b"\0", sp + 1) if sp >= 0 else -1
        if nul < 0 or nul + 21 > len(data):
            return "truncated tree entry"
        mode, name = data[pos:sp], data[sp + 1:nul]
        if mode not in _TREE_MODES:
            return f"bad file mode {mode[:8]!r}"
        if not name or b"/" in name or name in (b".", b"..") or name.lower() == b".git":
            return f"bad entry name {name[:40]!r}"
        key = name + b"/" if mode == b"40000" else name
        if key <= last or name in names:
            return "entries not sorted or duplicated"
        last = key
        names.add(name)
        pos = nul + 21
    return ""


def _commit_problem(data: bytes) -> str:
    end = data.find(b"\n\n")
    header = data if end < 0 else data[:end + 1]
    if b"\0" in header:
        return "NUL in the commit header"
    if not _COMMIT_HEAD.match(header):
        return "commit header is not tree, parents, author, committer"
    return ""


def missing_objects(git: GitRepo, oids: Iterable[str]) -> list[str]:
    return [o for o in oids if not git.has_object(o)]


def closure_complete(git: GitRepo, commit: str, trusted: Sequence[str] = (),
                     verified: Optional[set[str]] = None) -> bool:
    """True when ``commit``, its history and every tree and blob they reach are present.

    Commits reachable from ``trusted`` (refs whose closure is known complete:
    we only move a ref once all it reaches has arrived) are not walked. The
    others are checked oldest first, each against its parents: a subtree or
    blob equal to the parent's at the same path is complete already, so the
    cost follows what changed, not the size of each tree. ``verified`` may
    be shared between calls (fsck checks many refs).
    """
    verified = set() if verified is None else verified
    repo = git.pygit2_repo
    try:
        if not git.has_object(commit):
            return False
        for c in new_commits(git, [commit], [t for t in trusted if t]):
            info = git.commit_info(c)
            bases = [git.commit_info(p).tree for p in info.parents]
            _check_tree(git, info.tree, bases, verified, repo)
    except (KeyError, ValueError, pygit2.GitError, IntegrityError):
        return False
    return True


def _check_tree(git: GitRepo, tree: str, bases: Sequence[str], verified: set[str], repo: pygit2.Repository) -> None:
    """Raise IntegrityError unless ``tree`` and all under it are present; ``bases`` are
    complete trees at the same path (a parent's), whose equal entries are skipped."""
    if tree in verified or tree in bases:
        return
    if not git.has_object(tree):
        raise IntegrityError(f"missing git object {tree}")
    obj = repo[tree]
    base_objs = [repo[b] for b in bases]
    for entry in obj:  # type: ignore[attr-defined]
        oid = str(entry.id)
        same = [str(b[entry.name].id) for b in base_objs if entry.name in b]  # type: ignore[operator, index]
        if oid in same or oid in verified:
            continue
        if entry.type_str == "tree":
            _check_tree(git, oid, same, verified, repo)
        elif not git.has_object(oid):
            raise IntegrityError(f"missing git object {oid}")
        else:
            verified.add(oid)
    verified.add(tree)


def shard_digests(blob: bytes) -> Iterator[str]:
    for line in blob.decode().split("\n"):
        if line:
            yield line[:64]


def referenced_digests(git: GitRepo, commits: Iterable[str], haves: Iterable[str] = (),
                       columns: Optional[set[str]] = None) -> dict[str, None]:
    """Sample digests recorded by ``commits`` in shards that ``haves`` do not share.

    Returns an insertion-ordered dict used as an ordered set. Only shard
    blobs that differ are read; equal subtrees are skipped by id.
    """
    skip: set[str] = set()
    for h in haves:
        if git.has_object(h):
            for name, samples in _column_samples(git, git.commit_info(h).tree, columns):
                _tree_closure(git, samples, skip, None)
    out: dict[str, None] = {}
    for c in commits:
        for name, samples in _column_samples(git, git.commit_info(c).tree, columns):
            found: list[tuple[Oid, int]] = []
            _tree_closure(git, samples, skip, found)
            for oid, kind in found:
                if kind == BLOB:
                    for d in shard_digests(git.read_blob(oid)):
                        out[d] = None
    return out


def history_digests(git: GitRepo, heads: Sequence[str]) -> dict[str, None]:
    """Sample digests recorded anywhere in the history of ``heads`` (an ordered set)."""
    return referenced_digests(git, [c.oid for c in git.walk(heads)]) if heads else {}
