"""The ObjectStore contract for received data, on every backend: batches (put, stage, commit,
discard) and objects arriving in parts (receive_object, read_parts).

Nothing of a batch or a part-received object is kept unless all of it
matches its digests, and nothing it wrote is left behind when it is dropped.
"""
from __future__ import annotations

import pytest

from hangar_git.errors import IntegrityError, ProtocolError
from hangar_git.storage import ObjectStore

MIB = 1 << 20
from hangar_git.transport.wire import PART_BYTES

from .conftest import Backend, Item, batch_of, flip, item, payload
from .test_contract import assert_holds

MIXED = [(0, 1), (117, 2), (117, 3), (MIB - 1, 4), (MIB, 5), (3 * MIB + 5, 6)]


def mixed() -> list[Item]:
    return [item(payload(n, seed)) for n, seed in MIXED]


def test_put_batch_keeps_every_object(backend: Backend) -> None:
    items = mixed()
    backend.open().put_batch(batch_of(items + items[1:3]))    # a batch may repeat objects
    other = backend.open()
    assert_holds(other, items)
    assert sorted(i.digest for i in other.iter_objects()) == sorted(d for d, _, _ in items)


def test_staged_batches_commit_in_order(backend: Backend) -> None:
    store = backend.open()
    first, second = mixed()[:3], mixed()[3:]
    staged = [store.stage_batch(batch_of(first)), store.stage_batch(batch_of(second), uncached=True)]
    for s in staged:
        store.commit_batch(s)
    assert_holds(backend.open(), first + second)


@pytest.mark.parametrize("damaged", [1, 5], ids=["small", "large"])
def test_a_damaged_batch_keeps_nothing_and_leaves_nothing(backend: Backend, damaged: int) -> None:
    items = mixed()
    d, m, b = items[damaged]
    items[damaged] = (d, m, flip(b, len(b) // 2))
    before = backend.files()
    store = backend.open()
    with pytest.raises(IntegrityError):
        store.put_batch(batch_of(items))
    with pytest.raises(IntegrityError):
        store.stage_batch(batch_of(items))
    assert backend.open().missing([d for d, _, _ in items]) == [d for d, _, _ in items]
    assert backend.files() == before


def test_a_discarded_staged_batch_leaves_nothing(backend: Backend) -> None:
    items = mixed()
    before = backend.files()
    store = backend.open()
    store.discard_staged(store.stage_batch(batch_of(items)))
    assert backend.open().missing([d for d, _, _ in items]) == [d for d, _, _ in items]
    assert backend.files() == before


def receive(store: ObjectStore, it: Item, part_size: int) -> object:
    """Send ``it`` into ``store`` in parts of ``part_size``, each hashed then kept, as the
    receiving end of a transfer does; returns what ``commit_batch`` takes."""
    d, m, b = it
    incoming = store.receive_object(d, m, len(b))
    done = False
    for offset in range(0, len(b), part_size):
        part = b[offset:offset + part_size]
        assert not done
        incoming.hash(offset, part)
        done = incoming.add(offset, part)
    assert done
    return incoming.finish()


@pytest.mark.parametrize("size, part_size", [
    (MIB + 1, MIB), (3 * MIB, MIB),
    (PART_BYTES + 1, PART_BYTES)], ids=["mib+1", "3-mib", "part+1"])
def test_objects_received_in_parts_are_kept_once_whole(backend: Backend, size: int, part_size: int) -> None:
    """Regression (S3): a sample over 16 MiB received into an S3 store failed: its upload was
    never completed, so the copy to its final name found nothing (404)."""
    it = item(payload(size, size))
    store = backend.open()
    store.commit_batch(receive(store, it, part_size))
    other = backend.open()
    assert_holds(other, [it])
    parts = list(other.read_parts(it[0], part_size))
    assert [o for o, _ in parts] == list(range(0, size, part_size))
    assert b"".join(bytes(p) for _, p in parts) == it[2]


def test_an_object_received_twice_is_stored_once(backend: Backend) -> None:
    it = item(payload(2 * MIB + 7, 21))
    for _ in range(2):
        store = backend.open()
        store.commit_batch(receive(store, it, MIB))
    other = backend.open()
    assert [i.digest for i in other.iter_objects()] == [it[0]]
    assert_holds(other, [it])


def test_a_damaged_part_keeps_nothing_and_leaves_nothing(backend: Backend) -> None:
    d, m, b = item(payload(2 * MIB + 3, 22))
    before = backend.files()
    store = backend.open()
    with pytest.raises(IntegrityError):
        receive(store, (d, m, flip(b, MIB + 5)), MIB)
    assert not backend.open().contains(d)
    assert backend.files() == before


def test_parts_out_of_order_are_refused_and_discarded(backend: Backend) -> None:
    d, m, b = item(payload(2 * MIB + 3, 23))
    before = backend.files()
    store = backend.open()
    incoming = store.receive_object(d, m, len(b))
    second = b[MIB:2 * MIB]
    with pytest.raises(ProtocolError):
        incoming.add(MIB, second)
    incoming.discard()
    assert not backend.open().contains(d)
    assert backend.files() == before


def test_read_parts_of_small_and_large_objects(backend: Backend) -> None:
    items = [item(payload(n, n)) for n in (0, 117, MIB + 1, 5 * MIB + 3)]
    store = backend.open()
    for d, m, b in items:
        store.put(d, m, b)
    store.flush()
    other = backend.open()
    for d, _, b in items:
        for part_size in (MIB, 2 * MIB):
            parts = list(other.read_parts(d, part_size))
            assert [o for o, _ in parts] == list(range(0, len(b), part_size))
            assert b"".join(bytes(p) for _, p in parts) == b
