"""One exception hierarchy for hangar-git.

Every error a user can cause or meet derives from :class:`HangarError`.
Messages name the object concerned and say what to do next; facts live
on the exception as attributes so code can act on them.
"""
from __future__ import annotations

from typing import Iterable, Sequence


class HangarError(Exception):
    """Base class of every hangar-git error.

    Subclasses are grouped by what a caller does about them: not found,
    already exists, bad input, state (do something first), locked or
    read-only, conflict, corrupt (integrity) and transport. Where Hangar 0.5
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


class RevisionNotFoundError(NotFoundError, ValueError):
    """A name is neither a branch nor a commit."""


class RemoteNotFoundError(NotFoundError, ValueError):
    """No remote by that name (a ValueError, as in Hangar)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no remote named {name!r}: `git hangar remote add {name} ADDRESS` adds one")


class ColumnNotFoundError(NotFoundError):
    def __init__(self, column: str) -> None:
        self.column = column
        super().__init__(f"column {column!r} does not exist in this checkout")


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

    def __init__(self, column: str, key: object, digest: str = "", *, remote: str = "REMOTE",
                 where: str = "BRANCH", on_remote: bool = False) -> None:
        self.column, self.key, self.digest = column, key, digest
        self.remote = remote if on_remote else ""
        if on_remote:  # a streaming checkout asked the remote, which lacks it too
            super().__init__(
                f"data of sample {key!r} in column {column!r} is neither on this machine nor on "
                f"remote {remote!r} (object {digest}): push it there from a repository that has it, "
                f"or stream from another remote")
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


class WriterLockError(PermissionDeniedError):
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

    def __init__(self, conflicts: "Sequence[object]") -> None:
        self.conflicts = list(conflicts)
        kinds: dict[str, int] = {}
        for c in self.conflicts:
            kind = str(getattr(c, "kind", "other"))
            kinds[kind] = kinds.get(kind, 0) + 1
        counts = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
        lines = [f"  {c}" for c in self.conflicts[:self.SHOWN]]
        if len(self.conflicts) > self.SHOWN:
            lines.append(f"  ... and {len(self.conflicts) - self.SHOWN} more (all are in .conflicts)")
        super().__init__(
            f"merge has {len(self.conflicts)} conflict(s) ({counts}); nothing was changed. "
            f"Resolve them on one branch, commit, and merge again:\n" + "\n".join(lines))


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


def join_names(names: Iterable[str]) -> str:
    """Format names for an error message: 'a', 'b' and 'c'."""
    items = [repr(n) for n in names]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# -- transport (appended by the transport layer) ------------------------------
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


# -- remotes on a plain git host plus an object store ---------------------------
class GitCommandError(RemoteError):
    """The ``git`` command that moves bookkeeping to or from a git host failed."""

    def __init__(self, message: str, *, address: str = "", detail: str = "") -> None:
        self.address, self.detail = address, detail
        super().__init__(message)


class DataLocationError(RemoteError):
    """A git remote's data location is unknown, unreachable, or not the one it published."""
