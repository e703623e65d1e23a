"""Storage layer: the content-addressed store of sample data."""
from ..errors import StoreNotFoundError
from .base import ObjectInfo, ObjectStore
from .incoming import IncomingObject
from .location import DEFAULT_STORE, is_uri, remove_store, resolve_store, same_store, store_exists, store_setting
from .objects import (DIGEST_ALGORITHM, Digest, Meta, ObjectBatch, Value, check_dtype_supported, decode_value,
                      digest_hasher, digest_of, digests_to_raw, ndarray_meta, parse_meta, raw_to_digest,
                      raws_to_digests, verify, verify_batch)
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


__all__ = ["DEFAULT_STORE", "DIGEST_ALGORITHM", "Digest", "IncomingObject", "Meta", "ObjectBatch", "ObjectInfo",
           "ObjectStore", "TileDBStore", "Value", "check_dtype_supported", "decode_value", "digest_hasher",
           "digest_of", "digests_to_raw", "is_uri", "ndarray_meta", "open_store", "parse_meta", "raw_to_digest",
           "raws_to_digests", "remove_store", "resolve_store", "same_store", "store_exists", "store_setting",
           "verify", "verify_batch"]
