"""The server side of the protocol: one repository, every request untrusted.

Run by ``git hangar serve PATH`` (stdin/stdout, under OpenSSH) and by the
standalone ``git hangar server``. What handles data (numpy, the store and the
data stream) is imported by the requests that need it, so a ``serve`` process
answering ``hello`` and ``list_refs`` (a push or fetch with nothing to do) starts
fast. Clients may read refs, objects and data, and may add objects and data (each verified before it is kept) and move a
branch under ``refs/hangar/heads/`` by compare-and-swap once everything
the new commits reference is present.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Optional

from ..bookkeeping.refnames import HEADS, branch_ref
from ..errors import (BranchRemovalError, CommitNotFoundError, DirtyStagingError, RemoteDataError, IntegrityError,
                      NonFastForwardError, NotInitializedError, ProtocolError, RefMovedError)
from ..faults import checkpoint
from ..core.gitfiles import NotPlain, RepoFiles
from ..core.layout import default_branch
from .addedsamples import RECORD_ERRORS, AddedSamples
from .framing import Frame
from .rpc import Reply, ServiceHandler, Stream, rpc_method

if TYPE_CHECKING:
    from ..bookkeeping.gitrepo import GitRepo
    from ..bookkeeping.transfer import KeptBlobs
    from ..storage import ObjectStore


GET_DATA_MAX = 1 << 20
"""The most digests this server takes in one ``get_data`` request, as its ``hello`` says
(``"get_data_max"``; servers that do not say take ``wire.MAX_DATA_ITEMS``): one request
streams a whole fetch of small samples, its frames read ahead of the wire."""
MAX_STREAMED_OBJECTS = 1 << 24
"""The most objects a push may announce to have them packed as they arrive (one pack)."""
RECEIVED_BLOBS_KEPT = 32 << 20
"""Bytes of received shard blobs a session keeps for its ref update (the rest are read again)."""
VERIFIED_KEPT = 1 << 22
"""Digests of samples a session verified and kept (``put_data``) that its ref update takes as
present without looking them up in the store (beyond these, it looks them up)."""


class VerifiedData:
    """The digests of the samples a session's ``put_data`` verified and kept, in order (up to
    ``VERIFIED_KEPT``), so that its ``update_ref`` looks up only the others in the store.
    Freshly kept objects are safe from a concurrent ``gc`` (its grace period)."""

    def __init__(self) -> None:
        self.parts: list[Any] = []
        self.count = 0

    def add(self, frame: Frame) -> None:
        """Note the digests of a ``data`` frame once it is kept (called in order as each is)."""
        count = frame.header.get("count")
        if frame.kind == "data" and type(count) is int and self.count + count <= VERIFIED_KEPT:
            import numpy as np
            self.parts.append(np.frombuffer(bytes(memoryview(frame.payload)[:32 * count]), dtype="S32"))
            self.count += count

    def not_among(self, raws: Any) -> Any:
        """``raws`` (``S32``) less those noted here (all of them when the same digests came in
        the same order, a push's usual case, told by one comparison)."""
        if not self.parts or not len(raws):
            return raws
        import numpy as np

        from ..storage.packindex import found_among
        kept = self.parts[0] if len(self.parts) == 1 else np.concatenate(self.parts)
        if len(kept) == len(raws) and np.array_equal(kept.view(np.uint64), np.ascontiguousarray(raws).view(np.uint64)):
            return raws[:0]
        return raws[~found_among(raws, kept)]

    def clear(self) -> None:
        self.parts, self.count = [], 0


class RepositoryService(ServiceHandler):
    """Serves one hangar repository (bare or not)."""

    server_name = "hangar-git"

    def __init__(self, path: str, *, trusted: bool = False) -> None:
        """``trusted``: a server process, which has libgit2 trust stored objects
        (:func:`~hangar_git.bookkeeping.transfer.trust_stored_objects`) once it loads it."""
        self.trusted = trusted
        self._git: Optional[GitRepo] = None
        self._files: Optional[RepoFiles] = None
        try:  # the refs and config from the files: a request for refs loads no libgit2
            files = RepoFiles.at(path)
            if files is None or not files.is_initialized():
                raise NotInitializedError(path)
            self._files = files
        except NotPlain:
            self._open_git(path)
        self.path = path
        self._store: ObjectStore | None = None
        self._kept: Optional[KeptBlobs] = None
        self._verified = VerifiedData()
        self._added = AddedSamples()

    def _open_git(self, path: str) -> GitRepo:
        from ..bookkeeping.transfer import trust_stored_objects
        from ..core import locate
        if self.trusted:
            trust_stored_objects()
        git = locate.at(path)
        if git is None:
            raise NotInitializedError(path)
        self._git = git
        return git

    @property
    def git(self) -> GitRepo:
        """The repository through libgit2, opened on the first request that needs objects."""
        return self._git if self._git is not None else self._open_git(self.path)

    @property
    def _received(self) -> KeptBlobs:
        """Shard blobs of this session's put_objects, for its update_ref to list their samples."""
        if self._kept is None:
            from ..bookkeeping.transfer import KeptBlobs
            self._kept = KeptBlobs(self.git, limit=RECEIVED_BLOBS_KEPT)
        return self._kept

    def _refs_and_config(self) -> Any:
        """The repository's files while libgit2 is not loaded (they answer refs and config), else git."""
        return self._files if self._git is None and self._files is not None else self.git

    @property
    def store(self) -> ObjectStore:
        """The repository's store, opened on the first request that needs data (a request for
        refs or records never loads the storage layer)."""
        if self._store is None:
            from ..core.repostore import open_repo_store
            self._store = open_repo_store(self.git)
        return self._store

    def hello_info(self) -> dict[str, Any]:
        return {"default_branch": default_branch(self._refs_and_config()),
                "access": "r" if self.read_only else "rw",
                "data_parts": 1,  # takes objects too big for one frame as ``part`` frames
                "get_data_max": GET_DATA_MAX,
                "objects_stream": 1}  # packs a push's objects as they arrive: small frames welcome

    # -- refs and records -----------------------------------------------------------
    @rpc_method
    def list_refs(self, request: Frame, stream: Stream) -> Reply:
        return {"heads": self._refs_and_config().list_refs(HEADS)}

    @rpc_method
    def fetch_objects(self, request: Frame, stream: Stream) -> Reply:
        from ..bookkeeping.transfer import objects_to_send
        from .datastream import send_objects
        from .wire import check_oids
        wants = check_oids(request.header.get("wants"), "wants")
        haves = check_oids(request.header.get("haves", []), "haves")
        if not wants:
            raise ProtocolError("fetch_objects needs at least one wanted commit")
        for w in wants:
            if not self._is_commit(w):
                raise RemoteDataError(f"the remote has no commit {w}")
        todo = objects_to_send(self.git, wants, [h for h in haves if self._is_commit(h)])
        stream.send("count", {"objects": len(todo)})
        send_objects(self.git, stream, todo)
        return {"objects": len(todo)}

    @rpc_method(writes=True)
    def put_objects(self, request: Frame, stream: Stream) -> Reply:
        from ..bookkeeping.packwriter import PACK_MIN, RECEIVED_COMPRESSION
        from ..bookkeeping.packstream import PackStream
        from ..bookkeeping.transfer import COMMIT
        from .datastream import receive_objects
        count = request.header.get("count")
        stored, commits = 0, []
        # a few objects (kept loose), or an old client that does not say how many: no pack
        pack = PackStream(self.git.git_dir, count, RECEIVED_COMPRESSION, durable=self.git.durable) \
            if isinstance(count, int) and PACK_MIN <= count <= MAX_STREAMED_OBJECTS else None
        with pack if pack is not None else nullcontext():
            for frame in stream.recv_until("end"):
                stored += receive_objects(self.git, frame, self._received, pack)
                commits += [o for o, t in zip(frame.header["oids"], frame.header["types"]) if t == COMMIT]
            if pack is not None:
                pack.finish()
        # while the push's data is on its way: what its ref update will check
        self._added.prepare(self.git, commits, self._heads(), read=self._received)
        return {"stored": stored}

    def _heads(self) -> list[str]:
        return list(self.git.list_refs(HEADS).values())

    @rpc_method(writes=True)
    def update_ref(self, request: Frame, stream: Stream) -> Reply:
        from ..bookkeeping.branches import check_branch_name
        from ..bookkeeping.gitrepo import RefChangedError
        from ..bookkeeping.transfer import closure_complete
        from ..storage import raw_to_digest
        from .wire import check_oids
        branch = check_branch_name(request.header.get("branch"))
        new = check_oids([request.header.get("new")], "new")[0]
        old = request.header.get("old")
        if old is not None:
            old = check_oids([old], "old")[0]
        heads = self._heads()
        if not closure_complete(self.git, new, trusted=heads):
            raise IntegrityError(f"push of {branch!r} is incomplete: commit {new} or part of its "
                                 f"history is missing on the remote; push again")
        current = self.git.get_ref(branch_ref(branch))
        if current != old or (old is not None and not self.git.is_ancestor(old, new)):
            raise NonFastForwardError("remote", branch)
        self._check_not_staged_on(branch)
        try:
            # what our refs reach has its data here: check only what the new commits add
            needed = self._added.added(self.git, new, heads, read=self._received)
            unseen = self._verified.not_among(needed)  # what this session verified is here: not looked up
            absent = unseen[self.store.absent(unseen)] if len(unseen) else unseen
        except RECORD_ERRORS as exc:
            raise IntegrityError(f"push of {branch!r} refused: the records of commit {new} are not "
                                 f"hangar records ({type(exc).__name__})") from None
        finally:
            self._received.clear()
            self._verified.clear()
            self._added.clear()
        if len(absent):
            raise IntegrityError(
                f"push of {branch!r} refused: {len(absent)} sample(s) the new commits reference are "
                f"not on the remote (e.g. {raw_to_digest(absent[0])}); push again to send them")
        checkpoint("serve.update_ref.before_set_ref")
        try:
            self.git.set_ref(branch_ref(branch), new, expected=old)
        except RefChangedError:
            raise NonFastForwardError("remote", branch) from None
        return {"branch": branch, "head": new}

    def _check_not_staged_on(self, branch: str) -> None:
        """Refuse to move a branch that holds staged changes here, as git refuses to update a
        checked-out branch whose work tree has changes (``receive.denyCurrentBranch=updateInstead``;
        a clean staging area just follows its branch)."""
        from ..core.staging import StagingArea
        if StagingArea(self.git).of(branch).changed:
            raise DirtyStagingError(
                f"push of {branch!r} refused: the remote repository has uncommitted changes staged on "
                f"{branch!r} (as git refuses a push to a checked-out branch with changes); commit them "
                f"(`git hangar commit`) or discard them (`git hangar reset`) there first, or push another branch")

    @rpc_method(writes=True)
    def delete_ref(self, request: Frame, stream: Stream) -> Reply:
        """Delete a branch if it is still at ``old`` (never the repository's default branch)."""
        from ..bookkeeping.branches import check_branch_name
        from ..bookkeeping.gitrepo import RefChangedError
        from .wire import check_oids
        branch = check_branch_name(request.header.get("branch"))
        old = check_oids([request.header.get("old")], "old")[0]
        if branch == default_branch(self.git):
            raise BranchRemovalError(f"refusing to delete {branch!r}: it is the remote's default branch")
        try:
            self.git.set_ref(branch_ref(branch), None, expected=old)
        except RefChangedError:
            raise RefMovedError(f"branch {branch!r} moved on the remote since it was listed; nothing was "
                                f"deleted: fetch it and look before deleting") from None
        return {"branch": branch, "old": old}

    def _is_commit(self, oid: str) -> bool:
        try:
            self.git.commit_info(oid)
        except CommitNotFoundError:
            return False
        return True

    # -- data -------------------------------------------------------------------------
    @rpc_method
    def missing_data(self, request: Frame, stream: Stream) -> Reply:
        """Which of these objects the remote lacks: a JSON list for a JSON request, a
        bitmap (one bit per digest, set = missing) for a binary digest list."""
        import numpy as np

        from ..storage import Digest
        from .wire import check_digests, decode_raw_digests
        if "digests" in request.header:
            digests = check_digests(request.header.get("digests"))
            return {"missing": self.store.missing([Digest(d) for d in digests])}
        raws = decode_raw_digests(request.header, request.payload)
        return {"count": len(raws)}, np.packbits(self.store.absent(raws)).tobytes()

    @rpc_method
    def data_sizes(self, request: Frame, stream: Stream) -> Reply:
        from .wire import check_digests
        from .objectdamage import stored_sizes
        return {"sizes": stored_sizes(self.store, check_digests(request.header.get("digests")))}

    @rpc_method(writes=True)
    def put_data(self, request: Frame, stream: Stream) -> Reply:
        # what a push brings is read by others, later: keep it out of this server's page cache
        from .datastream import receive_frames
        return {"stored": receive_frames(self.store, stream.recv_until("end"), self._verified.add, uncached=True)}

    @rpc_method
    def get_data(self, request: Frame, stream: Stream) -> Reply:
        from .datastream import send_data
        from .wire import decode_raw_digests
        raws = decode_raw_digests(request.header, request.payload, GET_DATA_MAX)
        sent = send_data(self.store, stream, raws, fault="serve.get_data.between_frames",
                         parts=bool(request.header.get("parts")))
        return {"objects": sent}

