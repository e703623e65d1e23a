"""Errors a caller fixes by changing the request: bad input, a state to change first, read-only or locked."""
from __future__ import annotations

from .base import HangarError, PlainMessage


# -- bad input ---------------------------------------------------------------
class InvalidArgumentError(HangarError, ValueError):
    """An argument is not acceptable (wrong type or value); the message says what is."""


class InvalidNameError(InvalidArgumentError):
    """A key, column, branch or remote name is not acceptable."""


class InvalidKeyError(PlainMessage, InvalidNameError, KeyError, TypeError):
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


class AmbiguousBranchError(InvalidArgumentError):
    """A branch to check out exists only as remote-tracking branches of several remotes, so
    which one the new local branch should start from and track is the user's choice."""

    def __init__(self, branch: str, candidates: "list[str]") -> None:
        self.branch, self.candidates = branch, candidates
        choices = " or ".join(f"`git hangar checkout -b {branch} {name}`" for name in candidates)
        super().__init__(f"there is no local branch {branch!r} and several remotes have one "
                         f"({', '.join(candidates)}): create it from one of them with {choices}")


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


class DirtyStagingError(StateError, ValueError):
    """An operation needs a clean staging area but there are uncommitted changes (a ValueError
    too: Hangar 0.5 raised one for a write checkout of another branch over staged changes)."""


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
