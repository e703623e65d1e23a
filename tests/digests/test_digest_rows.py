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


@pytest.mark.parametrize("width", [0, 1, 26, 58, 59, 60, 64])
@pytest.mark.parametrize("n", [1, 6, 7, 8, 30])
def test_short_rows_hashed_in_numpy_equal_digest_of(monkeypatch: pytest.MonkeyPatch, width: int, n: int) -> None:
    """Prefixed lines of up to one BLAKE3 block (here "nd:x\\0" + 59 bytes = 64) go through
    the numpy BLAKE3, 7 rows at a time here (-1, exactly, +1, several); 60 bytes and more do not."""
    monkeypatch.setattr(objects, "SHORT_ROWS_BLOCK", 7)
    rows = np.random.default_rng(width * 31 + n).integers(0, 256, (n, width), dtype=np.uint8)
    assert raws_to_digests(digest_rows("nd:x", rows)) == [digest_of("nd:x", rows[i].tobytes()) for i in range(n)]


def test_every_message_length_of_one_block_matches_the_blake3_package() -> None:
    from blake3 import blake3

    from hangar_git.storage.rowhash import BLOCK_LEN, line_digests
    rng = np.random.default_rng(3)
    for length in range(BLOCK_LEN + 1):
        lines = np.zeros((40, BLOCK_LEN), dtype=np.uint8)
        lines[:, :length] = rng.integers(0, 256, (40, length), dtype=np.uint8)
        lines[1, :length] = 0xFF  # all bits set: every carry
        got = line_digests(lines, length)
        assert got is not None
        assert [bytes(d).ljust(32, b"\0") for d in got.tolist()] == \
            [blake3(lines[i, :length].tobytes()).digest() for i in range(40)], length
    with pytest.raises(ValueError):
        line_digests(np.zeros((1, BLOCK_LEN + 1), dtype=np.uint8), BLOCK_LEN + 1)


def test_a_disagreeing_numpy_blake3_falls_back_to_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Were the numpy rounds wrong on some machine, the check against the package catches it
    (on the first or last row of each block) and the rows are hashed one by one."""
    from hangar_git.storage import rowhash
    monkeypatch.setattr(rowhash, "_compress", lambda lines, length: np.zeros(len(lines), dtype="S32"))
    rows = np.random.default_rng(5).integers(0, 256, (9, 16), dtype=np.uint8)
    assert rowhash.line_digests(np.zeros((2, 64), dtype=np.uint8), 3) is None
    assert raws_to_digests(digest_rows("nd:x", rows)) == [digest_of("nd:x", rows[i].tobytes()) for i in range(9)]
