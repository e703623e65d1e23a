"""The directory cache streaming checkouts share between processes (storage/packcache.py):
append-only packs within one byte budget, verified on every read, safe for concurrent writers."""
from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest

from hangar_git.storage import Meta, digest_of
from hangar_git.storage.packcache import MAP_BELOW, RECORD, PackCache


def objects(n: int, size: int, seed: int = 0) -> list[tuple[str, Meta, bytes]]:
    rng = np.random.default_rng(seed)
    meta = Meta(f"<u1:{size}")
    out = []
    for _ in range(n):
        data = rng.integers(0, 256, size=size, dtype=np.uint8).tobytes()
        out.append((digest_of(meta, data), meta, data))
    return out


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.suffix in (".pack", ".idx"))


def test_a_second_cache_on_the_folder_reads_what_the_first_wrote(tmp_path: Path) -> None:
    items = objects(300, 117)
    first = PackCache(str(tmp_path), 10 << 20)
    first.put_many(items[:200])
    second = PackCache(str(tmp_path), 10 << 20)
    assert all(second.get(d) == (m, b) for d, m, b in items[:200])
    assert second.get(items[250][0]) is None
    first.put_many(items[200:])  # appended after the second one looked: found at its next miss
    assert second.get(items[299][0]) == items[299][1:]
    assert second.hits == 201 and second.misses == 1
    first.close()
    second.close()


@pytest.mark.parametrize("where", ["data", "meta"])
def test_a_damaged_object_is_a_miss_never_an_answer(tmp_path: Path, where: str) -> None:
    items = objects(10, 117)
    cache = PackCache(str(tmp_path), 1 << 20)
    cache.put_many(items)
    pack = next(tmp_path.glob("*.pack"))
    raw = bytearray(pack.read_bytes())
    at = len(items[0][1]) + 3 if where == "data" else 0  # inside the first object's bytes / its meta
    raw[at] ^= 0xFF
    pack.write_bytes(bytes(raw))
    fresh = PackCache(str(tmp_path), 1 << 20)
    assert fresh.get(items[0][0]) is None and fresh.damaged == 1
    assert fresh.get(items[1][0]) == items[1][1:]


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_the_budget_holds_at_its_threshold(tmp_path: Path, extra: int) -> None:
    items = objects(64, 1000)
    per = len(items[0][1]) + 1000 + RECORD.itemsize
    budget = 20 * per + extra  # 19, 20 or 20 objects' bytes fit
    cache = PackCache(str(tmp_path), budget)
    for lo in range(0, 64, 5):
        cache.put_many(items[lo:lo + 5])
        assert folder_bytes(tmp_path) <= budget
    assert items[-1][0] in cache and cache.get(items[-1][0]) == items[-1][1:]  # the newest stay
    assert cache.get(items[0][0]) is None  # the oldest went
    big = objects(1, budget + 1, seed=1)[0]
    cache.put(*big)  # bigger than the whole budget: not kept
    assert cache.get(big[0]) is None and folder_bytes(tmp_path) <= budget


def test_an_evicted_pack_stays_readable_through_an_open_descriptor(tmp_path: Path) -> None:
    items = objects(40, 50_000)
    reader = PackCache(str(tmp_path), 1 << 20)
    writer = PackCache(str(tmp_path), 1 << 20)
    writer.put_many(items[:4])
    assert reader.get(items[0][0]) == items[0][1:]  # the reader opened the first pack
    writer.put_many(items[4:])  # the first pack evicted
    assert not (tmp_path / (next(iter(reader._fds)) + ".pack")).exists()  # noqa: SLF001 (white box)
    assert reader.get(items[1][0]) == items[1][1:]  # still readable: its descriptor holds the bytes
    assert reader.get(items[39][0]) == items[39][1:]
    assert reader.get(items[0][0]) is not None or True  # either is fine: what matters is no error


def _writer(path: str, budget: int, seed: int, rounds: int) -> None:
    cache = PackCache(path, budget)
    items = objects(rounds * 8, 3000, seed=seed)
    for lo in range(0, len(items), 8):
        cache.put_many(items[lo:lo + 8])
        cache.get(items[lo][0])
    cache.close()


def test_concurrent_writer_processes_keep_the_folder_within_its_budget(tmp_path: Path) -> None:
    budget = 200_000
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), budget, seed, 30)) for seed in range(4)]
    for p in procs:
        p.start()
    peak = 0
    while any(p.is_alive() for p in procs):
        try:
            peak = max(peak, folder_bytes(tmp_path))
        except FileNotFoundError:  # removed between listing and stat
            pass
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert 0 < folder_bytes(tmp_path) <= budget and peak <= budget
    fresh = PackCache(str(tmp_path), budget)
    written = {d: (m, b) for seed in range(4) for d, m, b in objects(30 * 8, 3000, seed=seed)}
    held = [d for d in written if fresh.get(d) is not None]
    assert len(held) >= budget // 2 // 3100 and fresh.damaged == 0  # at least half the budget, all intact
    assert all(fresh.get(d) == written[d] for d in held)


def test_a_forked_child_writes_its_own_pack(tmp_path: Path) -> None:
    items = objects(20, 117)
    cache = PackCache(str(tmp_path), 1 << 20)
    cache.put_many(items[:10])
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=cache.put_many, args=(items[10:],))
    child.start()
    child.join()
    assert child.exitcode == 0
    assert len(list(tmp_path.glob("*.pack"))) == 2
    assert all(cache.get(d) == (m, b) for d, m, b in items)
    cache.clear()
    assert folder_bytes(tmp_path) == 0 and cache.get(items[0][0]) is None
    assert os.path.isdir(tmp_path)


def _claim_then(path: str, digests: list[str], ready: "multiprocessing.synchronize.Event",
                go: "multiprocessing.synchronize.Event", release: bool) -> None:
    cache = PackCache(path, 1 << 20)
    token = cache.claims.claim(digests)
    ready.set()
    go.wait(30)
    if release:
        cache.claims.release(token)
    os._exit(0)  # a claim not released: its process is gone


@pytest.mark.parametrize("release", [True, False])
def test_claims_count_for_other_processes_while_they_live(tmp_path: Path, release: bool) -> None:
    items = objects(5, 117)
    digests = [d for d, _, _ in items]
    cache = PackCache(str(tmp_path), 1 << 20)
    mine = cache.claims.claim(digests[:1])
    assert cache.claims.claimed() == frozenset()  # its own claims are not others'
    ctx = multiprocessing.get_context("fork")
    ready, go = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_claim_then, args=(str(tmp_path), digests[1:4], ready, go, release))
    child.start()
    assert ready.wait(30)
    assert cache.claims.claimed() == frozenset(digests[1:4])
    go.set()
    child.join(30)
    assert cache.claims.claimed() == frozenset()  # released, or its process died
    assert (len(list((tmp_path / ".claims").iterdir())) == 1 + (not release))
    cache.claims.release(mine)


def test_a_claim_older_than_its_limit_is_ignored(tmp_path: Path) -> None:
    from hangar_git.storage.packclaims import CLAIM_SECONDS
    items = objects(2, 117)
    ctx = multiprocessing.get_context("fork")
    ready, go = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_claim_then, args=(str(tmp_path), [items[0][0]], ready, go, True))
    child.start()
    try:
        assert ready.wait(30)
        cache = PackCache(str(tmp_path), 1 << 20)
        claim = next((tmp_path / ".claims").iterdir())
        now = claim.stat().st_mtime
        os.utime(claim, (now - CLAIM_SECONDS + 5, now - CLAIM_SECONDS + 5))
        assert cache.claims.claimed() == frozenset([items[0][0]])
        os.utime(claim, (now - CLAIM_SECONDS - 1, now - CLAIM_SECONDS - 1))
        assert cache.claims.claimed() == frozenset()
    finally:
        go.set()
        child.join(30)


@pytest.mark.parametrize("bad", [0, 1, 63])  # first, second, last of a batch verified together
@pytest.mark.parametrize("size", [117, MAP_BELOW, MAP_BELOW + 1])  # hashed as rows / one by one (pread)
def test_get_many_verifies_a_batch_and_misses_only_the_damaged_object(tmp_path: Path, bad: int, size: int) -> None:
    items = objects(64, size)
    PackCache(str(tmp_path), 64 << 20).put_many(items)
    pack = next(tmp_path.glob("*.pack"))
    raw = bytearray(pack.read_bytes())
    raw[bad * (len(items[0][1]) + size) + len(items[0][1]) + size - 1] ^= 0x01  # the bad object's last byte
    pack.write_bytes(bytes(raw))
    fresh = PackCache(str(tmp_path), 64 << 20)
    got = fresh.get_many([d for d, _, _ in items])
    assert [i for i, e in enumerate(got) if e is None] == [bad] and fresh.damaged == 1
    assert all(got[i] == items[i][1:] for i in range(64) if i != bad)
    assert items[bad][0] not in fresh and fresh.get_many([items[bad][0]]) == [None]


def test_get_many_of_mixed_metas_and_sizes_checks_each_group(tmp_path: Path) -> None:
    items = objects(5, 117) + objects(5, 118, seed=1) + objects(1, 3, seed=2)
    cache = PackCache(str(tmp_path), 1 << 20)
    cache.put_many(items)
    fresh = PackCache(str(tmp_path), 1 << 20)
    assert fresh.get_many([d for d, _, _ in items][::-1]) == [(m, b) for _, m, b in items][::-1]
    assert fresh.damaged == 0 and fresh.hits == len(items)


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_sort_out_names_the_absent_and_the_large_objects(tmp_path: Path, extra: int) -> None:
    small, large = objects(3, 100), objects(2, 200, seed=1)
    writer = PackCache(str(tmp_path), 1 << 20)
    writer.put_many(small + large)
    reader = PackCache(str(tmp_path), 1 << 20)  # knows nothing until it looks
    absent = objects(1, 100, seed=9)[0][0]
    wanted = [absent] + [d for d, _, _ in small + large]
    got_absent, got_large = reader.sort_out(wanted, 200 + extra)
    assert got_absent == [absent]
    assert got_large == ([d for d, _, _ in large] if extra < 0 else [])
    assert reader.hits == reader.misses == 0  # nothing read


def _reads_and_appends(path: str, items: list, fresh: list, out: "multiprocessing.connection.Connection",
                       inherited: PackCache) -> None:
    cache = inherited if fresh else PackCache(path, 1 << 20)  # as a DataLoader worker reopening its checkout
    got = cache.get_many([d for d, _, _ in items])
    cache.put_many(fresh)
    out.send((cache.records_read, sum(g == (m, b) for g, (_, m, b) in zip(got, items))))
    os._exit(0)


@pytest.mark.parametrize("appended_after", [0, 1, 7])
@pytest.mark.parametrize("reopened", [False, True])
def test_a_forked_child_starts_from_the_parents_index_and_appends_to_a_pack_of_its_own(
        tmp_path: Path, appended_after: int, reopened: bool) -> None:
    items, fresh = objects(50 + appended_after, 117), ([] if reopened else objects(5, 117, seed=1))
    writer = PackCache(str(tmp_path), 1 << 20)
    writer.put_many(items[:30])
    parent = PackCache(str(tmp_path), 1 << 20)
    parent.refresh()
    assert parent.records_read == 0  # opened after the writer, in one process: it starts from its index
    other = PackCache(str(tmp_path / "other"), 1 << 20)  # another folder: nothing from it
    assert other.get(items[0][0]) is None and other.records_read == 0
    writer.put_many(items[30:50])
    parent.refresh()
    assert parent.records_read == 20  # only what was appended since its last look
    parent.put(*objects(1, 117, seed=2)[0])  # the parent has a pack of its own open for appends
    own = {p.name for p in tmp_path.glob("*.pack")}
    if appended_after:
        writer.put_many(items[50:])  # after the parent looked: the child reads only these records
    ctx = multiprocessing.get_context("fork")
    into, out = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_reads_and_appends, args=(parent.path, items, fresh, out, parent))
    child.start()
    assert into.poll(60)
    read, hits = into.recv()
    child.join(30)
    assert (read, hits) == (appended_after, len(items))
    packs = {p.name for p in tmp_path.glob("*.pack")}
    assert len(packs - own) == (0 if reopened else 1)  # the child appended to a pack of its own, not the parent's
    reader = PackCache(str(tmp_path), 1 << 20)
    assert all(reader.get(d) == (m, b) for d, m, b in items + fresh)
    parent.put(*objects(1, 117, seed=3)[0])  # the parent's pack is still the parent's to append to
    assert {p.name for p in tmp_path.glob("*.pack")} == packs


def test_an_inherited_index_of_packs_removed_since_reads_them_until_the_childs_next_look(tmp_path: Path) -> None:
    items = objects(20, 117)
    parent = PackCache(str(tmp_path), 1 << 20)
    parent.put_many(items)
    assert parent.get_many([d for d, _, _ in items]) == [(m, b) for _, m, b in items]  # its packs open
    ctx = multiprocessing.get_context("fork")
    into, out = ctx.Pipe(duplex=False)
    PackCache(str(tmp_path), 1 << 20).clear()  # every pack removed before the child reads
    unknown = objects(1, 117, seed=9)[0][0]

    def child_reads(cache: PackCache) -> None:
        digests = [d for d, _, _ in items]
        before = cache.get_many(digests)  # through the inherited descriptors (POSIX), verified
        missed = cache.get(unknown)  # a miss: the child looks, and lets go of the removed packs
        out.send((before, missed, cache.get_many(digests)))
        os._exit(0)

    child = ctx.Process(target=child_reads, args=(parent,))
    child.start()
    assert into.poll(60)
    before, missed, after = into.recv()
    child.join(30)
    assert before == [(m, b) for _, m, b in items] and missed is None and after == [None] * len(items)


def test_rows_gathered_in_batches_are_verified_and_other_sizes_metas_and_damage_are_not_found(tmp_path: Path) -> None:
    rows = objects(40, 117)
    other_meta = [(digest_of(Meta("<i1:117"), b), Meta("<i1:117"), b) for _, _, b in objects(3, 117, seed=4)]
    wider = objects(3, 118, seed=5)
    cache = PackCache(str(tmp_path), 1 << 20)
    cache.put_many(rows[:20])
    cache.put_many(other_meta + wider)
    other = PackCache(str(tmp_path), 1 << 20)
    other.put_many(rows[20:])  # another pack
    asked = [d for d, _, _ in rows] + [d for d, _, _ in other_meta + wider] + [objects(1, 117, seed=6)[0][0]]
    got, found = cache.gather_rows(asked, 117)
    assert found.tolist() == [True] * 40 + [False] * 7  # other meta (hashed apart), other size, unknown
    assert all(got[i].tobytes() == rows[i][2] for i in range(40))
    assert cache.gather_rows([d for d, _, _ in other_meta[:1]], 117)[1].tolist() == [True]  # its own meta first
    assert cache.get_many([d for d, _, _ in rows[:1]]) == [rows[0][1:]]
    pack = next(p for p in tmp_path.glob("*.pack") if rows[2][2] in p.read_bytes())
    text = bytearray(pack.read_bytes())
    text[text.index(rows[2][2]) + 5] ^= 1  # a byte of the third row flipped on disk
    pack.write_bytes(bytes(text))
    reader = PackCache(str(tmp_path), 1 << 20)
    got, found = reader.gather_rows([d for d, _, _ in rows[:5]], 117)
    assert found.tolist() == [True, True, False, True, True] and reader.damaged == 1
    assert rows[2][0] not in reader  # dropped: a miss from now on, never an answer
    assert reader.gather_rows([d for d, _, _ in rows[:5]], 118)[1].tolist() == [False] * 5
    assert reader.gather_rows([], 117)[0].shape == (0, 117)
