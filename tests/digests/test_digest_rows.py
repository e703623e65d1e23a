"""digest_rows hashes many rows at once: the same digests as digest_of, one row at a time."""
from __future__ import annotations

import numpy as np
import pytest

from hangar_git.storage import objects
from hangar_git.storage.objects import digest_of, digest_rows, raws_to_digests


@pytest.mark.parametrize("width", [0, 1, 16, 4095, 4096, 4097])
@pytest.mark.parametrize("n", [0, 1, 6, 7, 8, 30])
def test_digest_rows_equals_digest_of(monkeypatch: pytest.MonkeyPatch, width: int, n: int) -> None:
    """Widths around ROW_LINE_MAX (-1, exactly, +1), counts around a block (7 rows a block here)."""
    monkeypatch.setattr(objects, "ROW_BLOCK_BYTES", 7 * (len(b"nd:x\0") + width) if width else 7)
    rows = np.random.default_rng(width + n).integers(0, 256, (n, width), dtype=np.uint8)
    meta = "nd:x"
    got = raws_to_digests(digest_rows(meta, rows)) if n else []
    assert got == [digest_of(meta, rows[i].tobytes()) for i in range(n)]
