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
