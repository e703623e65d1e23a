"""Branches and remote-tracking branches as refs under ``refs/hangar/``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pygit2

from ..errors import BranchExistsError, BranchNotFoundError, BranchRemovalError, InvalidNameError, NoCommitsError
from .gitrepo import HEADS, REMOTES, GitRepo, Oid, branch_ref


@dataclass(frozen=True, slots=True)
class BranchHead:
    name: str
    digest: Oid


RESERVED_NAMES = frozenset(("HEAD", "@"))
"""Valid ref names that name no branch: as revisions both mean the write branch's head (git
refuses 'HEAD' for a branch; '@' it takes, but then cannot tell it from HEAD either)."""


def check_branch_name(name: object) -> str:
    """``name`` if git would take it for a branch (`git check-ref-format --branch`), else
    InvalidNameError: the one check of every branch created, renamed or pushed."""
    if (not isinstance(name, str) or not name or len(name) > 200
            or not name.isprintable()  # also rules out lone surrogates, which pygit2 cannot encode
            or not pygit2.reference_is_valid_name(HEADS + name) or name.startswith("-")
            or name in RESERVED_NAMES):
        raise InvalidNameError(
            f"invalid branch name {name!r}: use letters, digits, '-', '_', '.' and '/', not starting "
            f"with '-', and not 'HEAD' or '@' (git's rules)")
    return name


def list_branches(git: GitRepo, remotes: bool = False) -> list[str]:
    names = sorted(git.list_refs(HEADS))
    if remotes:
        names += sorted(git.list_refs(REMOTES))
    return names


def branch_head(git: GitRepo, name: str) -> Oid:
    """Head commit of a local branch or of ``remote/branch``."""
    oid = git.get_ref(HEADS + name)
    if oid is None:
        oid = git.get_ref(REMOTES + name)
    if oid is None:
        raise BranchNotFoundError(name)
    return oid


def create_branch(git: GitRepo, name: str, base_commit: Optional[str]) -> BranchHead:
    check_branch_name(name)
    if git.get_ref(branch_ref(name)) is not None:
        raise BranchExistsError(name)
    if base_commit is None:
        raise NoCommitsError("there are no commits yet: commit once before creating a branch")
    oid = git.resolve_commit(base_commit)
    git.set_ref(branch_ref(name), oid, expected=None)
    return BranchHead(name, oid)


def remove_branch(git: GitRepo, name: str, current_write_branch: str, force: bool = False) -> BranchHead:
    oid = git.get_ref(branch_ref(name))
    if oid is None:
        raise BranchNotFoundError(name)
    if name == current_write_branch:
        raise BranchRemovalError(
            f"branch {name!r} is the write branch: `git hangar checkout` another branch first")
    if not force:
        others = [h for b, h in git.list_refs(HEADS).items() if b != name]
        others += list(git.list_refs(REMOTES).values())
        if not any(git.is_ancestor(oid, h) for h in others):
            raise BranchRemovalError(
                f"branch {name!r} has commits no other branch contains: merge it first or "
                f"remove it with force (`git hangar branch -D {name}`)")
    git.set_ref(branch_ref(name), None, expected=oid)
    return BranchHead(name, oid)
