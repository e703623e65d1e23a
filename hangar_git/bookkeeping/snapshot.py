"""Read access to the records of one tree: columns, samples, metadata.

Nothing is read until asked for: opening a snapshot of a million-sample
commit reads one tree; a sample lookup reads one shard, or, in a column
with a key index (:mod:`.keyindex`), a few pages of a mapped file.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional, Union

from .gitrepo import GitRepo, Oid
from .records import (FORMAT_BLOB_ID, KEY_INDEX_DIGITS, ColumnSchema, ColumnStats, check_format,
                      decode_metadata, decode_shard, shard_prefix)

if TYPE_CHECKING:  # numpy loads with the first scan: status, log and diff never need it
    import numpy as np

    from .keyindex import KeyIndex
    from .recordcache import ShardBlock


class ShardCache:
    """Parsed shards by blob id, shared by every checkout of the process (LRU).

    A shard blob never changes, so a column iterated again (the next epoch,
    a new checkout of the same commit) skips reading and parsing its records.
    """

    def __init__(self, max_records: int = 1 << 18) -> None:
        self._shards: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._records, self.max_records = 0, max_records

    def get(self, git: GitRepo, oid: str) -> dict[str, str]:
        shard = self._shards.get(oid)
        if shard is not None:
            self._shards.move_to_end(oid)
            return shard
        shard = decode_shard(git.read_blob(oid))
        self._shards[oid] = shard
        self._records += len(shard)
        while self._records > self.max_records and len(self._shards) > 1:
            _, old = self._shards.popitem(last=False)
            self._records -= len(old)
        return shard


SHARDS = ShardCache()
LAZY_SHARDS = 32
"""Shards a reader loads one by one before it builds the column's key index instead."""


class ColumnRecords:
    """Sample records (encoded key -> digest) of one column in one tree."""

    def __init__(self, git: GitRepo, name: str, tree: Oid) -> None:
        self.git, self.name, self.tree = git, name, tree
        entries = git.tree_entries(tree)
        self.schema = ColumnSchema.decode(git.read_blob(entries["schema.json"][0]))
        self.stats = ColumnStats.decode(git.read_blob(entries["stats.json"][0]))
        self.samples_tree: Optional[Oid] = entries["samples"][0] if "samples" in entries else None
        self._shards: dict[str, dict[str, str]] = {}
        self._known: dict[str, str] = {}
        self.loaded = self._known
        """Records of the shards read so far (encoded key -> digest; do not mutate): the hot
        path of a read checks here before :meth:`get`."""
        self._shard_map: Optional[dict[str, Oid]] = None
        self._int_index: Union[None, bool, tuple[np.ndarray, np.ndarray]] = None
        self._index: Optional[KeyIndex] = None
        self._index_looked = self._index_built = False
        self._singles = 0
        self.on_load: Optional[Callable[[dict[str, str]], None]] = None
        """Called with each shard as it is first read (the API warms data locations)."""

    @property
    def count(self) -> int:
        return self.stats.count

    @property
    def digits(self) -> int:
        return self.stats.shard_digits

    def shard(self, prefix: str, warm: bool = True) -> dict[str, str]:
        """Records of one shard (cached; do not mutate). ``warm=False`` skips ``on_load``
        (for batched reads, which look up just the digests they need)."""
        shard = self._shards.get(prefix)
        if shard is None:
            oid = self._oids().get(prefix)
            shard = SHARDS.get(self.git, oid) if oid else {}
            self._shards[prefix] = shard
            self._known.update(shard)
            if warm and self.on_load is not None and shard:
                self.on_load(shard)
        return shard

    def get(self, enc: str, warm: bool = True) -> Optional[str]:
        """Digest recorded for an encoded key, or None (``warm``: see :meth:`shard`)."""
        digest = self._known.get(enc)
        if digest is None:
            index = self._index if self._index_looked else self.key_index()
            if index is not None:
                return index.find(enc)
            prefix = shard_prefix(enc, self.stats.shard_digits)
            if prefix not in self._shards:
                self._singles += 1
                if self._singles > LAZY_SHARDS and self.digits >= KEY_INDEX_DIGITS and self.key_index(build=True):
                    return self.get(enc, warm)
                digest = self.shard(prefix, warm).get(enc)
        return digest

    def get_int(self, key: int) -> Optional[str]:
        """:meth:`get` of an int key (the hot path of random reads: no key text is made
        when the key index holds int keys)."""
        index = self._index if self._index_looked else self.key_index()
        if index is not None and index.is_int:
            return index.digest_of_int(key)
        return self.get(f"i{key}")

    def key_index(self, build: bool = False) -> Optional[KeyIndex]:
        """The column's key index (columns of ``KEY_INDEX_DIGITS`` shard levels and more): opened
        when its file exists; ``build``: else built from the records and written, once."""
        if not self._index_looked or (build and self._index is None and not self._index_built):
            self._index_looked = True
            if self.samples_tree is not None and self.digits >= KEY_INDEX_DIGITS:
                self._index = self.git.key_indexes.open(self.samples_tree)
                if self._index is None and build:
                    self._index_built = True
                    self._index = self.git.key_indexes.build(self.samples_tree, self.shard_blocks())
        return self._index

    def _oids(self) -> dict[str, Oid]:
        """:meth:`shard_oids`, walked once (the samples tree never changes)."""
        if self._shard_map is None:
            self._shard_map = self.shard_oids()
        return self._shard_map

    def shard_oids(self) -> dict[str, Oid]:
        """prefix -> blob oid of every non-empty shard."""
        return shard_oids(self.git, self.samples_tree)

    def shard_lists(self) -> Iterator[tuple[list[str], list[str]]]:
        """(encoded keys, digests) of each shard in turn: the fast bulk path."""
        for prefix, oid in sorted(self._oids().items()):
            shard = self._shards.get(prefix) or SHARDS.get(self.git, oid)
            yield list(shard), list(shard.values())

    def shard_blocks(self) -> Iterable[ShardBlock]:
        """Every shard as arrays (decoded keys, raw digests), in shard order: the scan path.

        Served by the local binary record cache; a shard it lacks is parsed
        from git once and cached.
        """
        return shard_blocks(self.git, self._oids(), self._shards)

    def int_index(self) -> Optional[tuple[np.ndarray, np.ndarray]]:
        """(every key, sorted, as ``int64``; their raw digests) when every key is an int,
        else None: random batches look keys up with one ``searchsorted`` instead of
        reading the shard of each. Built once from the binary record cache (about half
        a second per million records), or mapped from the key index."""
        index = self.key_index(build=True)
        if index is not None:
            int_keys = index.int_keys
            return None if int_keys is None else (int_keys, index.digests)
        if self._int_index is None:
            import numpy as np
            keys: list[np.ndarray] = []
            digests: list[np.ndarray] = []
            for block in self.shard_blocks():
                if not all(type(k) is int for k in block.keys):
                    self._int_index = False
                    return None
                keys.append(np.array(block.keys, dtype=np.int64))
                digests.append(block.digests)
            if not keys:
                self._int_index = False
                return None
            k, d = np.concatenate(keys), np.concatenate(digests)
            order = np.argsort(k, kind="stable")
            self._int_index = (k[order], d[order])
        return self._int_index if isinstance(self._int_index, tuple) else None

    def items(self) -> Iterator[tuple[str, str]]:
        """(encoded key, digest) of every record, shard by shard."""
        for encs, digests in self.shard_lists():
            yield from zip(encs, digests)


def shard_oids(git: GitRepo, samples_tree: Optional[Oid]) -> dict[str, Oid]:
    """prefix -> blob oid of every non-empty shard of a ``samples`` tree."""
    out: dict[str, Oid] = {}

    def walk(tree: Optional[Oid], prefix: str) -> None:
        for name, (oid, is_tree) in git.tree_entries(tree).items():
            if is_tree:
                walk(oid, prefix + name)
            else:
                out["" if name == "_" else prefix + name] = oid

    walk(samples_tree, "")
    return out


def samples_records(git: GitRepo, samples_tree: Oid) -> dict[str, str]:
    """Every record (encoded key -> hex digest) of a ``samples`` tree."""
    out: dict[str, str] = {}
    for oid in shard_oids(git, samples_tree).values():
        out.update(decode_shard(git.read_blob(oid)))
    return out


def shard_blocks(git: GitRepo, oids: dict[str, Oid],
                 parsed: Optional[dict[str, dict[str, str]]] = None) -> Iterator[ShardBlock]:
    """The blocks of shards (prefix -> blob oid) in shard order, from the binary record
    cache; a shard it lacks is parsed (or taken from ``parsed``) and cached."""
    cache = git.record_cache
    for prefix, oid in sorted(oids.items()):
        block = cache.get(oid)
        if block is None:
            shard = (parsed or {}).get(prefix) or SHARDS.get(git, oid)
            block = cache.put(oid, shard)
        yield block


class Snapshot:
    """The records of one root tree (a commit's or the staging area's)."""

    def __init__(self, git: GitRepo, tree: Optional[Oid]) -> None:
        self.git, self.tree = git, tree
        root = git.tree_entries(tree)
        if "hangar.json" in root and root["hangar.json"][0] != FORMAT_BLOB_ID:
            check_format(git.read_blob(root["hangar.json"][0]), str(tree))
        self.column_trees: dict[str, Oid] = (
            {n: o for n, (o, _) in git.tree_entries(root["columns"][0]).items()} if "columns" in root else {})
        self.metadata_oid: Optional[Oid] = root["metadata.json"][0] if "metadata.json" in root else None
        """The metadata blob (None: no metadata); equal oids mean equal metadata."""
        self._metadata: Optional[dict[str, str]] = None
        self._columns: dict[str, ColumnRecords] = {}

    def column(self, name: str) -> ColumnRecords:
        rec = self._columns.get(name)
        if rec is None:
            rec = ColumnRecords(self.git, name, self.column_trees[name])
            self._columns[name] = rec
        return rec

    @property
    def metadata(self) -> dict[str, str]:
        if self._metadata is None:
            self._metadata = decode_metadata(self.git.read_blob(self.metadata_oid)) if self.metadata_oid else {}
        return self._metadata
