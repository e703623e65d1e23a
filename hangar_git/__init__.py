"""hangar-git: version control for tensor data, as a git extension.

``Repository`` loads on first use, so tools that need only part of the
package (the ``git hangar serve`` process) do not pay for all of it.
"""
from typing import Any

from .errors import (AlreadyExistsError, BranchNotFoundError, ColumnNotFoundError, CommitNotFoundError,
                     DirtyStagingError, HangarError, IntegrityError, InvalidNameError, MergeConflictError,
                     MissingDataError, NonFastForwardError, NotFoundError, NothingToCommitError,
                     NotInitializedError, PermissionDeniedError, ProtocolError, RemoteError,
                     SampleNotFoundError, SchemaError, WriterLockError)

__version__ = "0.1.0"

__all__ = ["AlreadyExistsError", "BranchNotFoundError", "ColumnNotFoundError", "CommitNotFoundError",
           "DirtyStagingError", "HangarError", "IntegrityError", "InvalidNameError",
           "MergeConflictError", "MissingDataError", "NonFastForwardError", "NotFoundError",
           "NothingToCommitError", "NotInitializedError", "PermissionDeniedError", "ProtocolError",
           "RemoteError", "Repository", "SampleNotFoundError", "SchemaError", "WriterLockError",
           "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Repository":
        from .api.repository import Repository
        return Repository
    raise AttributeError(f"module 'hangar_git' has no attribute {name!r}")
