"""Errors of stored or received bytes that do not match their digest."""
from __future__ import annotations

from .base import HangarError


# -- corrupt: stored or received bytes are not what they should be ---------
class IntegrityError(HangarError):
    """Stored or received bytes do not match their digest."""

    def __init__(self, message: str, *, expected: str = "", got: str = "") -> None:
        self.expected, self.got = expected, got
        super().__init__(message)


class DamagedDataWarning(UserWarning):
    """A checkout opened with samples whose stored copies on this machine were found damaged
    (not absent: fetch-data replaces them); reading one of them raises :class:`IntegrityError`."""


class DamagedObjectError(IntegrityError):
    """A git object of the repository cannot be read (damaged on disk). ``what`` says what the
    object is and where it is used when the reader knows (``commit``, ``tree (...)``); ``path``
    is its loose file when it has one (the file to remove before fetching it again)."""

    def __init__(self, oid: str, detail: str, *, what: str = "git object", path: str = "") -> None:
        self.oid, self.detail, self.what, self.path = oid, detail, what, path
        self.head = f"{what} {oid or '(unknown)'} of this repository is damaged ({detail})"
        """The message without its advice (the CLI gives one naming this repository's remotes)."""
        super().__init__(f"{self.head}: `git hangar fsck` lists the damage and how to repair it", expected=oid)


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
