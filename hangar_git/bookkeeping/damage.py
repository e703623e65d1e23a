"""Damaged git objects: the domain error for a failed read, and fsck's scan of every ref that
names each damaged or missing object once, with the branch, commit and column it belongs to."""
from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

import pygit2

from ..errors import CommitNotFoundError, DamagedObjectError
from .refnames import Oid

if TYPE_CHECKING:
    from .gitrepo import GitRepo

READ_FAILURES = (pygit2.GitError, KeyError, ValueError, CommitNotFoundError, DamagedObjectError)


def loose_file(git_dir: str, oid: str) -> str:
    """The loose object file of ``oid`` when there is one, else ''."""
    path = os.path.join(git_dir, "objects", oid[:2], oid[2:])
    return path if len(oid) == 40 and os.path.isfile(path) else ""


def loose_problem(git_dir: str, oid: str) -> str:
    """Why the loose object file of ``oid`` cannot be inflated ('' when it can, or is not loose).
    Checked before libgit2 reads it: libgit2 1.9 loops forever on a truncated zlib stream
    (libgit2 issue 7342, fixed upstream after 1.9.x)."""
    path = loose_file(git_dir, oid)
    if not path:
        return ""
    try:
        with open(path, "rb") as fh:
            inflate = zlib.decompressobj()
            while not inflate.eof and (chunk := fh.read(1 << 16)):
                inflate.decompress(chunk, 0)
    except (OSError, zlib.error) as exc:
        return f"loose object cannot be inflated: {exc}"
    return "" if inflate.eof else "loose object is truncated"


def damaged_object(exc: BaseException, git: Optional["GitRepo"] = None, oid: str = "",
                   what: str = "git object") -> Optional[DamagedObjectError]:
    """A git library failure to read an object (a damaged or truncated loose object, a broken
    pack) as the domain error it is; None for anything else. ``oid``: the object the caller
    read, when the library's message does not name it."""
    if isinstance(exc, DamagedObjectError):
        return exc
    if not isinstance(exc, pygit2.GitError):
        return None
    text = " ".join(str(exc).split())
    found = re.search(r"\b[0-9a-f]{40}\b", text)
    oid = found.group(0) if found else oid
    detail = text.replace(f"{oid}: ", "") if oid else text
    return DamagedObjectError(oid, detail, what=what, path=loose_file(git.git_dir, oid) if git and oid else "")


def ref_label(name: str) -> str:
    """``heads/master`` -> ``branch 'master'`` (a name below refs/hangar/)."""
    for prefix, label in (("heads/", "branch"), ("remotes/", "remote branch")):
        if name.startswith(prefix):
            return f"{label} {name[len(prefix):]!r}"
    return "the staging area" if name == "staging" else f"ref refs/hangar/{name}"


def describe(path: Sequence[str]) -> str:
    """What the tree or blob at ``path`` of a commit tree holds."""
    if len(path) < 2 or path[0] != "columns":
        return f"{'/'.join(path)!r}" if path else "root tree"
    column, rest = f"column {path[1]!r}", list(path[2:])
    if rest[:1] == ["samples"]:
        shard = "".join(rest[1:])
        if not shard:
            return f"records tree of {column}"
        return f"all records of {column}" if shard == "_" else f"records of {column} with keys in shard {shard!r}"
    return f"{'/'.join(rest)} of {column}" if rest else f"tree of {column}"


@dataclass
class Damage:
    """One damaged or missing object and the first place it was met."""

    oid: str
    kind: str
    where: str
    detail: str
    path: str = ""

    def __str__(self) -> str:
        state = f"is damaged ({self.detail})" if self.detail else "is missing (its records are incomplete)"
        return f"{self.kind} {self.oid} ({self.where}) {state}"


@dataclass
class Scan:
    """Every ref's commits, trees and blobs read once: what could not be read, the commits whose
    records are whole, and the sample digests of every shard that could be read."""

    git: "GitRepo"
    damage: dict[str, Damage] = field(default_factory=dict)
    commits: list[Oid] = field(default_factory=list)
    intact: list[Oid] = field(default_factory=list)
    damaged_refs: set[str] = field(default_factory=set)
    digests: dict[str, None] = field(default_factory=dict)
    _ok: dict[str, bool] = field(default_factory=dict)
    _parents: dict[str, list[str]] = field(default_factory=dict)

    def refs(self, refs: Mapping[str, str]) -> "Scan":
        """Scan ``refs`` (names below refs/hangar/ -> commit); branches before remote branches."""
        times: dict[str, int] = {}
        for name, tip in sorted(refs.items()):
            if not self._history(name, tip, times):
                self.damaged_refs.add(name)
        order = sorted(times, key=lambda c: -times[c])
        self.commits = [Oid(c) for c in order]
        self.intact = [Oid(c) for c in order if self._ok[c]]
        return self

    def _history(self, name: str, tip: str, times: dict[str, int]) -> bool:
        """Read ``tip`` and its history (each commit once per scan); False when any of it is
        damaged or missing."""
        ok, stack, seen = True, [tip], set()
        while stack:
            commit = stack.pop()
            if commit in seen:
                continue
            seen.add(commit)
            if commit not in self._ok:
                self._commit(commit, f"{'head' if commit == tip else 'in the history'} of {ref_label(name)}",
                             f"in commit {commit} of {ref_label(name)}", times)
            ok = ok and self._ok[commit]
            stack.extend(self._parents.get(commit, ()))
        return ok

    def _commit(self, commit: str, where: str, inside: str, times: dict[str, int]) -> None:
        try:
            self._inflates(commit)
            info = self.git.commit_info(commit)
        except READ_FAILURES as exc:
            self._ok[commit] = False
            self._note(commit, "commit", where, exc)
            return
        times[commit] = info.time
        self._parents[commit] = list(info.parents)
        self._ok[commit] = self._object(info.tree, True, (), inside)

    def _object(self, oid: str, is_tree: bool, path: tuple[str, ...], where: str) -> bool:
        """Read a tree (and all below it) or a blob; False when any of it is damaged or missing."""
        if oid in self._ok:
            return self._ok[oid]
        try:
            self._inflates(oid)
            if is_tree:
                entries = self.git.tree_entries(oid)
            else:
                data = self.git.read_blob(oid)
        except READ_FAILURES as exc:
            self._ok[oid] = False
            self._note(oid, "tree" if is_tree else "blob", f"{describe(path)}, {where}", exc)
            return False
        if is_tree:
            ok = all([self._object(child, sub, path + (name,), where) for name, (child, sub) in entries.items()])
        else:
            ok = True
            if len(path) > 3 and path[0] == "columns" and path[2] == "samples":
                self.digests.update(dict.fromkeys(line[:64] for line in data.decode().split("\n") if line))
        self._ok[oid] = ok
        return ok

    def _inflates(self, oid: str) -> None:
        """Raise DamagedObjectError when ``oid`` is a loose object that cannot be inflated."""
        problem = loose_problem(self.git.git_dir, oid)
        if problem:
            raise DamagedObjectError(oid, problem, path=loose_file(self.git.git_dir, oid))

    def _note(self, oid: str, kind: str, where: str, exc: BaseException) -> None:
        damaged = self.git.has_object(oid) and damaged_object(exc, self.git, oid)
        detail = (damaged.detail if damaged else str(exc)) if self.git.has_object(oid) else ""
        self.damage[oid] = Damage(oid, kind, where, detail or "", loose_file(self.git.git_dir, oid))

    def sound(self, oid: str) -> bool:
        """Whether ``oid`` (and all below it) can be read: as the scan found it, else whether
        its loose file (if any) inflates."""
        return self._ok[oid] if oid in self._ok else not loose_problem(self.git.git_dir, oid)

    def problems(self) -> list[str]:
        return [str(d) for d in self.damage.values()]

    def damaged_files(self) -> list[str]:
        """Loose files of the damaged objects (to remove before fetching them again)."""
        return [d.path for d in self.damage.values() if d.path and d.detail]
