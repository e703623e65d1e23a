"""Names bookkeeping gives things in a git repository: its refs and its own config key.

Apart from :mod:`.gitrepo` so that what only names refs (a server answering ``list_refs``
from the ref files, :mod:`hangar_git.core.gitfiles`) loads no libgit2.
"""
from __future__ import annotations

from typing import NewType

Oid = NewType("Oid", str)
RefName = NewType("RefName", str)

HANGAR_NS = "refs/hangar"
HEADS = f"{HANGAR_NS}/heads/"
REMOTES = f"{HANGAR_NS}/remotes/"
STAGING = f"{HANGAR_NS}/staging"
STAGING_MESSAGE = "hangar staging area\n\nbranch: {branch}\n"
"""Message of the staging area's commit (at :data:`STAGING`), naming the branch it stages for."""
DURABLE_KEY = "hangar.fsync"


def branch_ref(branch: str) -> RefName:
    return RefName(HEADS + branch)


def remote_ref(remote: str, branch: str) -> RefName:
    return RefName(f"{REMOTES}{remote}/{branch}")
