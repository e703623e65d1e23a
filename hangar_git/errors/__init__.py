"""One exception hierarchy for hangar-git.

Every error a user can cause or meet derives from :class:`HangarError`.
Messages name the object concerned and say what to do next; facts live
on the exception as attributes so code can act on them. The tree is grouped
by what a caller does about an error, one module per group: :mod:`.lookup`
(not found, already exists), :mod:`.usage` (bad input, state, read-only or
locked), :mod:`.conflict`, :mod:`.integrity` and :mod:`.remote`.
"""
from .base import HangarError, caller_stacklevel
from .lookup import NotFoundError, BranchNotFoundError, CommitNotFoundError, RevisionNotFoundError, RemoteBranchNotFoundError, RemoteNotFoundError, ColumnNotFoundError, SampleNotFoundError, DatasetKeysError, MetadataNotFoundError, MissingDataError, StoreNotFoundError, RegistrationNotFoundError, AlreadyExistsError, BranchExistsError, RemoteExistsError, ColumnExistsError, RepositoryExistsError, MissingDataWarning
from .usage import InvalidArgumentError, InvalidNameError, InvalidKeyError, SchemaError, AmbiguousRevisionError, AmbiguousBranchError, ImportFormatError, StateError, NotInitializedError, NothingStagedError, NothingToCommitError, DirtyStagingError, BranchRemovalError, NoCommitsError, SharedStoreError, StoreInUseError, PermissionDeniedError, CheckoutClosedError, ReadOnlyColumnError, NotPicklableError, LockedError, WriterLockError
from .conflict import ConflictError, RefMovedError, MergeConflictError, NonFastForwardError, UnrelatedHistoriesError
from .integrity import IntegrityError, DamagedDataWarning, DamagedObjectError, StoreFormatError, RecordFormatError
from .remote import RemoteError, StoreUnreachableError, RemoteDataError, PushDataMissingError, ProtocolError, ConnectionClosed, HostKeyError, AuthenticationError, InvalidAddressError, ServerConfigError, GitCommandError, DataLocationError

__all__ = [
    "HangarError",
    "caller_stacklevel",
    "NotFoundError",
    "BranchNotFoundError",
    "CommitNotFoundError",
    "RevisionNotFoundError",
    "RemoteBranchNotFoundError",
    "RemoteNotFoundError",
    "ColumnNotFoundError",
    "SampleNotFoundError",
    "DatasetKeysError",
    "MetadataNotFoundError",
    "MissingDataError",
    "StoreNotFoundError",
    "RegistrationNotFoundError",
    "AlreadyExistsError",
    "BranchExistsError",
    "RemoteExistsError",
    "ColumnExistsError",
    "RepositoryExistsError",
    "MissingDataWarning",
    "InvalidArgumentError",
    "InvalidNameError",
    "InvalidKeyError",
    "SchemaError",
    "AmbiguousRevisionError",
    "AmbiguousBranchError",
    "ImportFormatError",
    "StateError",
    "NotInitializedError",
    "NothingStagedError",
    "NothingToCommitError",
    "DirtyStagingError",
    "BranchRemovalError",
    "NoCommitsError",
    "SharedStoreError",
    "StoreInUseError",
    "PermissionDeniedError",
    "CheckoutClosedError",
    "ReadOnlyColumnError",
    "NotPicklableError",
    "LockedError",
    "WriterLockError",
    "ConflictError",
    "RefMovedError",
    "MergeConflictError",
    "NonFastForwardError",
    "UnrelatedHistoriesError",
    "IntegrityError",
    "DamagedObjectError",
    "DamagedDataWarning",
    "StoreFormatError",
    "RecordFormatError",
    "RemoteError",
    "StoreUnreachableError",
    "RemoteDataError",
    "PushDataMissingError",
    "ProtocolError",
    "ConnectionClosed",
    "HostKeyError",
    "AuthenticationError",
    "InvalidAddressError",
    "ServerConfigError",
    "GitCommandError",
    "DataLocationError",
]
