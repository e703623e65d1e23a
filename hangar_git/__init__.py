"""hangar-git: version control for tensor data, as a git extension."""
from .api.repository import Repository
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
