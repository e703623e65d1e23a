"""Where a store lives: resolving a repository's ``hangar.store`` value, and
asking TileDB's VFS whether a store is there (local disk and S3 alike).

A ``hangar.store`` value is a URI (``s3://bucket/prefix``, ``file:///...``),
an absolute path, or a path relative to the git common dir (the default,
:data:`DEFAULT_STORE`), so a repository that is copied or moved takes its
store along and a linked worktree uses its main repository's store.
"""
from __future__ import annotations

import os
from typing import Optional


DEFAULT_STORE = "hangar/store"
"""The default ``hangar.store`` value: inside the git common dir."""

def is_uri(value: str) -> bool:
    return "://" in value


def local_path(uri: str) -> Optional[str]:
    """The file system path of a local store URI (a path or ``file://``), None for a remote one."""
    if uri.startswith("file://"):
        return uri[len("file://"):]
    return None if is_uri(uri) else uri


def resolve_store(value: str, common_dir: str) -> str:
    """The store URI a ``hangar.store`` value names for a repository whose git common
    dir is ``common_dir``: URIs and absolute paths as given, relative paths joined to it."""
    if is_uri(value) or os.path.isabs(value):
        return value.rstrip("/") if is_uri(value) else os.path.normpath(value)
    return os.path.normpath(os.path.join(common_dir, value))


def store_setting(given: str, typed_in: str, common_dir: str, repo_root: str) -> str:
    """What to save as ``hangar.store`` for a location a user gave.

    URIs are kept as given. A path is taken relative to ``typed_in`` (where the
    user typed it); inside ``repo_root`` it is saved relative to the common dir
    (it moves and is copied with the repository), elsewhere as an absolute path
    (a store beside the repository, maybe shared, stays where it is).
    """
    if is_uri(given):
        return given.rstrip("/")
    path = os.path.normpath(os.path.join(typed_in, os.path.expanduser(given)))
    if _inside(path, repo_root) or _inside(path, common_dir):
        return os.path.relpath(path, common_dir)
    return path


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, os.path.normpath(root)]) == os.path.normpath(root)


def same_store(a: str, b: str) -> bool:
    """Whether two resolved store URIs name one store."""
    if is_uri(a) or is_uri(b):
        return _local(a).rstrip("/") == _local(b).rstrip("/")
    return os.path.realpath(a) == os.path.realpath(b)


def _local(uri: str) -> str:
    return os.path.realpath(uri[len("file://"):]) if uri.startswith("file://") else uri


def store_exists(uri: str) -> bool:
    """Whether anything is stored at ``uri`` (a store, or at least its registry)."""
    from .files import reaching  # TileDB loads only when a store is looked at
    from .runtime import tiledb_vfs
    with reaching(uri):
        return bool(tiledb_vfs(uri).is_dir(uri))


def remove_store(uri: str) -> bool:
    """Delete the store at ``uri`` and everything in it; False if there was none."""
    if not store_exists(uri):
        return False
    from .files import reaching
    from .runtime import tiledb_vfs
    with reaching(uri):
        tiledb_vfs(uri).remove_dir(uri)
    return True
