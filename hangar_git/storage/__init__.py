"""Storage layer: the content-addressed store of sample data."""
from ..errors import StoreNotFoundError
from .base import ObjectInfo, ObjectStore
from .incoming import IncomingObject
from .objects import (BLOCK_SIZE, Digest, Meta, ObjectBatch, Value, block_hashes, check_dtype_supported,
                      decode_value, digest_of, digests_to_raw, ndarray_meta, parse_meta, verify, verify_batch)
from .tiledb_store import TileDBStore


def open_store(uri: str, *, create: bool = False, read_only: bool = False,
               durable: bool = False) -> ObjectStore:
    """Open the store at a TileDB VFS URI (made first with ``create``; without it a missing
    store raises StoreNotFoundError); ``durable`` fsyncs every file it writes (the
    repository's ``hangar.fsync`` setting)."""
    if create:
        return TileDBStore.create(uri, read_only=read_only, durable=durable)
    if not TileDBStore.exists(uri):
        raise StoreNotFoundError(uri)
    return TileDBStore(uri, read_only=read_only, durable=durable)


__all__ = ["BLOCK_SIZE", "Digest", "IncomingObject", "Meta", "ObjectBatch", "ObjectInfo", "ObjectStore",
           "TileDBStore", "Value", "block_hashes", "check_dtype_supported", "decode_value", "digest_of",
           "digests_to_raw", "ndarray_meta", "open_store", "parse_meta", "verify", "verify_batch"]
