"""Damaged objects across a transfer: what a sender holds only as damaged copies (``data_sizes``
answers ``DAMAGED_SIZE``), what a receiver is told of them, and of bytes that do not match
their digest."""
from __future__ import annotations

from typing import Optional, Sequence

from ..errors import IntegrityError
from ..storage import Digest, ObjectStore

DAMAGED_SIZE = -2
"""The size ``data_sizes`` answers for an object held only as a damaged copy (-1: absent)."""


def stored_sizes(store: ObjectStore, digests: Sequence[str]) -> list[int]:
    """Each object's size in ``store``: -1 where it is absent, ``DAMAGED_SIZE`` where the only
    copy there was found damaged (an older receiver takes either as absent)."""
    sizes = store.describe([Digest(d) for d in digests])[1].tolist()
    absent = [Digest(d) for d, n in zip(digests, sizes) if n < 0]
    damaged = set(store.damaged(absent)) if absent else set()
    return [DAMAGED_SIZE if d in damaged else n for d, n in zip(digests, sizes)]


def remote_damage(count: int, example: str, remote: str = "") -> IntegrityError:
    """What a receiver is told of objects the sending side holds only damaged copies of."""
    where = f"remote {remote!r}" if remote else "the remote"
    return IntegrityError(f"{where} holds {count} requested object(s) only as damaged copies (e.g. {example}: "
                          f"they fail their digest check there): run `git hangar fsck` in that repository to "
                          f"list them, then push them to it again from a repository that holds them",
                          expected=example)


def naming_remote(exc: IntegrityError, remote: str) -> Optional[IntegrityError]:
    """:func:`remote_damage` as a server said it (of "the remote"), naming ``remote``; None for
    any other IntegrityError."""
    text = str(exc)
    if not text.startswith("the remote holds"):
        return None
    return IntegrityError(text.replace("the remote", f"remote {remote!r}", 1), expected=exc.expected, got=exc.got)


def refused(exc: IntegrityError) -> IntegrityError:
    """What a receiver says of an object whose bytes do not match its digest."""
    return IntegrityError(
        f"received object {exc.expected} does not match its digest (its bytes hash to {exc.got}); "
        f"nothing of it was kept. The sender's copy is damaged or was altered in transit: "
        f"run `git hangar fsck` in the sending repository, then try again",
        expected=exc.expected, got=exc.got)
