"""How a streaming source hands on the objects of one data frame (transport/streamsource.py):
verified as a whole first, then in lists, large objects a few at a time."""
from __future__ import annotations

import numpy as np
import pytest

from hangar_git.errors import IntegrityError
from hangar_git.storage import Meta, digest_of
from hangar_git.transport import streamsource
from hangar_git.transport.framing import Frame
from hangar_git.transport.wire import encode_data


def frame(sizes: list[int], damage: int = -1) -> tuple[Frame, list[tuple[str, Meta, bytes]]]:
    rng = np.random.default_rng(1)
    objs = []
    for n in sizes:
        meta = Meta(f"nd:<u1:{n}")
        data = rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()
        objs.append((digest_of(meta, data), meta, data))
    body = [b for _, _, b in objs]
    if damage >= 0:
        body[damage] = bytes([body[damage][0] ^ 1]) + body[damage][1:]
    header, payload = encode_data([d for d, _, _ in objs], [m for _, m, _ in objs], sizes, body)
    return Frame("data", header, payload), objs


@pytest.mark.parametrize("size,per_list", [(117, 40), (300_000, 4)])
def test_a_frame_is_handed_on_in_lists_of_about_a_mebibyte(size: int, per_list: int) -> None:
    got: list[list[tuple[str, Meta, bytes]]] = []
    data, objs = frame([size] * 40)
    streamsource._deliver(data, got.append)
    assert [len(g) for g in got] == [per_list] * (40 // per_list)  # 4 x 300 kB reach 1 MiB
    assert [e for g in got for e in g] == objs


def test_a_damaged_object_stops_the_whole_frame_before_any_is_handed_on() -> None:
    got: list[list[tuple[str, Meta, bytes]]] = []
    data, _ = frame([300_000] * 8, damage=6)
    with pytest.raises(IntegrityError):
        streamsource._deliver(data, got.append)
    assert got == []
