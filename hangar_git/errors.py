"""One exception hierarchy for hangar-git.

Every error a user can cause or meet derives from :class:`HangarError`.
Messages name the object concerned and say what to do next; facts live
on the exception as attributes so code can act on them.
"""
from __future__ import annotations

from typing import Sequence


class HangarError(Exception):
    """Base class of every hangar-git error.

    Subclasses are grouped by what a caller does about them: not found,
    already exists, bad input, state (do something first), read-only or locked
    (:class:`PermissionDeniedError`, :class:`LockedError`), conflict, corrupt
    (integrity) and transport (:class:`RemoteError`). Where Hangar 0.5
    raised a builtin exception, ours derive from that builtin too, so both
    ``except WriterLockError`` and ``except PermissionError`` catch a second writer.
    """


class _PlainMessage:
    """Mixin for KeyError subclasses: show the message, not its repr()."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""  # type: ignore[attr-defined]


# -- not found ---------------------------------------------------------------
class NotFoundError(_PlainMessage, HangarError, KeyError):
    """A named thing (branch, commit, column, key, remote) does not exist."""


class BranchNotFoundError(NotFoundError, ValueError):
    """No such branch (a ValueError, as in Hangar)."""

    def __init__(self, branch: str) -> None:
        self.branch = branch
        super().__init__(
            f"branch {branch!r} does not exist: `git hangar branch` lists branches")


class CommitNotFoundError(NotFoundError, ValueError):
    def __init__(self, commit: str) -> None:
        self.commit = commit
        super().__init__(
            f"commit {commit!r} does not exist: `git hangar log` lists commits")


class RevisionNotFoundError(BranchNotFoundError, CommitNotFoundError):
    """A revision names no commit: neither a branch nor a commit (so ``except`` either
    catches it), or an ancestor that does not exist (``master~99``)."""

    def __init__(self, message: str, spec: str = "") -> None:
        self.spec = self.branch = self.commit = spec
        NotFoundError.__init__(self, message)


class RemoteBranchNotFoundError(BranchNotFoundError):
    """A remote has no branch by that name."""

    def __init__(self, remote: str, branch: str) -> None:
        self.remote, self.branch = remote, branch
        NotFoundError.__init__(self, f"remote {remote!r} has no branch {branch!r} (so there is no "
                                     f"{remote}/{branch}): `git hangar ls-remote {remote}` lists its branches")


class RemoteNotFoundError(NotFoundError, ValueError):
    """No remote by that name (a ValueError, as in Hangar)."""

    def __init__(self, name: str) -> None:
        self.name = name
        if isinstance(name, str) and ("/" in name or ":" in name):  # an address typed where a name goes
            super().__init__(f"{name!r} is an address, not a remote name: name it first with "
                             f"`git hangar remote add NAME {name}`, then use NAME")
        else:
            super().__init__(f"no remote named {name!r}: `git hangar remote add {name} ADDRESS` adds one")


class ColumnNotFoundError(NotFoundError):
    def __init__(self, column: str, where: str = "this checkout", known: "Sequence[str] | None" = None) -> None:
        self.column = column
        listed = f" (its columns: {', '.join(known)})" if known else " (it has no columns)" if known == [] else ""
        super().__init__(f"column {column!r} does not exist in {where}{listed}")


class SampleNotFoundError(NotFoundError):
    def __init__(self, column: str, key: object) -> None:
        self.column, self.key = column, key
        super().__init__(f"column {column!r} has no sample with key {key!r}")


class DatasetKeysError(NotFoundError, ValueError):
    """Keys given to a dataset are not in every one of its columns (also a ValueError, as
    Hangar 0.5's dataloaders raised)."""

    def __init__(self, missing: dict) -> None:
        self.missing = missing
        shown = "; ".join(f"column {c!r}: {', '.join(repr(k) for k in ks[:5])}"
                          + (f" (+{len(ks) - 5} more)" if len(ks) > 5 else "") for c, ks in missing.items())
        super().__init__(f"keys not in every column of the dataset: {shown}; pass keys that all "
                         f"columns hold (keys=None takes the keys they share)")


class MetadataNotFoundError(NotFoundError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no metadata key {key!r} in this checkout")


class MissingDataError(HangarError, FileNotFoundError):
    """A sample is recorded but its data is not on this machine."""

    def __init__(self, column: str, key: object, digest: str = "", *, remote: "str | None" = "REMOTE",
                 where: str = "BRANCH", on_remote: bool = False) -> None:
        self.column, self.key, self.digest = column, key, digest
        self.remote = remote if on_remote and remote else ""
        if on_remote:  # a streaming checkout asked the remote, which lacks it too
            super().__init__(
                f"data of sample {key!r} in column {column!r} is neither on this machine nor on "
                f"remote {remote!r} (object {digest}): push it there from a repository that has it, "
                f"or stream from another remote")
            return
        if remote is None:  # nowhere to fetch it from: not a "remote reference"
            super().__init__(
                f"data of sample {key!r} in column {column!r} is not on this machine, and this repository "
                f"has no remote to fetch it from: `git hangar fsck` lists what is missing; add a "
                f"repository that holds it with `git hangar remote add NAME ADDRESS`")
            return
        super().__init__(
            f"data of sample {key!r} in column {column!r} is not on this machine "
            f"(remote reference): run `git hangar fetch-data {remote} {where} "
            f"--column {column}` to retrieve it")

    def __str__(self) -> str:
        return str(self.args[0])


class StoreNotFoundError(NotFoundError, FileNotFoundError):
    """The data store a repository is configured with does not exist."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        super().__init__(
            f"no hangar data store at {uri!r}: check the repository's `hangar.store` setting "
            f"(`git config hangar.store`), or run `git hangar init` to create one")


class RegistrationNotFoundError(NotFoundError):
    """No repository by that name is registered in the store (``gc --forget``)."""


# -- already exists ----------------------------------------------------------
class AlreadyExistsError(HangarError):
    """A thing with that name already exists."""


class BranchExistsError(AlreadyExistsError, ValueError):
    def __init__(self, branch: str) -> None:
        self.branch = branch
        super().__init__(f"branch {branch!r} already exists: pick another name or remove it first")


class RemoteExistsError(AlreadyExistsError, ValueError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"remote {name!r} already exists: remove it first or pick another name")


class ColumnExistsError(AlreadyExistsError, LookupError):
    """A column of that name exists (a LookupError, as in Hangar)."""

    def __init__(self, column: str) -> None:
        self.column = column
        super().__init__(f"column {column!r} already exists: delete it first or use another name")


class RepositoryExistsError(AlreadyExistsError):
    def __init__(self, path: str, option: str = "remove_old=True") -> None:
        self.path = path
        super().__init__(f"{path!r} is already a hangar repository: pass {option} "
                         f"to start over (this deletes its hangar data)")


# -- bad input ---------------------------------------------------------------
class InvalidArgumentError(HangarError, ValueError):
    """An argument is not acceptable (wrong type or value); the message says what is."""


class InvalidNameError(InvalidArgumentError):
    """A key, column, branch or remote name is not acceptable."""


class InvalidKeyError(_PlainMessage, InvalidNameError, KeyError, TypeError):
    """A sample key is not an int or a valid str (KeyError and TypeError, as in Hangar)."""


class SchemaError(InvalidArgumentError):
    """A value does not fit the column's schema (kind, dtype or shape)."""

    def __init__(self, message: str, *, expected: object = None, given: object = None) -> None:
        self.expected, self.given = expected, given
        super().__init__(message)


class AmbiguousRevisionError(InvalidArgumentError):
    """An abbreviated digest matches more than one object."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        super().__init__(f"the abbreviated digest {spec!r} is ambiguous: give more of its digits "
                         f"(`git hangar log` lists commits)")


class ImportFormatError(InvalidArgumentError):
    """A file given to `git hangar add` cannot be read."""


# -- state: do something first -----------------------------------------------
class StateError(HangarError, RuntimeError):
    """The repository is not in the state this operation needs (a RuntimeError, as in Hangar)."""


class NotInitializedError(StateError):
    """The repository has no hangar store yet."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"no hangar repository at {path!r}: run `git hangar init` "
            f"(or Repository(path).init(user_name, user_email)) first")


class NothingStagedError(StateError):
    """The staging area holds no changes (`reset_staging_area` with none to drop)."""


class NothingToCommitError(NothingStagedError):
    """`commit` was called with no staged changes."""


class DirtyStagingError(StateError):
    """An operation needs a clean staging area but there are uncommitted changes."""


class BranchRemovalError(StateError):
    """A branch cannot be removed yet: it is the write branch, or holds unmerged commits."""


class NoCommitsError(StateError):
    """The operation needs a commit and there is none yet."""


class SharedStoreError(StateError):
    """gc cannot see a repository registered as a user of the store, so it would not know
    what that repository still needs (a RuntimeError, like every state error)."""

    def __init__(self, label: str, reason: str) -> None:
        self.label, self.reason = label, reason
        super().__init__(
            f"gc refused: the data store is also used by {label} ({reason}), so gc cannot tell "
            f"what it still needs; run gc where that repository can be seen, or if it is gone "
            f"for good: `git hangar gc --forget {label}`")


class StoreInUseError(StateError):
    """A repository that still uses the store cannot be unregistered from it."""


# -- locked / read-only --------------------------------------------------------
class PermissionDeniedError(HangarError, PermissionError):
    """A write was attempted through a read-only checkout or a closed one."""


class CheckoutClosedError(PermissionDeniedError):
    """The checkout was closed; open a new one."""


class ReadOnlyColumnError(PermissionDeniedError, TypeError):
    """Item assignment into a column of a read checkout (TypeError, as in Hangar)."""


class NotPicklableError(PermissionDeniedError, TypeError):
    """A write checkout, or a column of one, was pickled: its writer lock belongs to its
    process (a TypeError, as pickle raises for what it cannot pickle)."""


class LockedError(PermissionDeniedError):
    """Someone else holds what this operation needs (wait, or close theirs first)."""


class WriterLockError(LockedError):
    """Another process holds the repository's writer lock (PermissionError, as in Hangar)."""

    def __init__(self, message: str, holder: str = "") -> None:
        self.holder = holder
        super().__init__(message)


# -- conflict ------------------------------------------------------------------
class ConflictError(HangarError):
    """Changes cannot be combined; nothing was changed."""


class RefMovedError(ConflictError):
    """A branch moved while an operation that moves it ran; redo the operation."""


class MergeConflictError(ConflictError, ValueError):
    """A 3-way merge found changes that cannot be combined automatically."""

    SHOWN = 100

    def __init__(self, conflicts: "Sequence[object]", sides: tuple[str, str] = ("master", "dev")) -> None:
        self.conflicts = list(conflicts)
        self.sides = sides
        """The names of the branch merged into and of the one merged."""
        kinds: dict[str, int] = {}
        for c in self.conflicts:
            kind = str(getattr(c, "kind", "other"))
            kinds[kind] = kinds.get(kind, 0) + 1
        counts = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
        lines = [f"  {_describe(c, sides)}" for c in self.conflicts[:self.SHOWN]]
        if len(self.conflicts) > self.SHOWN:
            lines.append(f"  ... and {len(self.conflicts) - self.SHOWN} more")
        super().__init__(
            f"merge has {len(self.conflicts)} conflict(s) ({counts}); nothing was changed. Merge again "
            f"with `--strategy ours` (keep {sides[0]}'s version of each) or `--strategy theirs` (take "
            f"{sides[1]}'s), "
            f"or resolve them on one branch, commit, and merge again:\n" + "\n".join(lines))


def _describe(conflict: object, sides: tuple[str, str]) -> str:
    describe = getattr(conflict, "describe", None)
    return describe(*sides) if describe is not None else str(conflict)


class NonFastForwardError(ConflictError):
    """A push would discard commits the remote has."""

    def __init__(self, remote: str, branch: str) -> None:
        self.remote, self.branch = remote, branch
        super().__init__(
            f"push of {branch!r} to {remote!r} rejected (non-fast-forward): the remote "
            f"has commits you lack. Run `git hangar fetch {remote} {branch}`, merge "
            f"{remote}/{branch} into {branch}, then push again")


# -- corruption / transport -------------------------------------------------
class IntegrityError(HangarError):
    """Stored or received bytes do not match their digest."""

    def __init__(self, message: str, *, expected: str = "", got: str = "") -> None:
        self.expected, self.got = expected, got
        super().__init__(message)


class DamagedObjectError(IntegrityError):
    """A git object of the repository cannot be read (damaged on disk)."""

    def __init__(self, oid: str, detail: str) -> None:
        self.oid, self.detail = oid, detail
        super().__init__(f"git object {oid or '(unknown)'} of this repository is damaged ({detail}): `git hangar "
                         f"fsck` lists the damage; restore the object from another clone (`git fetch` from it) "
                         f"or a backup", expected=oid)


class StoreFormatError(IntegrityError):
    """The store at a URI was written in a layout this version does not read."""

    def __init__(self, uri: str) -> None:
        super().__init__(f"the store at {uri} was written by an earlier development version of hangar-git "
                         f"(one byte log): fetch its data again into a new store (git hangar init --store NEW)")
        self.uri = uri


class RecordFormatError(IntegrityError):
    """A commit tree states a record format or digest this version does not read."""

    def __init__(self, tree: str, found: str, expected: str) -> None:
        super().__init__(f"commit tree {tree or '?'} was written by an incompatible development version of "
                         f"hangar-git ({found}; this version reads {expected}): import its data again "
                         f"into a repository made by this version", expected=expected, got=found)
        self.tree = tree


class RemoteError(HangarError):
    """A remote could not be reached, refused a request, or broke the protocol."""


class StoreUnreachableError(RemoteError, ConnectionError):
    """The data store's server could not be reached or refused the request."""

    def __init__(self, uri: str, detail: str) -> None:
        self.uri, self.detail = uri, detail
        super().__init__(
            f"cannot reach the data store at {uri}: {detail}; check that its server is up and the "
            f"repository's S3 settings (`git config --get-regexp hangar.s3`, TILEDB_VFS_S3_* and AWS_* "
            f"in the environment)")


class RemoteDataError(RemoteError):
    """The remote lacks data or commits asked of it, or refused part of a transfer."""


class ProtocolError(RemoteError):
    """A peer sent a malformed or oversized message."""


class ConnectionClosed(RemoteError):
    """The peer closed the connection cleanly between two messages."""


class HostKeyError(RemoteError):
    """An SSH server's host key is unknown or has changed."""

    def __init__(self, message: str, *, host: str = "", fingerprint: str = "") -> None:
        self.host, self.fingerprint = host, fingerprint
        super().__init__(message)


class AuthenticationError(RemoteError):
    """An SSH server refused every credential we offered."""


class InvalidAddressError(RemoteError, ValueError):
    """A remote address cannot be parsed."""


class ServerConfigError(InvalidArgumentError):
    """A server's authorized-keys or access file cannot be used (names the file and line)."""


class GitCommandError(RemoteError):
    """The ``git`` command that moves bookkeeping to or from a git host failed."""

    def __init__(self, message: str, *, address: str = "", detail: str = "") -> None:
        self.address, self.detail = address, detail
        super().__init__(message)


class DataLocationError(RemoteError):
    """A git remote's data location is unknown, unreachable, or not the one it published."""


# -- warnings ------------------------------------------------------------------
class MissingDataWarning(UserWarning):
    """A checkout opened with samples whose data is not on this machine (a UserWarning, as in
    Hangar); reading one of them raises :class:`MissingDataError`."""
