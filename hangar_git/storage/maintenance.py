"""Store maintenance: merging indexes, rewriting without dead objects (gc, drop), verifying.

None of it takes a lock. Index merges write the merged index before removing
its inputs, so a reader always finds every object in some index. A rewrite
lists the indexes, writes one new pack with the live objects, lists again,
and removes only what the first listing named and nothing written since
needs: objects a concurrent writer indexed meanwhile stay, and so do data
files any newer index names. With a grace period, files are condemned first
and removed by a later gc, once the grace period is over, that finds no index
naming them then (``CONDEMNED_SECONDS``): a process that loaded the old
indexes reads them meanwhile, and an index merge in another process may have
named them while this gc ran. A gc with no grace period removes them at once,
and those an earlier gc condemned. A store that is one pack with nothing to
drop is left as it is. A writer reuses an object already stored only
if an index younger than ``FRESH_SECONDS`` names it (else it writes it
again), so with a grace period longer than that, a gc never removes what a
flush is about to reference.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np

from ..errors import IntegrityError
from ..heap import release_freed
from .chunks import ChunkCache
from .files import StoreFiles
from .indexrepair import IndexRepair, corrupt_index_error
from .objects import Meta, raws_to_digests
from .packindex import LARGE, PackIndex, merge_indexes, name_time, new_name
from .packs import SmallObjects

MERGE_AT = 8
"""Indexes a store may have before a flush merges some of them."""
CONDEMNED_SECONDS = 600.0
"""A gc with a grace period removes the files it found unneeded only in a later gc, once the
grace period and at least this long is over, and only if no index names them then: an index
merge in another process may have named them meanwhile (merges take seconds)."""
ORPHAN_SECONDS = 3600.0
"""Files no index names (left by killed writers, or still being written by a live one) are
removed once this old, whatever the grace period."""


@dataclass
class RewriteResult:
    """What a store rewrite (gc, drop) removed, kept and freed."""

    removed: int = 0
    removed_bytes: int = 0
    """The removed objects' bytes (as stored before compression)."""
    kept: int = 0
    spared: int = 0
    """Of the kept objects, those ``keep`` let go that the grace period kept."""
    repacked: int = 0
    """Packs (indexes) whose kept objects were copied into a new one; 0: nothing was rewritten."""
    pack_files: int = 0
    """The data files of those packs."""
    freed_bytes: int = 0
    """What the store shrank by: the bytes of the files removed less those written (negative: it grew)."""
    waiting_bytes: int = 0
    """Bytes of condemned files (replaced packs) that stay for the grace period."""
    waiting_seconds: float = 0.0
    """How long the last of them still waits, for a gc with the same grace period."""


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _data_files(packs: list[PackIndex]) -> set[str]:
    """Names of the data files some of ``packs`` point into."""
    return set().union(*(p.files for p in packs))


def _one_pack(packs: list[PackIndex]) -> bool:
    """True when ``packs`` are at most one index with at most one data file: nothing to merge."""
    return len(packs) <= 1 and len(_data_files(packs)) <= 1


class Maintenance(IndexRepair):
    """Maintenance methods of :class:`~.tiledb_store.TileDBStore` (which provides what is
    declared here)."""

    uri: str
    _files: StoreFiles
    _chunks: ChunkCache
    _packs: list[PackIndex]
    _pack_names: set[str]
    _damaged: set[str]
    _corrupt: dict[str, Optional[PackIndex]]
    _memo: dict[str, Any]

    def _check_writable(self) -> None: ...
    def flush(self) -> None: ...
    def _load_packs(self) -> bool: raise NotImplementedError
    def _reload(self) -> None: ...
    def mark_damaged(self, digests: Iterable[str]) -> None: ...
    def _read_large(self, digest: str, meta: str, *, verify: bool = True) -> tuple[Meta, memoryview]: raise NotImplementedError
    def _damage(self, digest: str, meta: str, pack: PackIndex, chunk_no: int, off: int, end: int) -> None: ...
    def write_pack(self, small: SmallObjects, large: Sequence[tuple[str, tuple[str, int]]],
                   name: Optional[str] = None) -> PackIndex: raise NotImplementedError
    def mapped_index(self, index: PackIndex) -> PackIndex: raise NotImplementedError

    def release_pages(self) -> None:
        """Give back what a big write read and freed: the C heap's free memory, and the read
        pages of mapped index files (merging reads them whole; a million rows' indexes are
        60 MB). Pages are mapped back in from the page cache when looked up again."""
        for pack in self._packs:
            pack.release_pages()
        release_freed()

    def merge_if_needed(self) -> None:
        """Merge indexes once there are more than ``MERGE_AT``."""
        if len(self._packs) > MERGE_AT:
            self.merge_packs()

    def merge_packs(self) -> None:
        """Merge pack indexes so lookups search few tables.

        Tiered, like an LSM tree: when one index outweighs the rest twice over it
        is left alone and only the small ones merge, so a store that grows by many
        small flushes rewrites each entry O(log n) times. The merged index is named
        with the newest time of its inputs, so gc never sees its objects as older
        than they are.
        """
        self._load_packs()
        if len(self._packs) < 2:
            return
        old = sorted(self._packs, key=len)
        if len(old) > 2 and len(old[-1]) > 2 * sum(len(p) for p in old[:-1]):
            old = old[:-1]
        merged = self.mapped_index(merge_indexes(new_name(at=max(p.created for p in old)), old))
        gone = {p.name for p in old}
        self._packs = sorted([p for p in self._packs if p.name not in gone] + [merged], key=lambda p: p.name)
        self._pack_names = {p.name for p in self._packs}
        self._memo.clear()
        for name in gone:
            self._remove_quietly(f"{self.uri}/index/{name}.idx")
            self._files.forget_index(name)
        del old, merged
        self.release_pages()

    def _remove_quietly(self, path: str) -> int:
        """Remove a file that another process may have removed already; the bytes it freed."""
        try:
            return self._files.remove(path)
        except (FileNotFoundError, IntegrityError):
            return 0
        except Exception:
            if self._files.exists(path):
                raise
            return 0

    # -- rewrite (gc, drop) ----------------------------------------------------------
    def compact(self) -> RewriteResult:
        """Repack every object into one pack (what ``gc`` also does); keeps everything."""
        return self.rewrite(lambda d: True, grace_seconds=float("inf"), force=True)

    def rewrite(self, keep: Callable[[str], bool], grace_seconds: float = 0.0,
                force: bool = False) -> RewriteResult:
        """Drop every object for which ``keep`` is False and that no index younger than the
        grace period names: when any is dropped or damaged (with ``force``, also when the store
        is more than one pack file) the live small objects are copied into one new pack and
        what only the old packs needed goes. ``force`` then also sweeps (see :meth:`_sweep`),
        which is all it does when there is nothing to rewrite."""
        self._check_writable()
        self.flush()
        self._reload()
        if self._corrupt:  # its pack's data file would look unneeded: fsck rebuilds the index first
            raise corrupt_index_error(self.uri, min(self._corrupt))
        before = list(self._packs)
        result = RewriteResult()
        small, large, dead_large = self._sort_out(before, keep, grace_seconds, result)
        if result.removed or self._damaged or (force and not _one_pack(before)):
            rows = [(d, meta, bytes(self._read_small(pack, r))) for d, meta, pack, r in small]
            new = self.write_pack(SmallObjects.of(rows), large, name=new_name())
            del rows, small, large
            result.repacked = len(before)
            result.pack_files = len(_data_files(before))
            result.freed_bytes -= self._stored_bytes(new)
            current = self._drop_replaced(before, new, dead_large, grace_seconds, result)
        elif force:
            current = before + self._indexes_besides({p.name for p in before})
        else:
            return result
        self._sweep(current, _data_files(before), grace_seconds, result, keep)
        self._reload()
        return result

    def _sort_out(self, before: list[PackIndex], keep: Callable[[str], bool], grace_seconds: float,
                  result: RewriteResult) -> tuple[list[tuple[str, str, PackIndex, int]],
                                                  list[tuple[str, tuple[str, int]]], list[str]]:
        """(small objects kept, with the pack and row that hold them; large ones kept; large
        ones dropped), counted in ``result``; nothing is read."""
        small: list[tuple[str, str, PackIndex, int]] = []
        large: list[tuple[str, tuple[str, int]]] = []
        dead_large: list[str] = []
        seen: set[str] = set()
        for pack in reversed(before):
            young = pack.age() < grace_seconds
            for r, d in enumerate(raws_to_digests(pack.digests)):
                if d in seen:
                    continue
                seen.add(d)
                meta, n, is_large = pack.metas[pack.meta[r]], int(pack.nbytes[r]), int(pack.chunk[r]) == int(LARGE)
                wanted = keep(d)
                if d not in self._damaged and (wanted or young):
                    if is_large:
                        large.append((d, (meta, n)))
                    else:
                        small.append((d, meta, pack, r))
                    result.kept += 1
                    result.spared += not wanted
                    continue
                if d in self._damaged and wanted:  # its bytes are lost here; its marker stays
                    continue
                result.removed += 1
                result.removed_bytes += n
                if is_large:
                    dead_large.append(d)
        return small, large, dead_large

    def _read_small(self, pack: PackIndex, row: int) -> memoryview:
        c, off = int(pack.chunk[row]), int(pack.offset[row])
        d = raws_to_digests(pack.digests[row:row + 1])[0]
        chunk = self._chunks.chunk(pack, c, lambda: self._damage(d, pack.metas[pack.meta[row]], pack, c, off, 0))
        return chunk[off:off + int(pack.nbytes[row])]

    def _stored_bytes(self, pack: PackIndex) -> int:
        """Bytes of the files a pack just written has: data file, index and checked marker."""
        paths = [f"{self.uri}/index/{pack.name}.idx"]
        paths += [f"{self.uri}/data/{pack.name}.pack"] if pack.name in pack.files else []
        paths += [f"{self.uri}/checked/{pack.name}"] if self._files.local else []
        return sum(self._size(p) for p in paths)

    def _size(self, path: str) -> int:
        """Bytes of a file (0 if it is gone)."""
        try:
            return self._files.size(path)
        except FileNotFoundError:
            return 0

    def _drop_replaced(self, before: list[PackIndex], new: PackIndex, dead_large: list[str],
                       grace_seconds: float, result: RewriteResult) -> list[PackIndex]:
        """Remove the indexes of ``before``; the data files and large objects only they needed
        are removed at once with no grace period, else condemned (see :meth:`_collect`).
        Returns the indexes there are now."""
        newer = self._indexes_besides({p.name for p in before} | {new.name})
        needed_files = set(new.files).union(*(p.files for p in newer))
        needed = set().union(*(raws_to_digests(p.digests) for p in newer))
        for pack in before:
            result.freed_bytes += self._remove_quietly(f"{self.uri}/index/{pack.name}.idx")
            result.freed_bytes += self._files.forget_index(pack.name)
        unneeded = [f"data/{name}.pack" for name in sorted(_data_files(before) - needed_files)]
        unneeded += [self._files.object_path(d)[len(self.uri) + 1:] for d in dead_large if d not in needed]
        if grace_seconds > 0:
            result.freed_bytes -= self._condemn(unneeded)
        else:
            result.freed_bytes += sum(self._remove_quietly(f"{self.uri}/{rel}") for rel in unneeded)
        return [new, *newer]

    def _sweep(self, current: list[PackIndex], known: set[str], grace_seconds: float,
               result: RewriteResult, keep: Callable[[str], bool] = lambda d: False) -> None:
        """Remove condemned files that are due (see :meth:`_collect`), data files that no index
        names (``current``), none names since this gc began (``known``) and none waits as
        condemned, once older than ``ORPHAN_SECONDS`` (a killed writer's), likewise temporary
        files, and damaged markers of objects no index names and ``keep`` lets go (a wanted
        object stays marked: fsck reports it and fetch-data fetches it again)."""
        files = set().union(*(p.files for p in current))
        spare = files | known | self._collect(current, files, grace_seconds, result)
        now = time.time()
        gone = [p for p in self._files.list("data") if _name(p)[:-5] not in spare
                and now - name_time(_name(p)) >= ORPHAN_SECONDS]
        gone += [p for p in self._files.list("tmp") if now - name_time(_name(p)) >= ORPHAN_SECONDS]
        damaged = self._files.list("damaged")
        if damaged:
            needed = set().union(*(raws_to_digests(p.digests) for p in current))
            gone += [p for p in damaged if _name(p) not in needed and not keep(_name(p))]
        result.freed_bytes += sum(self._remove_quietly(path) for path in gone)

    def _condemn(self, paths: list[str]) -> int:
        """Record files (relative to the store, with their sizes) that no index needed when
        this gc looked: a later gc removes those no index names by then (a merge running
        meanwhile may); returns the bytes of the record."""
        sized = [f"{rel} {self._size(f'{self.uri}/{rel}')}" for rel in paths]
        if not sized:
            return 0
        listing = f"{self.uri}/condemned/{new_name()}"
        self._files.write_small(listing, "\n".join(sized).encode())
        return self._size(listing)

    def _collect(self, current: list[PackIndex], files: set[str], grace_seconds: float,
                 result: RewriteResult) -> set[str]:
        """Remove the files condemned long enough ago that no index names now: the grace
        period, and at least ``CONDEMNED_SECONDS`` (no wait at all with no grace period).
        Returns the names of the data files still waiting (counted in ``result``)."""
        wait = max(grace_seconds, CONDEMNED_SECONDS) if grace_seconds > 0 else 0.0
        now, waiting, digests = time.time(), set[str](), None
        for listing in self._files.list("condemned"):
            entries = self._condemned(listing)
            age = now - name_time(_name(listing))
            if age < wait:
                waiting.update(_name(rel)[:-5] for rel, _ in entries if rel.startswith("data/"))
                result.waiting_bytes += sum(size for _, size in entries)
                result.waiting_seconds = max(result.waiting_seconds, wait - age)
                continue
            for rel, _ in entries:
                if rel.startswith("data/"):
                    named = _name(rel)[:-5] in files
                else:
                    digests = digests if digests is not None else set().union(
                        *(raws_to_digests(p.digests) for p in current))
                    named = _name(rel) in digests
                if not named:
                    result.freed_bytes += self._remove_quietly(f"{self.uri}/{rel}")
            result.freed_bytes += self._remove_quietly(listing)
        return waiting

    def _condemned(self, listing: str) -> list[tuple[str, int]]:
        """(path relative to the store, bytes) of each file a condemned listing names."""
        try:
            lines = self._files.read(listing).decode().split("\n")
        except FileNotFoundError:  # collected by another gc meanwhile
            return []
        entries = []
        for line in filter(None, lines):
            rel, _, size = line.partition(" ")
            entries.append((rel, int(size) if size else self._size(f"{self.uri}/{rel}")))
        return entries

    def _indexes_besides(self, known: set[str]) -> list[PackIndex]:
        """Every index in the store now but ``known``, read whole. An index that vanishes
        between listing and reading was merged away by another process, which wrote the
        merged index first: listing again finds it."""
        for _ in range(100):
            names = {p.rsplit("/", 1)[-1][:-4] for p in self._files.list("index") if p.endswith(".idx")}
            try:
                return [PackIndex.decode(n, self._files.read(f"{self.uri}/index/{n}.idx"))
                        for n in sorted(names - known)]
            except FileNotFoundError:
                continue
        raise IntegrityError(f"the indexes of store {self.uri} keep changing under gc: run it again later")

    # -- verify ------------------------------------------------------------------------
    def verify(self, rehash: bool = True) -> list[str]:
        """Problems found re-reading the store (every object re-hashed unless ``rehash=False``);
        damaged objects are marked, so fetch-data fetches them again."""
        self._reload()
        self.recheck_indexes()
        problems = [self.rebuild_index(name) for name in sorted(self._corrupt)]
        seen: set[str] = set()
        for pack in reversed(self._packs):
            digests = raws_to_digests(pack.digests)
            for c in np.unique(pack.chunk).tolist():
                rows = [r for r in np.flatnonzero(pack.chunk == c).tolist() if digests[r] not in seen]
                seen.update(digests[r] for r in rows)
                if rows:
                    problems += self._verify_rows(pack, int(c), rows, digests, rehash)
            self._chunks.clear()
        return problems

    def _verify_rows(self, pack: PackIndex, c: int, rows: list[int], digests: Sequence[str],
                     rehash: bool) -> list[str]:
        if c == int(LARGE):
            out = []
            for r in rows:
                d = digests[r]
                if not self._files.exists(self._files.object_path(d)):
                    self.mark_damaged([d])
                    out.append(f"object {d}: file missing")
                elif rehash:
                    try:
                        self._read_large(d, pack.metas[pack.meta[r]])
                    except IntegrityError as exc:
                        out.append(str(exc))
            return out
        try:
            bad = self._chunks.load([(pack, c)])
        except (FileNotFoundError, IntegrityError) as exc:  # the data file gone, or cut short
            lost = [digests[r] for r in rows]
            self.mark_damaged(lost)
            what = "missing" if isinstance(exc, FileNotFoundError) else "truncated"
            return [f"object {d}: data file {pack.files[int(pack.chunk_file[c])]} {what}" for d in lost]
        if not bad and not rehash:
            return []
        ours = {digests[r] for r in rows}  # not those a newer copy shadows
        broken = set(self._chunks.salvage(pack, c)) & ours if (bad or rehash) else set()
        self.mark_damaged(broken)
        return [f"object {digests[r]} is corrupt (its bytes do not hash to its name)"
                for r in rows if digests[r] in broken]
