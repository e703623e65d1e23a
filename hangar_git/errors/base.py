"""The root of the exception tree, and what its KeyError branches share."""
from __future__ import annotations

import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

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


def caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning raised here name the first line outside hangar_git
    (the user's code), whichever of our functions it came through."""
    frame = sys._getframe(1)  # the function that warns: stacklevel 1
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
