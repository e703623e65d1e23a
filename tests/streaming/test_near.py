"""Single reads of a streaming checkout fetch their neighbourhood in key order along with a miss,
within a byte bound (api/streamnear.py): sequential single reads then cost one request per
neighbourhood, not one per sample."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

from hangar_git.api.column_reads import recorded_digest
from hangar_git.api.streamnear import BEHIND, NEAR_COUNT

from .conftest import BLOB, ROWS, Streamed


def test_sequential_single_reads_take_their_neighbours_along(streamed: Callable[[str], Streamed]) -> None:
    world = streamed("hangarssh")
    with world.checkout(cache_dir_bytes=0) as co:
        col = co["rows"]
        assert all(np.array_equal(col[k], ROWS[k]) for k in range(200))
        ahead = NEAR_COUNT - NEAR_COUNT // BEHIND  # rows are small: the full count, mostly ahead
        assert co.stream_store.source.requests <= 200 // ahead + 1
        last = len(ROWS) - 1
        assert np.array_equal(col[last], ROWS[last])  # the last key: neighbours only before it
        assert co["blobs", 0] == BLOB  # not an array column: no neighbours, read as before


def test_off_each_single_read_is_one_request(streamed: Callable[[str], Streamed]) -> None:
    world = streamed("path")
    with world.checkout(cache_dir_bytes=0) as co:
        co.neighbourhood.max_bytes = 0
        col = co["rows"]
        assert all(np.array_equal(col[k], ROWS[k]) for k in range(30))
        assert co.stream_store.source.requests == 30


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_the_byte_bound_at_its_threshold(streamed: Callable[[str], Streamed], extra: int) -> None:
    world = streamed("path")
    with world.checkout(cache_dir_bytes=0) as co:
        col = co["rows"]
        size = ROWS[0].nbytes
        co.neighbourhood.max_bytes = BEHIND * size + extra  # room for BEHIND neighbours (one behind), or not
        key = 100
        near = co.neighbourhood.around(recorded_digest(col, key))
        count = BEHIND - (extra < 0)
        assert len(near) == count
        want = [recorded_digest(col, k) for k in range(key + 1, key + 1 + count - count // BEHIND)]
        want += [recorded_digest(col, k) for k in range(key - count // BEHIND, key)]
        assert near == want
