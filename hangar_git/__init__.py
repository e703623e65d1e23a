"""hangar-git: version control for tensor data, as a git extension.

Every public name (``Repository``, the datasets, the exceptions) loads on first
use, so tools that need only part of the package (``git hangar -h``, the
``git hangar serve`` process) do not pay for all of it.
"""
from __future__ import annotations

TYPE_CHECKING = False  # neither typing nor the errors load at start-up (`git hangar -h` needs neither)
if TYPE_CHECKING:
    from typing import Any

    from .errors import (AlreadyExistsError, AuthenticationError, BranchExistsError, BranchNotFoundError,
                         BranchRemovalError, CheckoutClosedError, ColumnExistsError, ColumnNotFoundError,
                         CommitNotFoundError, ConflictError, ConnectionClosed, DatasetKeysError,
                         DirtyStagingError, HangarError, HostKeyError, ImportFormatError, IntegrityError,
                         InvalidAddressError, InvalidArgumentError, InvalidKeyError, InvalidNameError,
                         MergeConflictError, MetadataNotFoundError, MissingDataError, MissingDataWarning, NoCommitsError,
                         DamagedDataWarning,
                         NonFastForwardError, NotFoundError, NotInitializedError, NotPicklableError,
                         NothingStagedError, NothingToCommitError, PermissionDeniedError, ProtocolError,
                         ReadOnlyColumnError, RecordFormatError, RefMovedError, RegistrationNotFoundError,
                         RemoteDataError, RemoteError, RemoteExistsError, RemoteNotFoundError,
                         RepositoryExistsError, RevisionNotFoundError, SampleNotFoundError, SchemaError,
                         SharedStoreError, StateError, StoreFormatError, StoreInUseError, StoreNotFoundError,
                         StoreUnreachableError, WriterLockError, AmbiguousRevisionError, LockedError,
                         UnrelatedHistoriesError)

from .version import __version__

__all__ = ["AlreadyExistsError", "AuthenticationError", "BranchExistsError", "BranchNotFoundError",
           "BranchRemovalError", "CheckoutClosedError", "ColumnExistsError", "ColumnNotFoundError",
           "CommitNotFoundError", "ConflictError", "ConnectionClosed", "DatasetKeysError",
           "DirtyStagingError", "HangarError", "HostKeyError", "ImportFormatError", "IntegrityError",
           "InvalidAddressError", "InvalidArgumentError", "InvalidKeyError", "InvalidNameError",
           "MergeConflictError", "MetadataNotFoundError", "MissingDataError", "MissingDataWarning", "NoCommitsError", "DamagedDataWarning",
           "NonFastForwardError", "NotFoundError", "NotInitializedError", "NotPicklableError",
           "NothingStagedError", "NothingToCommitError", "PermissionDeniedError", "ProtocolError",
           "ReadOnlyColumnError", "RecordFormatError", "RefMovedError", "RegistrationNotFoundError",
           "RemoteDataError", "RemoteError", "RemoteExistsError", "RemoteNotFoundError",
           "RepositoryExistsError", "RevisionNotFoundError", "SampleNotFoundError", "SchemaError",
           "SharedStoreError", "StateError", "StoreFormatError", "StoreInUseError", "StoreNotFoundError",
           "StoreUnreachableError", "WriterLockError", "AmbiguousRevisionError", "LockedError", "UnrelatedHistoriesError", "Repository",
           "make_numpy_dataset", "make_tf_dataset", "make_torch_dataset", "__version__"]


_NOT_ERRORS = frozenset(("Repository", "make_numpy_dataset", "make_tf_dataset", "make_torch_dataset", "__version__"))


def __getattr__(name: str) -> Any:
    """The public names, each loaded on first use."""
    if name in __all__ and name not in _NOT_ERRORS:
        from . import errors
        return getattr(errors, name)
    if name == "Repository":
        from .api.repository import Repository
        return Repository
    if name in ("make_numpy_dataset", "make_tf_dataset", "make_torch_dataset"):
        from .api import dataset
        return getattr(dataset, name)
    raise AttributeError(f"module 'hangar_git' has no attribute {name!r}")
