"""Errors about names: a thing that does not exist, or already does."""
from __future__ import annotations

TYPE_CHECKING = False  # typing's import is a third of `git hangar -h`: names for mypy only
if TYPE_CHECKING:
    from typing import Sequence

from .base import HangarError, PlainMessage


# -- not found ---------------------------------------------------------------
class NotFoundError(PlainMessage, HangarError, KeyError):
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
    def __init__(self, column: str, where: str = "in this checkout", known: "Sequence[str] | None" = None) -> None:
        self.column = column
        self.known = list(known) if known is not None else None
        """The columns that do exist there (None: not listed)."""
        listed = f" (its columns: {', '.join(known)})" if known else " (it has no columns)" if known == [] else ""
        super().__init__(f"column {column!r} does not exist {where}{listed}")


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
    def __init__(self, key: str, where: str = "in this checkout") -> None:
        self.key = key
        super().__init__(f"no metadata key {key!r} {where}")


class MissingDataError(HangarError, FileNotFoundError):
    """A sample is recorded but its data is not on this machine."""

    def __init__(self, column: str, key: object, digest: str = "", *, remote: str = "", hint: str = "",
                 on_remote: bool = False) -> None:
        """``hint``: what to do, as :func:`hangar_git.api.hints.fetch_data_hint` words it; ``remote``
        with ``on_remote``: the remote a streaming checkout asked, which lacks it too."""
        self.column, self.key, self.digest = column, key, digest
        self.remote = remote if on_remote else ""
        if on_remote:
            super().__init__(
                f"data of sample {key!r} in column {column!r} is neither on this machine nor on "
                f"remote {remote!r} (object {digest}): push it there from a repository that has it, "
                f"or stream from another remote")
            return
        super().__init__(f"data of sample {key!r} in column {column!r} is not on this machine"
                         + (f": {hint}" if hint else ""))

    def __str__(self) -> str:
        return str(self.args[0])


class StoreNotFoundError(NotFoundError, FileNotFoundError):
    """The data store a repository is configured with does not exist."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        super().__init__(
            f"no hangar data store at {uri!r}: check the repository's `hangar.store` setting "
            f"(`git config hangar.store`), or run `git hangar init` to create an empty one there (branches and "
            f"history are kept; fetch-data then fetches the data again)")


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
        super().__init__(f"remote {name!r} already exists: pick another name, or change its address "
                         f"with `git hangar remote set-url {name} ADDRESS`")


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


# -- warnings ------------------------------------------------------------------
class MissingDataWarning(UserWarning):
    """A checkout opened with samples whose data is not on this machine (a UserWarning, as in
    Hangar); reading one of them raises :class:`MissingDataError`."""
