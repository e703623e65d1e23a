"""What channels are built on: ChunkPipe (the buffer incoming data waits in, with paramiko's
semantics) and TCP sockets without Nagle's delay."""
from __future__ import annotations

import threading
import time

import pytest
from paramiko.buffered_pipe import PipeTimeout

from hangar_git.transport._channelio import ChunkPipe


def test_reads_hand_over_packets_whole_in_order() -> None:
    pipe = ChunkPipe()
    first, second = b"a" * 1000, b"b" * 10
    pipe.feed(first)
    pipe.feed(second)
    assert len(pipe) == 1010
    out = pipe.read(1 << 20)
    assert out is first  # no copy
    assert pipe.read(1 << 20) == second
    assert len(pipe) == 0 and not pipe.read_ready()


def test_a_short_read_splits_a_packet_and_keeps_the_rest() -> None:
    pipe = ChunkPipe()
    pipe.feed(b"0123456789")
    assert pipe.read(4) == b"0123"
    assert len(pipe) == 6
    assert pipe.read(100) == b"456789"


def test_read_waits_for_data_fed_from_another_thread() -> None:
    pipe = ChunkPipe()
    threading.Timer(0.05, pipe.feed, args=(b"late",)).start()
    assert pipe.read(10, timeout=5) == b"late"


@pytest.mark.parametrize("timeout", [0.0, 0.05])
def test_read_times_out_when_nothing_arrives(timeout: float) -> None:
    pipe = ChunkPipe()
    start = time.monotonic()
    with pytest.raises(PipeTimeout):
        pipe.read(10, timeout=timeout)
    assert time.monotonic() - start < 2


def test_close_ends_reads_after_the_buffered_data() -> None:
    pipe = ChunkPipe()
    pipe.feed(b"tail")
    pipe.close()
    assert pipe.read(10) == b"tail"
    assert pipe.read(10) == b""


def test_close_wakes_a_waiting_reader() -> None:
    pipe = ChunkPipe()
    threading.Timer(0.05, pipe.close).start()
    assert pipe.read(10, timeout=5) == b""


def test_event_tracks_whether_data_is_ready() -> None:
    pipe, event = ChunkPipe(), threading.Event()
    pipe.set_event(event)
    assert not event.is_set()
    pipe.feed(b"x")
    assert event.is_set()
    pipe.read(1)
    assert not event.is_set()
    pipe.feed(b"yz")
    assert pipe.empty() == b"yz" and not event.is_set()
    pipe.close()
    assert event.is_set()


def test_tcp_sockets_get_no_delay_and_others_are_left_alone() -> None:
    import socket

    from hangar_git.transport.ssh import fast_transport, no_delay

    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    try:
        no_delay(peer)
        assert peer.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        transport = fast_transport(client)  # what every client connection is built with
        assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        transport.close()
    finally:
        for s in (client, peer, server):
            s.close()
    left, right = socket.socketpair()  # a ProxyCommand-like pipe: nothing to set
    with left, right:
        no_delay(left)
