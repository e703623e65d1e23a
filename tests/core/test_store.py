"""Store contract tests, written once and run on every backend (zarr StoreTests style)."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

from hangar_git import IntegrityError
from hangar_git.storage import Digest, Meta, ObjectStore, TileDBStore, digest_of, open_store
from hangar_git.storage import maintenance, tiledb_store
from hangar_git.storage.packindex import PackIndex, build_index_arrays, merge_indexes

from .conftest import python_env

Opener = Callable[[], ObjectStore]


def tiledb_backend(tmp_path: Path) -> Opener:
    uri = str(tmp_path / "store")
    return lambda: open_store(uri, create=True)


BACKENDS = {"tiledb": tiledb_backend}


@pytest.fixture(params=list(BACKENDS))
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    opened: list[ObjectStore] = []

    def open_one() -> ObjectStore:
        store = BACKENDS[request.param](tmp_path)()
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(opener: Opener) -> ObjectStore:
    return opener()


def obj(data: bytes, meta: str = "bytes") -> tuple[Digest, Meta, bytes]:
    return digest_of(meta, data), Meta(meta), data


def rand(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


SIZES = {"empty": 0, "one": 1, "small": 1000, "chunk-sized": 600_000,
         "just-below-large": tiledb_store.LARGE_THRESHOLD - 1,
         "large": tiledb_store.LARGE_THRESHOLD, "large-several-mib": 3 * (1 << 20) + 5}


# -- put / read ------------------------------------------------------------------------
@pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))
def test_put_read_before_and_after_flush_and_reopen(opener: Opener, size: int) -> None:
    store = opener()
    d, m, data = obj(rand(size, seed=size))
    assert not store.contains(d)
    store.put(d, m, data)
    assert store.contains(d)
    meta, got = store.read(d)                 # buffered, not yet flushed
    assert (meta, bytes(got)) == (m, data)
    store.flush()
    meta, got = store.read(d)
    assert (meta, bytes(got)) == (m, data)
    info = store.info(d)
    assert (info.digest, info.meta, info.nbytes) == (d, m, size)
    reopened = opener()
    assert reopened.contains(d)
    meta, got = reopened.read(d)
    assert (meta, bytes(got)) == (m, data)


def test_many_objects_of_mixed_kinds_in_one_flush(opener: Opener) -> None:
    store = opener()
    objects = [obj(rand(n, seed=n)) for n in (3, 5, 7, 0, 1000, 200_000, 400_000, 0, 9)]
    objects += [obj(np.arange(5, dtype="<f4").tobytes(), "nd:<f4:5"), obj("ü".encode(), "str"),
                obj(b"abcde" * 3, "nd:|S5:3"), obj(rand(2_000_001, 9), "nd:|u1:2000001")]
    for d, m, data in objects:
        store.put(d, m, data)
    store.flush()
    for s in (store, opener()):
        for (d, m, data), (gd, gm, got) in zip(objects, s.read_many([o[0] for o in objects])):
            assert (gd, gm, bytes(got)) == (d, m, data)


def test_missing_lists_absent_digests_in_order(store: ObjectStore) -> None:
    present = [obj(rand(10, i)) for i in range(3)]
    absent = [obj(rand(10, 100 + i))[0] for i in range(3)]
    for o in present[:2]:
        store.put(*o)
    store.flush()
    store.put(*present[2])                     # buffered counts as present
    asked = [absent[1], present[0][0], absent[0], absent[1], present[2][0], absent[2]]
    assert store.missing(asked) == [absent[1], absent[0], absent[2]]
    assert store.missing([]) == []
    assert store.missing([p[0] for p in present]) == []


def test_reading_an_absent_object_is_a_key_error(store: ObjectStore) -> None:
    d = obj(b"never stored")[0]
    with pytest.raises(KeyError):
        store.read(d)
    with pytest.raises(KeyError):
        store.info(d)
    assert not store.contains(d)


def test_dedup_puts_and_flushes(opener: Opener, tmp_path: Path) -> None:
    store = opener()
    o = obj(b"same bytes")
    big = obj(rand(tiledb_store.LARGE_THRESHOLD + 10, 1))
    for _ in range(3):
        store.put(*o)
        store.put(*big)
    store.flush()
    packs = list_index(tmp_path)
    for _ in range(2):                          # already stored: no new pack is written
        store.put(*o)
        store.put(*big)
        store.flush()
    again = opener()
    again.put(*o)
    again.put(*big)
    again.flush()
    assert list_index(tmp_path) == packs
    assert sorted(i.digest for i in opener().iter_objects()) == sorted([o[0], big[0]])


def test_iter_objects_lists_flushed_and_buffered_once(store: ObjectStore) -> None:
    a, b, c = obj(b"a"), obj(b"b"), obj(rand(tiledb_store.LARGE_THRESHOLD, 2))
    store.put(*a); store.flush()
    store.put(*a); store.put(*b); store.put(*c)
    infos = {i.digest: (i.meta, i.nbytes) for i in store.iter_objects()}
    assert infos == {a[0]: ("bytes", 1), b[0]: ("bytes", 1), c[0]: ("bytes", len(c[2]))}


def test_put_verified_rejects_wrong_digests(store: ObjectStore) -> None:
    d, m, data = obj(b"payload")
    with pytest.raises(IntegrityError) as info:
        store.put_verified(d, m, b"payloaD")
    assert info.value.expected == d and info.value.got == digest_of(m, b"payloaD")
    with pytest.raises(IntegrityError):
        store.put_verified(d, Meta("str"), data)   # the meta is part of the digest
    assert not store.contains(d)
    store.put_verified(d, m, data)
    store.flush()
    assert bytes(store.read(d)[1]) == data


def test_digests_ending_in_zero_bytes(opener: Opener) -> None:
    """Index arrays are numpy ``S32``, which drops trailing NULs: lookups must not."""
    store = opener()
    digests = [Digest("ab" * 30 + "0000"), Digest("ab" * 31 + "00"), Digest("ab" * 32),
               Digest("00" * 32), Digest("00" * 31 + "01")]
    for i, d in enumerate(digests):
        store.put(d, Meta("bytes"), bytes([i]) * (i + 1))   # put trusts caller-made digests
    store.flush()
    for s in (store, opener()):
        assert s.missing(digests) == []
        for i, d in enumerate(digests):
            assert bytes(s.read(d)[1]) == bytes([i]) * (i + 1)
        assert sorted(o.digest for o in s.iter_objects()) == sorted(digests)
    assert opener().missing([Digest("ab" * 31 + "01")]) == [Digest("ab" * 31 + "01")]


def test_a_second_instance_sees_objects_flushed_later(opener: Opener) -> None:
    """Regression: an instance that had read once kept an old view of the byte log."""
    reader, writer = opener(), opener()
    first = obj(b"first")
    writer.put(*first); writer.flush()
    assert bytes(reader.read(first[0])[1]) == b"first"
    later = [obj(rand(5000, i)) for i in range(5)]
    for o in later:
        writer.put(*o)
    writer.flush()
    for d, _, data in later:
        assert bytes(reader.read(d)[1]) == data
    assert reader.missing([o[0] for o in later]) == []


# -- large objects and digests -------------------------------------------------------------
@pytest.mark.parametrize("kind", ["compressible", "incompressible"])
def test_large_objects_round_trip(opener: Opener, kind: str) -> None:
    store = opener()
    if kind == "compressible":
        data = np.repeat(np.arange(300_000, dtype=np.uint32), 2).tobytes()
    else:
        data = rand(3 << 20, 6)
    d, m, _ = obj(data, f"nd:<u4:{len(data) // 4}")
    store.put(d, m, np.frombuffer(data, "<u4"))
    store.flush()
    assert bytes(opener().read(d)[1]) == data


# -- corruption ------------------------------------------------------------------------------
def large_file(tmp_path: Path) -> Path:
    files = list((tmp_path / "store" / "large").glob("*/*"))
    assert len(files) == 1
    return files[0]


def stored_large(opener: Opener, compressible: bool) -> tuple[Digest, bytes]:
    rng = np.random.default_rng(7)
    data = (np.repeat(rng.integers(0, 255, 150_000, dtype=np.uint8), 16).tobytes()
            if compressible else rand(2 << 20, 8))
    d, m, _ = obj(data)
    store = opener()
    store.put(d, m, data)
    store.flush()
    return d, data


DAMAGE = {
    "flip-header-len": lambda b: b[:6] + bytes([b[6] ^ 0xFF]) + b[7:],
    "flip-frame-start": lambda b: b[:20] + bytes([b[20] ^ 0xFF]) + b[21:],
    "flip-middle": lambda b: b[:len(b) // 2] + bytes([b[len(b) // 2] ^ 0xFF]) + b[len(b) // 2 + 1:],
    "flip-end": lambda b: b[:-10] + bytes([b[-10] ^ 0xFF]) + b[-9:],
    "truncate-10": lambda b: b[:10],
    "truncate-20": lambda b: b[:20],
    "truncate-half": lambda b: b[:len(b) // 2],
    "empty": lambda b: b"",
    "bad-magic": lambda b: b"XXXX" + b[4:],
}


@pytest.mark.parametrize("compressible", [True, False], ids=["blosc", "raw"])
@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_damaged_large_objects_raise_integrity_error(opener: Opener, tmp_path: Path,
                                                     damage: str, compressible: bool) -> None:
    d, data = stored_large(opener, compressible)
    path = large_file(tmp_path)
    blob = path.read_bytes()
    assert (len(blob) < len(data)) == compressible
    path.write_bytes(DAMAGE[damage](blob))
    store = opener()
    try:
        meta, got = store.read(d)
    except IntegrityError as exc:
        assert d in str(exc)
    else:      # a flip in bytes the decoder ignores is harmless only if the data is intact
        assert bytes(got) == data


def test_deleted_large_object_file_is_integrity_error(opener: Opener, tmp_path: Path) -> None:
    d, _ = stored_large(opener, compressible=False)
    os.remove(large_file(tmp_path))
    with pytest.raises(IntegrityError, match="missing"):
        opener().read(d)


def overwrite_pack_data(tmp_path: Path, start: int, values: np.ndarray) -> None:
    (data,) = (tmp_path / "store" / "data").glob("*.pack")
    blob = bytearray(data.read_bytes())
    blob[start:start + len(values)] = values.tobytes()
    data.write_bytes(bytes(blob))


@pytest.mark.parametrize("where", ["header", "payload"])
def test_damaged_chunk_in_a_pack_is_integrity_error(opener: Opener, tmp_path: Path,
                                                    where: str) -> None:
    objects = [obj(rand(3000, i)) for i in range(10)]
    store = opener()
    for o in objects:
        store.put(*o)
    store.flush()
    offset = 2 if where == "header" else 5000
    overwrite_pack_data(tmp_path, offset, np.full(16, 0x5A, np.uint8))
    fresh = opener()
    with pytest.raises(IntegrityError, match="damaged|corrupt"):
        for d, _, data in objects:
            fresh.read(d)


def test_damaged_pack_index_is_integrity_error(opener: Opener, tmp_path: Path) -> None:
    store = opener()
    d, m, data = obj(b"indexed")
    store.put(d, m, data)
    store.flush()
    (index,) = (tmp_path / "store" / "index").glob("*.idx")
    blob = bytearray(index.read_bytes())
    blob[40] ^= 0x01
    index.write_bytes(bytes(blob))
    with pytest.raises(IntegrityError, match="pack index"):
        opener().read(d)


# -- pack indexes -----------------------------------------------------------------------------
def list_index(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "store" / "index").glob("*.idx"))


def test_pack_indexes_merge_and_stay_readable(opener: Opener, tmp_path: Path) -> None:
    store, before_merge = opener(), opener()
    objects = []
    assert before_merge.missing([obj(b"x")[0]])  # loads its (empty) pack list now
    for round_ in range(maintenance.MERGE_AT + 2):
        batch = [obj(rand(700, round_ * 10 + i), "bytes") for i in range(3)]
        batch.append(obj(f"text {round_}".encode(), "str"))
        if round_ == 3:
            batch.append(obj(rand(tiledb_store.LARGE_THRESHOLD + 1, 99)))
        for o in batch:
            store.put(*o)
        store.flush()
        objects += batch
        if round_ == 1:            # a reader that has cached chunks from early packs
            assert bytes(before_merge.read(batch[0][0])[1]) == batch[0][2]
    assert len(list_index(tmp_path)) < maintenance.MERGE_AT
    for s in (store, opener(), before_merge):
        assert s.missing([o[0] for o in objects]) == []
        for (d, m, data), (_, gm, got) in zip(objects, s.read_many([o[0] for o in objects])):
            assert (gm, bytes(got)) == (m, data)
        assert len({i.digest for i in s.iter_objects()}) == len(objects)


def test_explicit_merge_of_everything(opener: Opener, tmp_path: Path) -> None:
    store = opener()
    objects = [obj(rand(100, i)) for i in range(6)]
    for o in objects:
        store.put(*o)
        store.flush()
    assert len(list_index(tmp_path)) == 6
    assert isinstance(store, TileDBStore)
    store.merge_packs()
    assert len(list_index(tmp_path)) == 1
    for s in (store, opener()):
        assert [bytes(s.read(o[0])[1]) for o in objects] == [o[2] for o in objects]


def raw(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest()


def build_index(name: str, entries: list[tuple[bytes, int, int, int, int]], metas: list[str],
                chunks: list[tuple[int, int, int, int, bytes]], files: list[str]) -> PackIndex:
    cols = np.array([e[1:] for e in entries], dtype=np.int64)
    return build_index_arrays(name, np.array([e[0] for e in entries], dtype="S32"), cols[:, 0], cols[:, 1],
                              cols[:, 2], cols[:, 3], metas, chunks, files)


def test_pack_index_encode_decode_and_merge_dedups() -> None:
    a = build_index("a", [(raw(i), 0, i * 10, 10, i % 2) for i in range(5)], ["m0", "m1"],
                    [(0, 0, 100, 50, b"s" * 16)], ["fa"])
    b = build_index("b", [(raw(i), 0, 0, 7, 0) for i in range(3, 8)], ["m1"],
                    [(0, 100, 20, 35, b"t" * 16)], ["fb"])
    again = PackIndex.decode("a", a.encode())
    assert [bytes(x) for x in again.digests] == [bytes(x) for x in a.digests]
    assert again.metas == ["m0", "m1"] and len(again) == 5
    merged = merge_indexes("m", [a, b])
    assert len(merged) == 8                      # digests 3 and 4 were in both
    assert merged.metas == ["m0", "m1"]
    for i in range(8):
        row = merged.find(raw(i))
        assert row >= 0
        meta = merged.metas[merged.meta[row]]
        if i < 5:
            assert (int(merged.chunk[row]), int(merged.offset[row]), meta) == (0, i * 10, f"m{i % 2}")
        else:
            assert (int(merged.chunk[row]), int(merged.nbytes[row]), meta) == (1, 7, "m1")
    assert merged.files == ["fa", "fb"] and merged.chunk_file.tolist() == [0, 1]
    assert merged.find(raw(99)) == -1
    rows = merged.find_many(np.array([raw(7), raw(99), raw(0)], dtype="S32"))
    assert rows[1] == -1 and rows[0] >= 0 and rows[2] >= 0
    blob = bytearray(merged.encode())
    blob[20] ^= 1
    with pytest.raises(IntegrityError):
        PackIndex.decode("m", bytes(blob))
    with pytest.raises(IntegrityError):
        PackIndex.decode("m", b"NOTAPACK" + bytes(64))


CONCURRENT_WRITER = """
import sys
import numpy as np
from hangar_git.storage import digest_of, open_store
uri, seed = sys.argv[1], int(sys.argv[2])
store = open_store(uri)
rng = np.random.default_rng(seed)
mine = []
for _ in range(20):
    for _ in range(10):
        data = rng.integers(0, 256, 500, dtype=np.uint8).tobytes()
        digest = digest_of("bytes", data)
        store.put(digest, "bytes", data)
        mine.append((digest, data))
    store.flush()
assert all(bytes(store.read(d)[1]) == data for d, data in mine)
print(len(mine))
"""


def test_concurrent_flushes_from_several_processes(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    open_store(uri, create=True).close()
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT_WRITER, uri, str(seed)],
                              env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for seed in (1, 2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [o.strip() for o, _ in outs] == ["200", "200"]
    store = open_store(uri)
    infos = list(store.iter_objects())
    assert len({i.digest for i in infos}) == 400
    assert store.missing([i.digest for i in infos]) == []
    assert all(digest_of(i.meta, bytes(store.read(i.digest)[1])) == i.digest for i in infos)
    store.close()


def test_loading_pack_indexes_while_another_process_merges_them(
        opener: Opener, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: an index listed, then merged away by another process before it was
    read, made the reader fail with TileDBError ('Cannot get file size')."""
    writer = opener()
    objects = [obj(rand(200, i)) for i in range(6)]
    for o in objects:
        writer.put(*o)
        writer.flush()                        # one pack each
    reader = opener()
    assert isinstance(reader, TileDBStore) and isinstance(writer, TileDBStore)
    real_read = reader._files.read_index
    merged: list[bool] = []

    def merge_right_after_listing(name: str) -> PackIndex:
        if not merged:
            merged.append(True)
            writer.merge_packs()              # the other process, between ls and read
        return real_read(name)

    monkeypatch.setattr(reader._files, "read_index", merge_right_after_listing)
    assert reader.missing([o[0] for o in objects]) == []
    assert merged and [bytes(reader.read(o[0])[1]) for o in objects] == [o[2] for o in objects]


def test_read_only_store_refuses_writes(tmp_path):
    from hangar_git.errors import PermissionDeniedError
    from hangar_git.storage import TileDBStore, digest_of
    TileDBStore.create(str(tmp_path / "s")).close()
    store = TileDBStore(str(tmp_path / "s"), read_only=True)
    with pytest.raises(PermissionDeniedError, match="read-only"):
        store.put(digest_of("bytes", b"x"), "bytes", b"x")
    with pytest.raises(PermissionDeniedError, match="read-only"):
        store.put_new("bytes", b"x")


def test_find_many_with_shared_prefixes_and_one_probe_for_many_packs() -> None:
    """Digests whose first 8 bytes are equal are told apart by the whole digest, with a
    probe made once and used against several packs (as a big write's freshness check does)."""
    from hangar_git.storage.packindex import Probe
    same = [b"\x07" * 8 + raw(i)[8:] for i in range(6)]
    entries_a = [(d, 0, 0, 1, 0) for d in same[:3]] + [(raw(i), 0, 0, 1, 0) for i in range(40)]
    a = build_index("a", entries_a, ["m"], [(0, 0, 1, 1, b"s" * 16)], ["fa"])
    b = build_index("b", [(same[4], 0, 0, 1, 0), (raw(50), 0, 0, 1, 0)], ["m"], [(0, 0, 1, 1, b"s" * 16)], ["fb"])
    queries = np.array([same[3], same[0], raw(50), same[2], raw(7), same[4], raw(99)] + [raw(i) for i in range(20)],
                       dtype="S32")
    probe = Probe(queries)
    for pack in (a, b):
        rows = pack.find_many(queries, probe)
        assert rows.tolist() == pack.find_many(queries).tolist()
        assert rows.tolist() == [pack.find(bytes(q)) for q in queries.tolist()]
    assert (a.find_many(queries, probe) >= 0).tolist()[:7] == [False, True, False, True, True, False, False]
    assert (b.find_many(queries, probe) >= 0).tolist()[:7] == [False, False, True, False, False, True, False]
