"""Fetch: bring a remote branch's bookkeeping (never its data) into ``remote/branch``."""
from __future__ import annotations

from dataclasses import dataclass

from ..bookkeeping.gitrepo import HEADS, REMOTES, GitRepo, remote_ref
from ..bookkeeping.transfer import closure_complete
from ..errors import BranchNotFoundError
from ..faults import checkpoint
from .progress import progress
from .rpc import Session
from .datastream import receive_objects


@dataclass(frozen=True, slots=True)
class FetchResult:
    remote: str
    branch: str
    head: str
    objects: int

    @property
    def tracking_name(self) -> str:
        return f"{self.remote}/{self.branch}"


def fetch(git: GitRepo, session: Session, remote: str, branch: str, *, quiet: bool = False,
          refetch: bool = False) -> FetchResult:
    """Copy the commits of ``branch`` that we lack and set ``refs/hangar/remotes/remote/branch``.
    ``refetch``: ask for all its history's objects, as a fresh clone would, and store those git
    lacks (what repairs damaged objects once their files are removed)."""
    heads: dict[str, str] = session.call("list_refs").header["heads"]
    head = heads.get(branch)
    if head is None:
        raise BranchNotFoundError(f"{remote}/{branch}")
    received = 0
    refs = list({**git.list_refs(HEADS), **git.list_refs(REMOTES)}.values())
    if refetch or not closure_complete(git, head, trusted=refs):  # our refs only name complete histories
        haves = [] if refetch else [h for h in refs if git.has_object(h)]
        with progress("Fetching commit records", quiet=quiet) as bar:
            for frame in session.stream("fetch_objects", {"wants": [head], "haves": haves}):
                if frame.kind == "count":
                    bar.total = int(frame.header.get("objects", 0))
                elif frame.kind == "objects":
                    received += receive_objects(git, frame)
                    checkpoint("fetch.between_object_frames")
                    bar.update(len(frame.header["oids"]))
    git.set_ref(remote_ref(remote, branch), head)
    return FetchResult(remote, branch, head, received)
