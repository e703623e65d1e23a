"""Corrupt pack indexes: told apart from absence, and rebuilt by fsck.

A pack index whose checksum fails is not loaded (its pack's objects would be read from
rows that cannot be trusted). The objects it names are damaged, not absent: reads of
them raise IntegrityError naming the index, and :meth:`ObjectStore.damaged` lists them
(read from the index without its checksum, as far as its layout still decodes). fsck
rebuilds it: every object it names is read and kept only if its bytes hash to its
digest (objects are verified by digest, so a wrong row can only lose an object, never
serve a wrong one), the survivors go to a new pack, and the corrupt index is removed.
The lost ones are marked damaged, so fsck lists them and fetch-data fetches them again. An
index whose layout does not decode at all is left in place with its pack (nothing of the pack
can be read without it): fsck says so, and gc keeps refusing while it is there.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from ..errors import IntegrityError
from .objects import digest_of, raws_to_digests
from .packindex import LARGE, PackIndex, checksum_ok
from .packs import SmallObjects, open_chunk

REPAIR = "`git hangar fsck` rebuilds it from the objects of its pack that still verify"


def corrupt_index_error(uri: str, name: str, digest: str = "") -> IntegrityError:
    """The error of a read that needs pack index ``name``, which is corrupt."""
    what = (f"object {digest} of store {uri} is named only by pack index {name}, which" if digest
            else f"pack index {name} of store {uri}")
    return IntegrityError(f"{what} is corrupt (checksum mismatch): run `git hangar fsck`, which rebuilds "
                          f"it from the objects of its pack that still verify", expected=digest)


def unverified(files: Any, uri: str, name: str) -> Optional[PackIndex]:
    """A corrupt index decoded without its checksum, or None when even its layout is broken."""
    try:
        return PackIndex.decode(name, files.read(f"{uri}/index/{name}.idx"), verify=False)
    except Exception:  # any garbage: nothing of it can be used
        return None


def names_digest(index: Optional[PackIndex], raw: bytes) -> bool:
    """Whether a corrupt index (None: undecodable) may name the object of raw digest ``raw``."""
    if index is None:
        return True
    try:
        return bool(index.find(raw) >= 0)
    except Exception:  # its digests are out of order: look at each
        return bool((index.digests == raw).any())


def _small_objects(files: Any, uri: str, index: PackIndex, rows: np.ndarray,
                   c: int) -> list[tuple[str, str, bytes]]:
    """(digest, meta, bytes) of the objects of chunk ``c``, each named by what its bytes hash to
    (content addressing: a row whose digest was damaged still yields its object; a row whose
    place was damaged yields an object nothing references, which gc removes)."""
    try:
        path = f"{uri}/data/{index.files[int(index.chunk_file[c])]}.pack"
        raw = files.read_range(path, int(index.chunk_start[c]), int(index.chunk_clen[c]))
        data, _ = open_chunk(raw, int(index.chunk_ulen[c]), index.chunk_sum[c])
    except Exception:  # a wrong file name or range, a data file gone: its objects are lost
        return []
    if data is None:
        return []
    view = memoryview(data)
    out: list[tuple[str, str, bytes]] = []
    for r in rows.tolist():
        try:
            meta = index.metas[int(index.meta[r])]
            start, size = int(index.offset[r]), int(index.nbytes[r])
        except Exception:
            continue
        if 0 <= start and start + size <= len(view):
            blob = view[start:start + size]
            out.append((digest_of(meta, blob), meta, bytes(blob)))
    return out


def _large_objects(files: Any, index: PackIndex, rows: np.ndarray) -> list[tuple[str, tuple[str, int]]]:
    """(digest, (meta, size)) of the large objects whose files hash to their digests."""
    out: list[tuple[str, tuple[str, int]]] = []
    for r, d in zip(rows.tolist(), raws_to_digests(index.digests[rows])):
        try:
            meta = index.metas[int(index.meta[r])]
            _, data = files.read_object(d, meta)
        except Exception:
            continue
        out.append((d, (meta, len(data))))
    return out


class IndexRepair:
    """fsck's rebuild of corrupt indexes, a part of :class:`~.tiledb_store.TileDBStore` (which
    provides what is declared here)."""

    uri: str
    read_only: bool
    _files: Any
    _corrupt: dict[str, Optional[PackIndex]]
    _packs: list[PackIndex]
    _pack_names: set[str]
    _memo: dict[str, Any]

    def _reload(self) -> None: ...
    def missing(self, digests: Any) -> list[Any]: raise NotImplementedError
    def mark_damaged(self, digests: Any) -> None: ...
    def write_pack(self, small: SmallObjects, large: Sequence[tuple[str, tuple[str, int]]],
                   name: Optional[str] = None) -> PackIndex: raise NotImplementedError

    def recheck_indexes(self) -> None:
        """Hash every loaded index file whole, whatever its ``checked/`` marker says (damage that
        left a file's size, time and inode as they were): a corrupt one is set aside for
        :meth:`rebuild_index`."""
        for pack in list(self._packs):
            try:
                blob = self._files.read(f"{self.uri}/index/{pack.name}.idx")
            except FileNotFoundError:  # merged or collected away meanwhile
                continue
            if not checksum_ok(blob):
                self._corrupt[pack.name] = unverified(self._files, self.uri, pack.name)
                self._packs.remove(pack)
                self._pack_names.discard(pack.name)
                self._memo.clear()

    def rebuild_index(self, name: str) -> str:
        """Rebuild corrupt pack index ``name`` (see the module); returns the problem to report,
        saying what was done."""
        index = self._corrupt.get(name)
        if self.read_only:
            return f"pack index {name} is corrupt (checksum mismatch): {REPAIR} (the store is open read-only here)"
        if index is None:  # nothing of it decodes: its pack cannot be read without it, so both stay
            return (f"pack index {name} is corrupt beyond reading (its layout does not decode): it and its "
                    f"pack are left as they are, and the objects only it names cannot be read here; "
                    f"fetch-data fetches them again (or restore index/{name}.idx from a backup)")
        small: list[tuple[str, str, bytes]] = []
        large: list[tuple[str, tuple[str, int]]] = []
        named: list[str] = []
        if index is not None:
            named = list(raws_to_digests(index.digests))
            for c in np.unique(index.chunk).tolist():
                rows = np.flatnonzero(index.chunk == c)
                if int(c) == int(LARGE):
                    large += _large_objects(self._files, index, rows)
                else:
                    small += _small_objects(self._files, self.uri, index, rows, int(c))
        small = list({d: (d, meta, blob) for d, meta, blob in small}.values())  # rows may repeat an object
        if small or large:
            self.write_pack(SmallObjects.of(small), large)
        self._files.remove(f"{self.uri}/index/{name}.idx")
        self._files.forget_index(name)
        del self._corrupt[name]
        self._reload()
        kept = {d for d, _, _ in small} | {d for d, _ in large}
        lost = self.missing([d for d in dict.fromkeys(named) if d not in kept])
        self.mark_damaged(lost)
        return (f"pack index {name} was corrupt (checksum mismatch): rebuilt from its pack, {len(kept)} "
                f"object(s) kept (each under the digest its bytes hash to), {len(lost)} lost (marked "
                f"damaged: fetch-data fetches them again)")
