"""Storage layer: the content-addressed store of sample data.

The TileDB store (and blosc2, tiledb) load on first use: a process that never
opens a store (``git hangar serve`` answering ``list_refs``) does not pay for them.
"""
from typing import TYPE_CHECKING, Any

from ..errors import StoreNotFoundError
from .base import ObjectInfo, ObjectStore
from .incoming import IncomingObject
from .location import DEFAULT_STORE, is_uri, remove_store, resolve_store, same_store, store_exists, store_setting
from ..formats import DIGEST_ALGORITHM
from .objects import (Digest, Meta, ObjectBatch, Value, check_dtype_supported, decode_value,
                      digest_hasher, digest_of, digests_to_raw, ndarray_meta, parse_meta, raw_to_digest,
                      raws_to_digests, verify, verify_batch)

if TYPE_CHECKING:
    from .tiledb_store import TileDBStore


def __getattr__(name: str) -> Any:
    if name == "TileDBStore":
        from .tiledb_store import TileDBStore
        return TileDBStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(uri: str, *, create: bool = False, read_only: bool = False,
               durable: bool = False) -> ObjectStore:
    """Open the store at a TileDB VFS URI (made first with ``create``; without it a missing
    store raises StoreNotFoundError); ``durable`` fsyncs every file it writes (the
    repository's ``hangar.fsync`` setting)."""
    from .tiledb_store import TileDBStore
    if create:
        return TileDBStore.create(uri, read_only=read_only, durable=durable)
    if not TileDBStore.exists(uri):
        raise StoreNotFoundError(uri)
    return TileDBStore(uri, read_only=read_only, durable=durable)


__all__ = ["DEFAULT_STORE", "DIGEST_ALGORITHM", "Digest", "IncomingObject", "Meta", "ObjectBatch", "ObjectInfo",
           "ObjectStore", "TileDBStore", "Value", "check_dtype_supported", "decode_value", "digest_hasher",
           "digest_of", "digests_to_raw", "is_uri", "ndarray_meta", "open_store", "parse_meta", "raw_to_digest",
           "raws_to_digests", "remove_store", "resolve_store", "same_store", "store_exists", "store_setting",
           "verify", "verify_batch"]
