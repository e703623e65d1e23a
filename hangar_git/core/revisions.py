"""Revision parsing: naming a commit as git does.

``REV`` is a base followed by any number of suffixes:

* base: ``HEAD`` (the head of the write branch), a local branch (``master``), a
  remote-tracking branch (``origin/master``), a commit digest (40 hex digits, with or
  without the ``a=`` prefix Hangar prints) or an abbreviation of one (4 hex digits or more);
  a branch wins over an abbreviation, as in git;
* ``~N`` the N-th first-parent ancestor (``~`` alone is ``~1``);
* ``^N`` the N-th parent (``^`` alone is ``^1``, ``^0`` the commit itself).
"""
from __future__ import annotations

import re
from typing import Optional

from ..bookkeeping.gitrepo import HEADS, REMOTES, GitRepo, Oid
from ..errors import (BranchNotFoundError, CommitNotFoundError, InvalidArgumentError, InvalidNameError,
                      RevisionNotFoundError)
from .layout import default_branch

HEAD = "HEAD"
_SUFFIX = re.compile(r"([~^])(\d*)")
_HEX = re.compile(r"[0-9a-fA-F]{4,40}")


def split(spec: str) -> tuple[str, str]:
    """(base, suffixes) of a revision: ``('master', '~2^2')``."""
    cut = min((i for i in (spec.find("~"), spec.find("^")) if i >= 0), default=len(spec))
    return spec[:cut], spec[cut:]


def has_suffix(spec: str) -> bool:
    return bool(split(spec)[1])


def _not_found(spec: str) -> RevisionNotFoundError:
    short = re.fullmatch(r"[0-9a-fA-F]{1,3}", split(spec)[0]) is not None
    return RevisionNotFoundError(
        f"no branch or commit named {spec!r}: `git hangar branch -a` lists branches, "
        f"`git hangar log` lists commits" + ("; an abbreviated digest needs 4 hex digits or more" if short else ""),
        spec)


def no_commits_yet(spec: str, branch: str) -> RevisionNotFoundError:
    """The error for a revision naming the write branch ``branch`` before its first commit."""
    return RevisionNotFoundError(f"{spec!r} names no commit: the write branch {branch!r} has no commits yet "
                                 f"(commit once first)", spec)


def head_of(git: GitRepo, name: str) -> Oid:
    """The head of branch ``name`` (local, else remote-tracking): BranchNotFoundError if there
    is none, saying the write branch has no commits yet when it is that."""
    head = branch_head(git, name)
    if head is not None:
        return head
    if name == default_branch(git):
        raise no_commits_yet(name, name)
    raise BranchNotFoundError(name)


def branch_head(git: GitRepo, name: str) -> Optional[Oid]:
    """The head of local branch ``name``, else of remote-tracking branch ``name``, else None."""
    try:
        return git.get_ref(HEADS + name) or git.get_ref(REMOTES + name)
    except (ValueError, InvalidNameError):  # not a valid ref name: names no branch
        return None


def _base(git: GitRepo, name: str, spec: str) -> Oid:
    if name in (HEAD, "@"):
        branch = default_branch(git)
        head = git.get_ref(HEADS + branch)
        if head is None:
            raise no_commits_yet(spec, branch)
        return head
    text = name[2:] if name.startswith("a=") else name
    if len(text) == 40 and _HEX.fullmatch(text):
        return git.resolve_commit(text)
    if text == name:
        head = branch_head(git, name)
        if head is not None:
            return head
    if _HEX.fullmatch(text):
        try:
            return git.resolve_commit(text)
        except CommitNotFoundError:
            pass
    if name == default_branch(git):
        raise no_commits_yet(spec, name)
    raise _not_found(spec)


def _parent(git: GitRepo, oid: Oid, n: int, spec: str) -> Oid:
    parents = git.commit_info(oid).parents
    if n > len(parents):
        have = f"{len(parents)} parent" + ("" if len(parents) == 1 else "s")
        raise RevisionNotFoundError(f"{spec!r} names no commit: a={oid} has {have}", spec)
    return parents[n - 1]


def resolve(git: GitRepo, spec: str) -> Oid:
    """The commit ``spec`` names (RevisionNotFoundError if none; AmbiguousRevisionError for
    an abbreviation of several objects)."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidArgumentError(f"a revision is a branch name or a commit digest, not {spec!r}")
    base, suffixes = split(spec)
    oid = _base(git, base, spec)
    pos = 0
    while pos < len(suffixes):
        m = _SUFFIX.match(suffixes, pos)
        if m is None:  # e.g. 'master~1x'
            raise _not_found(spec)
        op, count = m.group(1), int(m.group(2)) if m.group(2) else 1
        if op == "~":
            for _ in range(count):
                oid = _parent(git, oid, 1, spec)
        elif count:
            oid = _parent(git, oid, count, spec)
        pos = m.end()
    return oid


def resolve_or_none(git: GitRepo, spec: str) -> Optional[Oid]:
    """:func:`resolve`, with None where ``spec`` names a branch that has no commits yet
    (the write branch right after init)."""
    if spec == default_branch(git) and branch_head(git, spec) is None:
        return None
    return resolve(git, spec)


def is_remote_tracking(git: GitRepo, name: str) -> bool:
    """True when ``name`` is a remote-tracking branch and no local branch."""
    try:
        return git.get_ref(HEADS + name) is None and git.get_ref(REMOTES + name) is not None
    except (ValueError, InvalidNameError):
        return False
