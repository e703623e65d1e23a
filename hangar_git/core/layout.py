"""What a hangar repository is made of inside a git repository: its config keys, refs and
files. Every layer above the bookkeeping names them through here (the bookkeeping, below
this layer, defines the few it needs itself; they are re-exported here so this module lists
them all). tests/test_layout.py checks that no other module spells a ``hangar.*`` key.

Config keys (``git config``)::

    hangar.store                  where the data store is (URI, absolute path, or relative to the git dir)
    hangar.branch                 the write branch (default master)
    hangar.username / useremail   the author of hangar commits (default: user.name / user.email)
    hangar.fsync                  fsync objects, refs and data as they are written
    hangar.id                     this repository's id in its store's registry
    hangar.s3.NAME                the store's S3 settings (NAME in S3_NAMES)
    hangar-remote.R.url           remote R's address
    hangar-remote.R.data          remote R's data URL (a plain git host plus a data store)
    hangar-remote.R.s3NAME        the S3 settings of remote R's data store
    hangar-branch.B.remote/merge  the upstream of branch B: remote R and its branch (B tracks R/merge)
    remote.R.hangarcommand        the program an SSH remote R runs (default git-hangar)

Files, under the git common dir (shared by linked worktrees, as refs and objects are)::

    hangar/writer.lock            the writer lock (one write checkout or merge at a time)
    hangar/present-trees          column trees whose every sample's data is local
    hangar/records/               shard records as arrays (a cache)

Refs: ``refs/hangar/heads/B`` (branches), ``refs/hangar/remotes/R/B`` (remote-tracking
branches), ``refs/hangar/staging`` (the staging area, see :mod:`.staging`).
"""
from __future__ import annotations

import os

from typing import TYPE_CHECKING, Optional, Protocol

from ..bookkeeping.refnames import DURABLE_KEY, HANGAR_NS, HEADS, REMOTES, STAGING, branch_ref, remote_ref
from ..storage.s3config import S3_NAMES, S3_PREFIX

if TYPE_CHECKING:
    from ..bookkeeping.gitrepo import GitRepo


class ConfigReader(Protocol):
    """What reads a repository's git config: a GitRepo, or its files read directly
    (:class:`~hangar_git.core.gitfiles.RepoFiles`)."""

    def config_get(self, key: str, default: Optional[str] = None) -> Optional[str]: ...

__all__ = ["BRANCH_KEY", "DEFAULT_BRANCH", "DURABLE_KEY", "HANGAR_DIR", "HANGAR_NS", "HEADS", "ID_KEY",
           "PRESENCE_FILE", "REMOTES", "STREAM_CACHE", "REMOTE_PREFIX", "S3_NAMES", "S3_PREFIX", "STAGING", "STORE_KEY",
           "UPSTREAM_PREFIX", "USER_EMAIL_KEY", "USER_NAME_KEY", "WRITER_LOCK", "author_identity", "branch_ref", "command_key", "default_branch",
           "hangar_dir", "hangar_path", "remote_key", "remote_ref", "remote_s3_key", "remote_urls", "repository_id", "upstream_key"]

STORE_KEY = "hangar.store"
ID_KEY = "hangar.id"
BRANCH_KEY = "hangar.branch"
USER_NAME_KEY = "hangar.username"
USER_EMAIL_KEY = "hangar.useremail"
REMOTE_PREFIX = "hangar-remote."
UPSTREAM_PREFIX = "hangar-branch."
DEFAULT_BRANCH = "master"

HANGAR_DIR = "hangar"
"""Hangar's own state (writer lock, caches, ...) lives in ``<git common dir>/hangar``:
one for all linked worktrees, as git's refs and objects are."""
WRITER_LOCK = "writer.lock"
PRESENCE_FILE = "present-trees"
STREAM_CACHE = "streamcache"
"""The directory cache streaming checkouts share (a folder of the hangar dir; safe to delete)."""


def hangar_dir(git: GitRepo) -> str:
    return os.path.join(git.git_dir, HANGAR_DIR)


def hangar_path(git: GitRepo, *parts: str) -> str:
    """A path inside the repository's hangar dir."""
    return os.path.join(git.git_dir, HANGAR_DIR, *parts)


def repository_id(git: GitRepo) -> str:
    """This repository's id (``hangar.id``), made on first use; ``cp -a`` copies it."""
    value = git.config_get(ID_KEY)
    if not value:
        value = f"{int.from_bytes(os.urandom(16), 'big'):032x}"  # 128 random bits (uuid: 2 ms of serve start-up)
        git.config_set(ID_KEY, value)
    return value


def default_branch(git: ConfigReader) -> str:
    """The write branch: ``hangar.branch``, else master."""
    return git.config_get(BRANCH_KEY) or DEFAULT_BRANCH


def author_identity(git: GitRepo) -> tuple[str, str]:
    """(name, email) of a commit's author, each '' when unknown, looked up when the commit is
    made: the identity given to init or clone for this repository (``hangar.username`` /
    ``hangar.useremail``, as Hangar's ``init(user_name, user_email)`` records it), else git's
    own, in git's order (GIT_AUTHOR_NAME / GIT_AUTHOR_EMAIL, then user.name / user.email)."""
    name = git.config_get(USER_NAME_KEY) or os.environ.get("GIT_AUTHOR_NAME") or git.config_get("user.name")
    email = git.config_get(USER_EMAIL_KEY) or os.environ.get("GIT_AUTHOR_EMAIL") or git.config_get("user.email")
    return name or "", email or ""


def remote_key(remote: str, field: str = "url") -> str:
    """A remote's git config key (``hangar-remote.NAME.url``, ``.data``)."""
    return f"{REMOTE_PREFIX}{remote}.{field}"


def upstream_key(branch: str, field: str) -> str:
    """A key of branch ``branch``'s upstream (``hangar-branch.NAME.remote``, ``.merge``): git's
    ``branch.NAME.*`` under hangar's own name, as hangar branches are not the code's branches."""
    return f"{UPSTREAM_PREFIX}{branch}.{field}"


def remote_urls(git: GitRepo) -> dict[str, str]:
    """Remote name -> address of every remote configured here (``hangar-remote.NAME.url``)."""
    return {key[len(REMOTE_PREFIX):-len(".url")]: value
            for key, value in git.config_items(REMOTE_PREFIX).items() if key.endswith(".url")}


def remote_s3_key(remote: str, name: str) -> str:
    """The git config key of one S3 setting of a remote's data store (``hangar-remote.NAME.s3endpoint``)."""
    return remote_key(remote, f"s3{name}")


def command_key(remote: str) -> str:
    """The git config key naming the program an SSH remote runs (like ``remote.<name>.uploadpack``)."""
    return f"remote.{remote}.hangarcommand"
