"""Writing git refs through pygit2, recovering from lock files a killed process left (the
half of :mod:`.gitrepo` that moves branches; the compare-and-swap is :meth:`.GitRepo.set_ref`).
"""
from __future__ import annotations

import os
import time
import warnings
from typing import Optional

import pygit2


def get_ref(repo: pygit2.Repository, name: str) -> Optional[str]:
    """The id a direct ref points at, or None when there is no such ref."""
    ref = repo.references.get(name)
    return str(ref.target) if ref is not None else None


def list_refs(repo: pygit2.Repository, prefix: str) -> dict[str, str]:
    """name less ``prefix`` -> id of every direct ref whose name starts with ``prefix``."""
    out = {}
    for name in repo.references:
        if name.startswith(prefix):
            ref = repo.references[name]
            if ref.type == pygit2.enums.ReferenceType.DIRECT:
                out[name[len(prefix):]] = str(ref.target)
    return out


def valid_ref_name(name: str) -> bool:
    return bool(pygit2.reference_is_valid_name(name))


def write_ref(repo: pygit2.Repository, git_dir: str, name: str, new: Optional[str],
              current: Optional[str]) -> None:
    """Point ``name`` at ``new`` (delete it when None; ``current``: where it points now).

    Called holding hangar's ref lock. A ``.lock`` file git left behind when a process was
    killed is cleared (with a warning) and the write tried once more."""
    try:
        _write(repo, name, new, current)
    except (OSError, pygit2.GitError):
        if not _clear_stale_ref_locks(git_dir, name):
            raise
        # a fresh handle: libgit2 drops the ref from its packed-refs cache before it
        # fails to lock, so the same handle would then skip deleting it
        _write(pygit2.Repository(git_dir), name, new, current)


def _write(repo: pygit2.Repository, name: str, new: Optional[str], current: Optional[str]) -> None:
    refs = repo.references
    if new is None:
        if current is not None:
            refs.delete(name)
    else:
        refs.create(name, pygit2.Oid(hex=new), force=True)


def _clear_stale_ref_locks(git_dir: str, name: str) -> bool:
    """Remove git's ``<ref>.lock``/``packed-refs.lock`` left by a killed process.

    Called holding ``hangar-refs.lock``, so no hangar process is writing them; a
    git command that is gets a second to finish. True if a lock was (or went) away.
    """
    paths = [p for p in (os.path.join(git_dir, name + ".lock"),
                         os.path.join(git_dir, "packed-refs.lock")) if os.path.exists(p)]
    found = bool(paths)
    deadline = time.monotonic() + 1.0
    while paths and time.monotonic() < deadline:
        time.sleep(0.05)
        paths = [p for p in paths if os.path.exists(p)]
    for p in paths:
        os.remove(p)
        warnings.warn(f"removed stale git lock file {p} left by an interrupted process",
                      UserWarning, stacklevel=5)
    return found
