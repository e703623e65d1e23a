"""Streaming over SSH through the latency proxy (20 ms round trip, 100 MB/s): connections cut
mid-epoch are opened again once; a remote that stops answering is a RemoteError naming it."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from bench.proxy import LatencyProxy
from hangar_git import RemoteError, make_numpy_dataset

from .conftest import ROWS, Streamed


@pytest.fixture
def via_proxy(streamed: Callable[[str], Streamed], hangar_ssh: Any,
              trust_port: Callable[[str, int], None]) -> Any:
    world = streamed("hangarssh")
    server = hangar_ssh.server
    proxy = LatencyProxy(server.port, rtt=0.020, bandwidth=100e6)
    trust_port(server.known_hosts_line(), proxy.port)
    world.clone.remote.add("via", world.server.address.replace(f":{server.port}/", f":{proxy.port}/"))
    yield world, proxy
    proxy.close()


def rows_seen(batches: list) -> list[bytes]:
    return sorted(r.tobytes() for b in batches for r in b[0])


def test_through_the_proxy_a_cut_connection_is_reopened_once(via_proxy: Any) -> None:
    world, proxy = via_proxy
    with world.clone.checkout(branch="master", stream_from="via", cache_bytes=40_000) as co:
        assert np.array_equal(co["rows", 1], ROWS[1])
        batches = iter(make_numpy_dataset([co["rows"]], batch_size=200))
        got = [next(batches)]
        proxy.cut()
        got += list(batches)
        assert co.stream_store.source.connections == 2
    assert rows_seen(got) == sorted(r.tobytes() for r in ROWS)
    assert proxy.bytes > 0


def test_through_the_proxy_a_remote_that_stops_answering_is_a_remote_error(via_proxy: Any) -> None:
    world, proxy = via_proxy
    with world.clone.checkout(branch="master", stream_from="via", cache_bytes=40_000) as co:
        batches = iter(make_numpy_dataset([co["rows"]], batch_size=200))
        first = next(batches)
        copy = first[0].copy()
        proxy.refuse = True
        proxy.cut()
        with pytest.raises(RemoteError, match="'via'"):
            list(batches)
        assert np.array_equal(first[0], copy)
