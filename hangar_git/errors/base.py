"""The root of the exception tree, and what its KeyError branches share."""
from __future__ import annotations

class HangarError(Exception):
    """Base class of every hangar-git error.

    Subclasses are grouped by what a caller does about them: not found,
    already exists, bad input, state (do something first), read-only or locked
    (:class:`PermissionDeniedError`, :class:`LockedError`), conflict, corrupt
    (integrity) and transport (:class:`RemoteError`). Where Hangar 0.5
    raised a builtin exception, ours derive from that builtin too, so both
    ``except WriterLockError`` and ``except PermissionError`` catch a second writer.
    """


class PlainMessage:
    """Mixin for KeyError subclasses: show the message, not its repr()."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""  # type: ignore[attr-defined]
