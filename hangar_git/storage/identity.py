"""What names an object: the digest algorithm and the hex digest type.

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
