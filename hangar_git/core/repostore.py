"""A repository's data store: where ``hangar.store`` points, with which S3 settings, and
the repository's entry in the store's registry. Every layer that opens a repository's
store (the API, the server side of a remote) goes through here."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Mapping

from ..bookkeeping.gitrepo import GitRepo
from ..errors import NotInitializedError
from ..storage import open_store, registry
from ..storage.location import resolve_store
from ..storage.runtime import use_store_settings
from ..storage.s3config import s3_config_from_env

if TYPE_CHECKING:
    from ..storage import ObjectStore

STORE_KEY = "hangar.store"
HANGAR_DIR = "hangar"
"""Hangar's own state (writer lock, caches, ...) lives in ``<git common dir>/hangar``:
one for all linked worktrees, as git's refs and objects are."""
S3_PREFIX = "hangar.s3."


def hangar_dir(git: GitRepo) -> str:
    return os.path.join(git.git_dir, HANGAR_DIR)


def configured_store(git: GitRepo) -> str:
    """``hangar.store`` as saved: a URI, an absolute path or a path relative to the git dir."""
    value = git.config_get(STORE_KEY)
    if not value:
        raise NotInitializedError(git.main_root)
    return value


def store_uri(git: GitRepo, setting: str | None = None) -> str:
    """Where the repository's store is (``setting`` instead of the saved one, e.g. in init);
    the store's S3 settings from git config are in force for it from now on in this process."""
    uri = resolve_store(setting or configured_store(git), git.git_dir)
    use_store_settings(uri, s3_config_from_env(git.config_items(S3_PREFIX)) if "://" in uri else {})
    return uri


def registration(git: GitRepo) -> registry.RepoEntry:
    """This repository's entry in its store's registry."""
    return registry.RepoEntry.here(git.repository_id(), git.git_dir, git.main_root)


def register(git: GitRepo, uri: str, check: bool = False) -> bool:
    """Record in the store that this repository uses it (once per place and store; ``check``
    also makes sure the entry is still there); True if it wrote the entry."""
    return registry.ensure_registered(uri, registration(git), hangar_dir(git), check=check)


def open_repo_store(git: GitRepo, *, create: bool = False, register_here: bool = True,
                    setting: str | None = None) -> ObjectStore:
    """Open the repository's store (made first with ``create``; StoreNotFoundError without it
    when it is missing) and, with ``register_here``, register the repository in it."""
    uri = store_uri(git, setting)
    store = open_store(uri, create=create, durable=git.durable)
    if register_here:
        register(git, uri)
    return store


# -- the data store of a remote on a plain git host ------------------------------------------
REMOTE_PREFIX = "hangar-remote."
S3_NAMES = ("endpoint", "scheme", "region", "virtualaddressing")


def remote_s3_key(remote: str, name: str) -> str:
    """The git config key of one S3 setting of a remote's data store (``hangar-remote.NAME.s3endpoint``)."""
    return f"{REMOTE_PREFIX}{remote}.s3{name}"


def remote_s3_settings(git: GitRepo, remote: str, published: Mapping[str, str] | None = None) -> dict[str, str]:
    """The S3 settings (short name -> value) of a remote's data store: those its git host
    publishes, overridden by the repository's ``hangar.s3.*``, overridden by the remote's own
    ``hangar-remote.NAME.s3*``."""
    found = dict(published or {})
    found.update({key[len(S3_PREFIX):]: value for key, value in git.config_items(S3_PREFIX).items()})
    for name in S3_NAMES:
        value = git.config_get(remote_s3_key(remote, name))
        if value:
            found[name] = value
    return {name: found[name] for name in S3_NAMES if found.get(name)}


def open_data_store(git: GitRepo, remote: str, url: str, *, create: bool = False,
                    published: Mapping[str, str] | None = None) -> ObjectStore:
    """Open the store at a remote's data URL with the remote's S3 settings (see
    :func:`remote_s3_settings`; made first with ``create``, StoreNotFoundError without it when
    nothing was pushed there yet). Nothing is registered: the repository does not keep its own
    data there."""
    if "://" in url:
        settings = {S3_PREFIX + name: value for name, value in remote_s3_settings(git, remote, published).items()}
        use_store_settings(url, s3_config_from_env(settings))
    return open_store(url, create=create, durable=git.durable)
