"""Storage layer: the content-addressed store of sample data."""
from .base import ObjectInfo, ObjectStore
from .incoming import IncomingObject
from .objects import (BLOCK_SIZE, Digest, Meta, ObjectBatch, Value, block_hashes, check_dtype_supported,
                      decode_value, digest_of, digests_to_raw, ndarray_meta, parse_meta, verify, verify_batch)
from .tiledb_store import TileDBStore


def open_store(uri: str, *, lock_path: str | None = None, read_only: bool = False,
               durable: bool = False) -> ObjectStore:
    """Open (creating if needed) the store at a TileDB VFS URI; ``durable`` fsyncs every
    large-object file (the repository's ``hangar.fsync`` setting)."""
    return TileDBStore.create(uri, lock_path=lock_path, read_only=read_only, durable=durable)


__all__ = ["BLOCK_SIZE", "Digest", "IncomingObject", "Meta", "ObjectBatch", "ObjectInfo", "ObjectStore",
           "TileDBStore", "Value", "block_hashes", "check_dtype_supported", "decode_value", "digest_of",
           "digests_to_raw", "ndarray_meta", "open_store", "parse_meta", "verify", "verify_batch"]
