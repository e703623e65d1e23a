"""What names an object: the digest algorithm, the hex digest type, and converting raw
digests to hex and back (the one home of that: :func:`hex_of`, :func:`raw_of`).

Kept apart from :mod:`.objects` (which hashes and converts, with numpy and
blake3) so that bookkeeping can state the algorithm without loading either.
"""
from __future__ import annotations

from typing import NewType

Digest = NewType("Digest", str)
"""64 lowercase hex digits of a content digest."""

DIGEST_ALGORITHM = "blake3"
"""The content digest's name, as commit trees and the protocol state it."""
DIGEST_SIZE = 32
"""Bytes in a raw digest."""


def hex_of(raw: bytes) -> str:
    """Raw digest bytes as hex: ours, or any other hash (a git object id, a pack checksum).
    Give it ``bytes``: a numpy ``S32`` scalar drops trailing zero bytes (see
    :func:`~.objects.raw_to_digest`)."""
    return raw.hex()


def raw_of(text: str) -> bytes:
    """A hex digest (ours or any other hash) as raw bytes (ValueError if it is not hex)."""
    return bytes.fromhex(text)
