"""Storage layer: the content-addressed store of sample data.

Every name loads on first use, with the submodule that defines it: a process
that never touches sample data (``git hangar status``, ``log``, ``branch``;
``git hangar serve`` answering ``list_refs``) imports neither numpy, blake3,
blosc2 nor TileDB.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ..errors import StoreNotFoundError

if TYPE_CHECKING:
    from .base import ObjectInfo, ObjectStore
    from .incoming import IncomingObject
    from .location import (DEFAULT_STORE, is_uri, remove_store, resolve_store, same_store, store_exists,
                           store_setting)
    from .identity import DIGEST_ALGORITHM, Digest
    from .objects import (Meta, ObjectBatch, Value, check_dtype_supported,
                          decode_value, digest_hasher, digest_of, digests_to_raw, ndarray_meta, parse_meta,
                          raw_to_digest, raws_to_digests, verify, verify_batch)
    from .tiledb_store import TileDBStore

_HOMES = {"base": ("ObjectInfo", "ObjectStore"), "identity": ("DIGEST_ALGORITHM", "Digest"),
          "incoming": ("IncomingObject",),
          "location": ("DEFAULT_STORE", "is_uri", "remove_store", "resolve_store", "same_store", "store_exists",
                       "store_setting"),
          "objects": ("Meta", "ObjectBatch", "Value", "check_dtype_supported",
                      "decode_value", "digest_hasher", "digest_of", "digests_to_raw", "ndarray_meta",
                      "parse_meta", "raw_to_digest", "raws_to_digests", "verify", "verify_batch"),
          "tiledb_store": ("TileDBStore",)}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    """Load the submodule that defines ``name`` on first use (numpy, blake3 and TileDB with it)."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


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
