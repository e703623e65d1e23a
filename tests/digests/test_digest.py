"""The content digest: BLAKE3-256 of meta, NUL and bytes, one form for every size;
received in parts through an incremental hasher fed in order."""
from __future__ import annotations

import multiprocessing
import warnings
from pathlib import Path

import numpy as np
import pytest
from blake3 import blake3

from hangar_git import Repository
from hangar_git.errors import IntegrityError, ProtocolError
from hangar_git.storage import (Digest, Meta, ObjectBatch, digest_hasher, digest_of, digests_to_raw, ndarray_meta,
                                verify_batch)

MIB = 1 << 20
SIZES = [0, 1, 1023, 1024, 1025, MIB - 1, MIB, MIB + 1, 3 * MIB + 5]


def rand(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


@pytest.mark.parametrize("size", SIZES)
def test_digest_is_blake3_of_meta_nul_and_bytes_at_every_size(size: int) -> None:
    data = rand(size, size)
    assert digest_of("bytes", data) == blake3(b"bytes\0" + data).hexdigest()
    h = digest_hasher(Meta("bytes"))
    for lo in range(0, size, 777_777):          # any split, fed in order
        h.update(data[lo:lo + 777_777])
    assert h.hexdigest() == digest_of("bytes", data)


def test_arrays_hash_their_c_order_bytes_under_their_meta() -> None:
    a = np.arange(12, dtype=">f4").reshape(3, 4)
    meta = ndarray_meta(a.dtype, a.shape)
    assert meta == "nd:>f4:3,4"
    assert digest_of(meta, a) == digest_of(meta, a.tobytes()) == blake3(b"nd:>f4:3,4\0" + a.tobytes()).hexdigest()
    assert digest_of(meta, a) != digest_of("bytes", a.tobytes())   # the meta is part of the name


def _hash_in_child(queue: "multiprocessing.Queue[str]") -> None:
    queue.put(digest_of("bytes", rand(8 * MIB, 9)))


def test_a_forked_child_hashes_after_its_parent_did() -> None:
    """Hashing is single-threaded, so nothing native is left behind half-alive by fork."""
    expected = digest_of("bytes", rand(8 * MIB, 9))
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_hash_in_child, args=(queue,))
    with warnings.catch_warnings():  # TileDB warns of its own contexts (an earlier test's): not hashed here
        warnings.filterwarnings("ignore", "TileDB is a multithreading library", UserWarning)
        child.start()
    try:
        assert queue.get(timeout=60) == expected
    finally:
        child.join(30)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0


def batch_of(items: list[tuple[str, bytes]]) -> ObjectBatch:
    metas = list(dict.fromkeys(m for m, _ in items))
    return ObjectBatch(digests_to_raw([digest_of(m, d) for m, d in items]), metas,
                       np.array([metas.index(m) for m, _ in items], dtype=np.int64),
                       np.array([len(d) for _, d in items], dtype=np.int64),
                       memoryview(b"".join(d for _, d in items)))


def test_verify_batch_checks_each_object_under_its_own_meta() -> None:
    items = [("bytes", rand(100, 1)), ("str", b"text"), ("bytes", b""), ("bytes", rand(MIB + 1, 2))]
    verify_batch(batch_of(items))
    swapped = batch_of(items)
    object.__setattr__(swapped, "metas", ["str", "bytes"])          # right bytes, wrong metas
    with pytest.raises(IntegrityError):
        verify_batch(swapped)
    damaged = batch_of(items)
    data = bytearray(damaged.data)
    data[-1] ^= 1
    object.__setattr__(damaged, "data", memoryview(bytes(data)))
    with pytest.raises(IntegrityError) as err:
        verify_batch(damaged)
    assert err.value.expected == damaged.digest(3)


# -- objects received in parts ----------------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    repo = Repository(tmp_path / "r", exists=False)
    repo.init("t", "t@x")
    return repo.ctx.store


def send_parts(store, data: bytes, cuts: list[int], damage_at: int = -1) -> Digest:  # type: ignore[no-untyped-def]
    meta = ndarray_meta(np.dtype(np.uint8), (len(data),))
    digest = digest_of(meta, data)
    incoming = store.receive_object(digest, meta, len(data))
    bounds = [0, *cuts, len(data)]
    for k, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
        piece = bytearray(data[lo:hi])
        if k == damage_at:
            piece[0] ^= 1
        incoming.hash(lo, piece)
        done = incoming.add(lo, piece)
    assert done
    store.commit_batch(incoming.finish())
    return digest


def test_parts_of_any_length_make_the_object(store) -> None:  # type: ignore[no-untyped-def]
    data = rand(3 * MIB + 5, 4)
    digest = send_parts(store, data, [1, MIB, MIB + 3, 3 * MIB + 4])
    assert bytes(store.read(digest)[1]) == data


def test_a_damaged_part_keeps_nothing(store) -> None:  # type: ignore[no-untyped-def]
    data = rand(2 * MIB + 1, 5)
    with pytest.raises(IntegrityError):
        send_parts(store, data, [MIB], damage_at=1)
    assert not store.contains(digest_of(ndarray_meta(np.dtype(np.uint8), (len(data),)), data))


def test_parts_must_be_hashed_in_order(store) -> None:  # type: ignore[no-untyped-def]
    data = rand(2 * MIB, 6)
    meta = ndarray_meta(np.dtype(np.uint8), (len(data),))
    incoming = store.receive_object(digest_of(meta, data), meta, len(data))
    with pytest.raises(ProtocolError):
        incoming.hash(MIB, data[MIB:])
    incoming.hash(0, data[:MIB])
    incoming.add(0, data[:MIB])
    assert incoming.add(MIB, data[MIB:])           # all bytes kept, half of them hashed
    with pytest.raises(IntegrityError):
        incoming.finish()
