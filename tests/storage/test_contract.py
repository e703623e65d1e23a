"""The ObjectStore contract, written once and run on every backend (local folder, S3, memory).

Queries, reads and writes through the public interface only: objects of every
size class and its edges, digests whose raw form ends in zero bytes, flushes
seen by a second store object and by other processes, duplicates, damaged
bytes. Batches, parts and staging are in test_contract_batches.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from hangar_git.errors import IntegrityError, PermissionDeniedError
from hangar_git.storage import Meta, ObjectStore, digest_of, digests_to_raw, ndarray_meta
from hangar_git.storage.memory import MemoryStore
from hangar_git.storage.writes import LARGE_THRESHOLD
from hangar_git.transport.wire import PART_BYTES

from tests.subprocesses import run_python

from .conftest import EDGES, Backend, Item, item, payload, python_env, zero_tail

ABSENT = digest_of("bytes", b"never stored")


def assert_holds(store: ObjectStore, items: list[Item]) -> None:
    """``store`` answers every query and read about ``items`` exactly."""
    digests = [d for d, _, _ in items]
    assert all(store.contains(d) for d in digests)
    assert store.missing(digests + [ABSENT]) == [ABSENT]
    assert store.absent(digests_to_raw(digests + [ABSENT])).tolist() == [False] * len(items) + [True]
    metas, sizes = store.describe(digests + [ABSENT])
    assert metas == [m for _, m, _ in items] + [None]
    assert sizes.tolist() == [len(b) for _, _, b in items] + [-1]
    for d, m, b in items:
        info = store.info(d)
        assert (info.digest, info.meta, info.nbytes) == (d, m, len(b))
        meta, data = store.read(d)
        assert (meta, bytes(data)) == (m, b)
    for verify in (True, False):
        got = [(d, m, bytes(b)) for d, m, b in store.read_many(digests, verify=verify)]
        assert got == items
    listed = {i.digest: (i.meta, i.nbytes) for i in store.iter_objects()}
    assert all(listed[d] == (m, len(b)) for d, m, b in items)


# -- every size class ------------------------------------------------------------------
def _round_trip(backend: Backend, size: int, seed: int) -> None:
    store = backend.open()
    d, m, b = it = item(payload(size, seed))
    assert store.put_new(m, b) == d
    assert_holds(store, [it])                 # buffered
    store.flush()
    other = backend.open()                    # another store object on the same location
    assert_holds(other, [it])
    parts = list(other.read_parts(d, PART_BYTES))
    assert [o for o, _ in parts] == list(range(0, size, PART_BYTES))
    assert all(len(p) <= PART_BYTES for _, p in parts) and b"".join(bytes(p) for _, p in parts) == b
    rows, found = other.gather(digests_to_raw([d, ABSENT]), size)
    assert not found[1] and (not found[0] or bytes(rows[0]) == b)


@pytest.mark.parametrize("size", list(EDGES.values()), ids=list(EDGES))
def test_objects_of_every_size_class_round_trip(backend: Backend, size: int) -> None:
    _round_trip(backend, size, seed=size)


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(size=st.one_of(st.integers(0, 4096), st.integers(LARGE_THRESHOLD - 64, 3 * LARGE_THRESHOLD + 64)),
       seed=st.integers(0, 2 ** 32 - 1))
@example(size=0, seed=1)
@example(size=1, seed=1)
@example(size=LARGE_THRESHOLD - 1, seed=1)
@example(size=LARGE_THRESHOLD, seed=1)
@example(size=LARGE_THRESHOLD + 1, seed=1)
def test_random_sizes_and_contents_round_trip(backend: Backend, size: int, seed: int) -> None:
    _round_trip(backend, size, seed)


def test_arrays_and_text_keep_their_metas(backend: Backend) -> None:
    arr = np.arange(LARGE_THRESHOLD // 4, dtype="<f4").reshape(512, 512)   # exactly one block
    items = [item(arr.tobytes(), ndarray_meta(arr.dtype, arr.shape)),
             item("naïve".encode(), "str"), item(np.int64(7).tobytes(), ndarray_meta(np.dtype("<i8"), ())),
             item(b"", ndarray_meta(np.dtype("u1"), (0,)))]
    store = backend.open()
    for d, m, b in items:
        store.put(d, m, b)
    store.flush()
    assert_holds(backend.open(), items)


# -- digests ending in zero bytes ---------------------------------------------------------
ZERO_TAILS = [(117, 1), (117, 2), (LARGE_THRESHOLD + 1, 1)]


def test_digests_ending_in_zero_bytes(backend: Backend) -> None:
    items = [item(zero_tail(size, zeros)) for size, zeros in ZERO_TAILS]
    assert all(d.endswith("00" * z) for (d, _, _), (_, z) in zip(items, ZERO_TAILS))
    store = backend.open()
    for d, m, b in items:
        store.put(d, m, b)
    assert_holds(store, items)
    store.flush()
    other = backend.open()
    assert_holds(other, items)
    assert {i.digest for i in other.iter_objects()} == {d for d, _, _ in items}
    rows, found = other.gather(digests_to_raw([d for d, _, _ in items[:2]]), 117)
    assert all(bytes(rows[i]) == items[i][2] for i in np.flatnonzero(found).tolist())


# -- empty, unflushed, reopened, other processes ------------------------------------------
def test_an_empty_store_holds_nothing(store: ObjectStore) -> None:
    assert not store.contains(ABSENT)
    assert store.missing([ABSENT, ABSENT]) == [ABSENT]
    assert store.absent(digests_to_raw([ABSENT])).tolist() == [True]
    metas, sizes = store.describe([ABSENT])
    assert metas == [None] and sizes.tolist() == [-1]
    assert not store.gather(digests_to_raw([ABSENT]), 5)[1].any()
    assert list(store.iter_objects()) == []
    for call in (store.info, store.read, lambda d: list(store.read_many([d])),
                 lambda d: list(store.read_parts(d, PART_BYTES))):
        with pytest.raises(KeyError):
            call(ABSENT)
    store.flush()                             # nothing to flush is fine


def test_many_objects_in_one_flush_are_seen_by_a_second_store(backend: Backend) -> None:
    items = [item(payload(n, n)) for n in (0, 5, 117, 117, 4000, LARGE_THRESHOLD + 3)]
    store = backend.open()
    for d, m, b in items:
        store.put(d, m, b)
    store.flush()
    unique = list({d: (d, m, b) for d, m, b in items}.values())
    other = backend.open()
    assert_holds(other, unique)
    assert sorted(i.digest for i in other.iter_objects()) == sorted(d for d, _, _ in unique)


def test_a_store_opened_earlier_sees_later_flushes(backend: Backend) -> None:
    reader, writer = backend.open(), backend.open()
    assert not reader.contains(item(b"late")[0])
    late = [item(b"late"), item(payload(LARGE_THRESHOLD + 9, 3))]
    for d, m, b in late:
        writer.put(d, m, b)
    writer.flush()
    assert_holds(reader, late)


def test_duplicates_are_stored_once(backend: Backend) -> None:
    small, large = item(b"twice"), item(payload(LARGE_THRESHOLD + 1, 4))
    store = backend.open()
    for _ in range(2):
        for d, m, b in (small, large):
            store.put(d, m, b)
    store.flush()
    again = backend.open()
    for d, m, b in (small, large):
        again.put(d, m, b)
        assert again.put_new(m, b) == d
    again.flush()
    final = backend.open()
    assert sorted(i.digest for i in final.iter_objects()) == sorted([small[0], large[0]])
    assert_holds(final, [small, large])


def test_put_verified_refuses_bytes_that_do_not_match(store: ObjectStore) -> None:
    d, m, b = item(b"right")
    with pytest.raises(IntegrityError):
        store.put_verified(d, m, b"wrong")
    assert not store.contains(d)
    store.put_verified(d, m, b)
    assert bytes(store.read(d)[1]) == b


def test_read_only_stores_refuse_writes(backend: Backend) -> None:
    d, m, b = item(b"x")
    if backend.uri is None:
        store: ObjectStore = MemoryStore(backend.memory, read_only=True)
    else:
        from hangar_git.storage import open_store
        store = open_store(backend.uri, read_only=True)
        backend.opened.append(store)
    with pytest.raises(PermissionDeniedError):
        store.put(d, m, b)
    with pytest.raises(PermissionDeniedError):
        store.put_new(Meta("bytes"), payload(LARGE_THRESHOLD + 1))
    assert not store.contains(d)


OTHER_PROCESS = """
import sys
from hangar_git.storage import Meta, digest_of, open_store
import numpy as np
uri, mode = sys.argv[1], sys.argv[2]
store = open_store(uri)
if mode == "write":
    for n in (117, 3 << 20):
        print(store.put_new(Meta("bytes"), np.random.default_rng(n).bytes(n)))
    store.flush()
else:
    for digest in sys.argv[3:]:
        meta, data = store.read(digest)
        assert digest_of(meta, data) == digest
    print("ok")
"""


def test_other_processes_see_each_others_flushes(backend: Backend) -> None:
    if backend.uri is None:
        pytest.skip("an in-memory store is not shared between processes")
    mine = backend.open()
    before = backend.open()
    ours = [item(b"from the test"), item(payload(LARGE_THRESHOLD * 2 + 1, 8))]
    for d, m, b in ours:
        mine.put(d, m, b)
    mine.flush()
    code = f"import sys; sys.argv[1:] = {[backend.uri, 'read'] + [d for d, _, _ in ours]!r}\n"
    assert run_python(code + OTHER_PROCESS, python_env(), timeout=120).stdout.strip() == "ok"
    code = f"import sys; sys.argv[1:] = {[backend.uri, 'write']!r}\n"
    theirs = run_python(code + OTHER_PROCESS, python_env(), timeout=120).stdout.split()
    assert theirs == [item(payload(n, n))[0] for n in (117, 3 << 20)]
    assert_holds(before, [item(payload(n, n)) for n in (117, 3 << 20)])


# -- damage -------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [117, LARGE_THRESHOLD + 1], ids=["small", "large"])
def test_damaged_bytes_raise_integrity_error_and_a_new_copy_repairs(backend: Backend, size: int) -> None:
    d, m, b = item(payload(size, 11))
    neighbour = item(payload(size, 12))
    store = backend.open()
    for obj in ((d, m, b), neighbour):
        store.put(*obj)
        store.flush()                         # each in its own flush
    backend.corrupt(b)
    with pytest.raises(IntegrityError):
        list(backend.open().read_many([d]))
    damaged = backend.open()
    with pytest.raises((IntegrityError, KeyError)):  # or marked absent by the first read
        damaged.read(d)
    assert bytes(damaged.read(neighbour[0])[1]) == neighbour[2]
    damaged.put_verified(d, m, b)             # received again
    damaged.flush()
    assert bytes(backend.open().read(d)[1]) == b



@pytest.mark.parametrize("size", [117, LARGE_THRESHOLD + 1], ids=["small", "large"])
def test_a_repaired_copy_wins_every_later_read(backend: Backend, size: int) -> None:
    """A damaged object received again reads back whole from then on: after reads of its
    damaged neighbours (which share its old chunk), in a store object opened before the
    repair and in one opened after, after a verify and after a rewrite that keeps it."""
    d, m, b = item(payload(size, 21))
    neighbours = [item(payload(size, 22 + i)) for i in range(2)]
    store = backend.open()
    for obj in ((d, m, b), *neighbours):
        store.put(*obj)
    store.flush()                             # one pack: small ones share a chunk
    before = backend.open()
    assert before.missing([d]) == []          # its indexes loaded before the repair
    backend.corrupt(b)
    backend.corrupt(neighbours[1][2])         # a neighbour damaged too: it stays so
    with pytest.raises(IntegrityError):
        backend.open().read(d)
    assert store.damaged([d, neighbours[0][0]]) in ([d], [])
    fixer = backend.open()
    fixer.put_verified(d, m, b)               # received again (fetch-data)
    fixer.flush()
    for reader in (before, backend.open(), store):
        with pytest.raises((IntegrityError, KeyError)):
            reader.read(neighbours[1][0])     # reads the old chunk: marks what is damaged in it
        assert bytes(reader.read(d)[1]) == b
        assert reader.missing([d]) == [] and reader.damaged([d]) == []
    verify = getattr(store, "verify", None)
    if verify is not None:
        problems = verify()
        assert problems and not any(d in p for p in problems), problems
        assert bytes(backend.open().read(d)[1]) == b
        store.rewrite(lambda digest: True)    # type: ignore[attr-defined]
        assert bytes(backend.open().read(d)[1]) == b
        assert backend.open().damaged([neighbours[1][0]]) == [neighbours[1][0]]  # kept: still wanted


@pytest.mark.parametrize("size", [117, LARGE_THRESHOLD + 1], ids=["small", "large"])
def test_a_corrupt_pack_index_reads_as_damage_and_verify_rebuilds_it(backend: Backend, size: int) -> None:
    """Objects only a corrupt index names are damaged, not absent; verify (fsck) lists the index
    and rebuilds it from the objects that still hash to their digests."""
    if backend.root is None:
        pytest.skip("an in-memory store has no index files")
    items = [item(payload(size, 31 + i)) for i in range(3)]
    store = backend.open()
    for obj in items:
        store.put(*obj)
    store.flush()
    (index,) = (backend.root / "index").glob("*.idx")
    raw = bytearray(index.read_bytes())
    raw[len(raw) - 45] ^= 0x01                # a chunk checksum or object size: no digest
    index.write_bytes(bytes(raw))
    reader = backend.open()
    d = items[0][0]
    with pytest.raises(IntegrityError, match=f"pack index {index.stem}.* is corrupt"):
        reader.read(d)
    assert reader.damaged([d]) == [d]
    with pytest.raises(IntegrityError, match="git hangar fsck"):
        reader.rewrite(lambda digest: True)   # type: ignore[attr-defined]  # gc waits for the rebuild
    problems = reader.verify()                # type: ignore[attr-defined]
    assert any(index.stem in p and "rebuilt" in p for p in problems), problems
    assert not (backend.root / "index" / index.name).exists()
    fresh = backend.open()
    assert_holds(fresh, items)
    assert fresh.verify() == [] and fresh.damaged([d]) == []  # type: ignore[attr-defined]
