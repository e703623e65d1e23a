"""Columns: typed, keyed collections of samples inside a checkout."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional, Union

import numpy as np

from ..bookkeeping.records import ColumnSchema, check_key, decode_key, encode_key
from ..bookkeeping.snapshot import ColumnRecords
from ..errors import (IntegrityError, MissingDataError, PermissionDeniedError, SampleNotFoundError,
                      SchemaError)
from ..storage import Digest, Meta, digests_to_raw, ndarray_meta, parse_meta, raw_to_digest

if TYPE_CHECKING:
    from .checkout import Checkout

Key = Union[str, int]
_MISSING = object()
_BATCH = 4096
_GATHER_BYTES = 32 << 20
"""The most bytes of fixed-shape rows gathered into one block at a time."""


def _enc(key: object) -> str:
    """Encoded form of a valid key (fast path for plain ints)."""
    if type(key) is int and -(1 << 63) <= key < (1 << 63):  # type: ignore[operator]
        return f"i{key}"
    return encode_key(check_key(key))


class Column:
    """A column of a checkout. Subclasses fix how values are encoded."""

    column_type = ""

    def __init__(self, checkout: "Checkout", name: str, schema: ColumnSchema,
                 records: Optional[ColumnRecords]) -> None:
        self._co = checkout
        self._name = name
        self._schema = schema
        self._recs: Optional[ColumnRecords] = None
        self._records = records
        self._changes: dict[str, Optional[str]] = {}
        self._count = records.count if records else 0
        self._batching = 0

    @property
    def _records(self) -> Optional[ColumnRecords]:
        return self._recs

    @_records.setter
    def _records(self, records: Optional[ColumnRecords]) -> None:
        """Adopt a column's records; each shard read warms the store's lookups."""
        self._recs = records
        if records is not None:
            records.on_load = lambda shard: self._co._store.warm(shard.values())

    # -- description ----------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def column_layout(self) -> str:
        return self._schema.column_layout

    @property
    def schema_type(self) -> str:
        return self._schema.schema_type

    @property
    def iswriteable(self) -> bool:
        return self._co.is_writer and not self._co.closed

    @property
    def schema(self) -> ColumnSchema:
        return self._schema

    @property
    def dtype(self) -> Any:
        return str if self.column_type == "str" else bytes

    @property
    def shape(self) -> Optional[tuple[int, ...]]:
        return None

    def __repr__(self) -> str:
        cls = "FlatSampleWriter" if self.iswriteable else "FlatSampleReader"
        rows = [("Column Name", self._name), ("Writeable", self.iswriteable),
                ("Column Type", self.column_type), ("Column Layout", self.column_layout),
                ("Schema Type", self.schema_type), ("DType", self._dtype_text()),
                ("Shape", self.shape), ("Number of Samples", len(self)),
                ("Partial Remote References", self.contains_remote_references)]
        return f"Hangar {cls}\n" + "".join(f"    {k:<26}: {v}\n" for k, v in rows)

    def _dtype_text(self) -> str:
        return str(self.dtype)

    # -- value encoding (subclasses) --------------------------------------------
    def _encode(self, value: Any) -> tuple[Meta, Any]:
        """A value's meta and bytes (a buffer), checked against the column's schema."""
        raise NotImplementedError

    def _decode(self, meta: str, data: memoryview) -> Any:
        raise NotImplementedError

    def _missing(self, key: Key, digest: str) -> MissingDataError:
        """The error for a sample whose data is elsewhere, naming the command that fetches it."""
        remotes = [k[len("hangar-remote."):-len(".url")]
                   for k in self._co._ctx.git.config_items("hangar-remote.") if k.endswith(".url")]
        remote = "origin" if "origin" in remotes else (remotes[0] if remotes else "REMOTE")
        branch = getattr(self._co, "branch_name", "")
        commit = getattr(self._co, "commit_hash", "")
        where = branch or (f"--commit {commit}" if commit else "BRANCH")
        return MissingDataError(self._name, key, digest, remote=remote, where=where)

    # -- lookups ---------------------------------------------------------------
    def _digest(self, enc: str) -> Optional[str]:
        digest = self._changes.get(enc, _MISSING)
        if digest is _MISSING:
            return self._records.get(enc) if self._records is not None else None
        return digest  # type: ignore[return-value]

    def _load(self, key: Key, digest: str) -> Any:
        try:
            meta, data = self._co._store.read(Digest(digest))
        except KeyError:
            raise self._missing(key, digest) from None
        except IntegrityError as exc:
            raise self._damaged(key, digest, exc) from exc
        return self._decode(meta, data)

    def _damaged(self, key: Key, digest: str, exc: IntegrityError) -> IntegrityError:
        return IntegrityError(f"sample {key!r} of column {self._name!r} (object {digest}) cannot be "
                              f"read: {exc}", expected=digest)

    def __getitem__(self, key: Key) -> Any:
        co = self._co
        if co.closed:
            co._check_open()
        enc = f"i{key}" if type(key) is int else _enc(key)
        recs = self._recs
        digest = recs._known.get(enc) if recs is not None and not self._changes else None
        if digest is None:
            digest = self._digest(enc)
            if digest is None:
                _enc(key)  # an out-of-range int is an invalid key, not an absent one
                raise SampleNotFoundError(self._name, key)
        try:
            meta, data = co._store.read(digest)  # type: ignore[arg-type]
        except KeyError:
            raise self._missing(key, digest) from None
        except IntegrityError as exc:
            raise self._damaged(key, digest, exc) from exc
        return self._decode(meta, data)

    def get(self, key: Key, default: Any = None) -> Any:
        """The sample at ``key``, or ``default`` if there is none (data must be local)."""
        try:
            return self[key]
        except SampleNotFoundError:
            return default

    def __contains__(self, key: object) -> bool:
        try:
            return self._digest(_enc(key)) is not None
        except Exception:  # invalid keys are simply not present
            return False

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Key]:
        return self.keys()

    def keys(self, local: bool = False) -> Iterator[Key]:
        """Sample keys (``local=True``: only those whose data is on this machine)."""
        if not local:
            for encs, _ in self._record_batches():
                yield from map(decode_key, encs)
            return
        for encs, digests, missing in self._batches_with_missing():
            for enc, digest in zip(encs, digests):
                if digest not in missing:
                    yield decode_key(enc)

    def _record_batches(self) -> Iterator[tuple[list[str], list[str]]]:
        """(encoded keys, digests) in batches, staged changes applied."""
        self._co._check_open()
        changes = self._changes
        if self._records is not None:
            for encs, digests in self._records.shard_lists():
                if changes:
                    pairs = [(e, d) for e, d in zip(encs, digests) if e not in changes]
                    encs, digests = [e for e, _ in pairs], [d for _, d in pairs]
                if encs:
                    yield encs, digests
        staged = [(e, d) for e, d in changes.items() if d is not None]
        if staged:
            yield [e for e, _ in staged], [d for _, d in staged]

    def _large_batches(self, size: int = 8 * _BATCH) -> Iterator[tuple[list[str], list[str]]]:
        """Like :meth:`_record_batches`, merging small shards into batches of ~``size``."""
        return _merged(self._record_batches(), size, lambda parts: [d for part in parts for d in part])

    def _batches_with_missing(self) -> Iterator[tuple[list[str], list[str], set[str]]]:
        """Records in batches (staged changes applied), each with its digests whose data is not here."""
        store = self._co._store
        for encs, digests in self._large_batches(_BATCH):
            yield encs, digests, set(store.missing(digests))  # type: ignore[arg-type]

    def items(self, local: bool = False) -> Iterator[tuple[Key, Any]]:
        """(key, value) pairs, reading storage in large batches."""
        store = self._co._store
        for encs, digests, missing in self._batches_with_missing():
            if missing and not local:
                i = next(i for i, d in enumerate(digests) if d in missing)
                raise self._missing(decode_key(encs[i]), digests[i])
            present = [(e, d) for e, d in zip(encs, digests) if d not in missing]
            for (enc, _), (_, meta, data) in zip(present, store.read_many([Digest(d) for _, d in present])):
                yield decode_key(enc), self._decode(meta, data)

    def values(self, local: bool = False) -> Iterator[Any]:
        for _, value in self.items(local=local):
            yield value

    # -- partial data -----------------------------------------------------------
    @property
    def remote_reference_keys(self) -> tuple[Key, ...]:
        """Keys recorded here whose data is not on this machine."""
        if self._is_known_complete():
            return ()
        out: list[Key] = []
        for encs, digests, missing in self._batches_with_missing():
            out.extend(decode_key(e) for e, d in zip(encs, digests) if d in missing)
        if not out:
            self._note_complete()
        return tuple(out)

    @property
    def contains_remote_references(self) -> bool:
        """True when some samples' data has not been fetched to this machine."""
        if self._is_known_complete():
            return False
        if any(missing for _, _, missing in self._batches_with_missing()):
            return True
        self._note_complete()
        return False

    def _note_complete(self) -> None:
        """Remember that every sample of these committed records is local."""
        if self._records is not None and not self._changes:
            self._co._ctx.presence.mark_complete(self._records.tree)

    def _is_known_complete(self) -> bool:
        if self._records is None:
            return not any(d is not None and not self._co._store.contains(Digest(d))
                           for d in self._changes.values())
        return (self._co._ctx.presence.is_complete(self._records.tree)
                and all(d is None or self._co._store.contains(Digest(d)) for d in self._changes.values()))

    # -- writes -------------------------------------------------------------------
    def _check_writable(self) -> None:
        if not self._co.is_writer:
            raise PermissionDeniedError(
                f"column {self._name!r} is read-only: open repo.checkout(write=True) to change it")
        self._co._check_open()

    def _stage(self, enc: str, digest: Optional[str]) -> None:
        changes = self._changes
        before = changes.get(enc, _MISSING)
        if before is _MISSING:
            before = self._records.get(enc) if self._records is not None else None
        changes[enc] = digest
        if before is None and digest is not None:
            self._count += 1
        elif before is not None and digest is None:
            self._count -= 1
        self._co._mark_dirty(self)

    def __setitem__(self, key: Key, value: Any) -> None:
        self._check_writable()
        enc = _enc(key)
        meta, data = self._encode(value)
        self._stage(enc, self._co._store.put_new(meta, data))  # hashed by the store

    def append(self, value: Any) -> str:
        """Add a sample under a new random key, which is returned."""
        key = uuid.uuid4().hex[:20]
        self[key] = value
        return key

    def update(self, other: Union[dict, Iterable[tuple[Key, Any]]] = (), **kwargs: Any) -> None:
        """Set many samples (from a mapping, pairs or keyword arguments)."""
        items = other.items() if isinstance(other, dict) else other
        for key, value in items:
            self[key] = value
        for key, value in kwargs.items():
            self[key] = value

    def __delitem__(self, key: Key) -> None:
        self._check_writable()
        enc = _enc(key)
        if self._digest(enc) is None:
            raise SampleNotFoundError(self._name, key)
        self._stage(enc, None)

    def pop(self, key: Key) -> Any:
        """Remove a sample and return its value."""
        value = self[key]
        del self[key]
        return value

    # -- batching context ---------------------------------------------------------
    def __enter__(self) -> "Column":
        self._batching += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._batching -= 1
        if self._batching == 0 and self._co.is_writer and not self._co.closed:
            self._co._store.flush()


class NdarrayColumn(Column):
    """Arrays of one dtype; fixed shape, or any shape up to a maximum."""

    column_type = "ndarray"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self._schema
        self._np_dtype = np.dtype(s.dtype)
        self._np_shape = tuple(s.shape or ())
        self._variable = s.variable_shape
        self._meta = ndarray_meta(self._np_dtype, self._np_shape)
        self._nbytes = int(np.prod(self._np_shape, dtype=np.int64)) * self._np_dtype.itemsize
        self._raw_view = self._np_dtype.kind in "mM"  # no buffer protocol for datetimes

    @property
    def dtype(self) -> np.dtype:
        return self._np_dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self._np_shape

    def _dtype_text(self) -> str:
        return str(self._np_dtype)

    def _encode(self, value: Any) -> tuple[Meta, Any]:
        if type(value) is not np.ndarray:
            if not isinstance(value, np.ndarray):
                raise SchemaError(
                    f"column {self._name!r} holds numpy arrays; got {type(value).__name__}",
                    expected="numpy.ndarray", given=type(value).__name__)
        if value.dtype != self._np_dtype:
            raise SchemaError(
                f"column {self._name!r} expects dtype {self._np_dtype}, got {value.dtype}",
                expected=str(self._np_dtype), given=str(value.dtype))
        if value.shape != self._np_shape:
            if not self._variable:
                raise SchemaError(
                    f"column {self._name!r} expects shape {self._np_shape}, got {value.shape}",
                    expected=self._np_shape, given=value.shape)
            return self._encode_variable(value)
        if not value.flags.c_contiguous:
            value = np.ascontiguousarray(value)
        if self._raw_view or not self._nbytes:  # no buffer protocol / a view with a zero in its shape
            value = value.reshape(-1).view(np.uint8)
        return self._meta, value

    def _encode_variable(self, value: np.ndarray) -> tuple[Meta, Any]:
        if value.ndim != len(self._np_shape) or any(g > m for g, m in zip(value.shape, self._np_shape)):
            raise SchemaError(
                f"column {self._name!r} takes arrays of {len(self._np_shape)} dimensions up to "
                f"{self._np_shape}, got shape {value.shape}",
                expected=self._np_shape, given=value.shape)
        value = np.ascontiguousarray(value)
        return ndarray_meta(self._np_dtype, value.shape), value.reshape(-1).view(np.uint8)

    def items(self, local: bool = False) -> Iterator[tuple[Key, Any]]:
        """(key, array) pairs; fixed-shape columns gather whole chunks at once."""
        if not self._gatherable:
            yield from super().items(local=local)
            return
        for keys, values, found in self._gathered(local):
            if found is None:
                yield from zip(keys, values)
            else:
                for i in np.flatnonzero(found).tolist():
                    yield keys[i], values[i]

    def values(self, local: bool = False) -> Iterator[Any]:
        """Every array of the column (no keys: the fastest full scan)."""
        if not self._gatherable:
            yield from super().values(local=local)
            return
        for _, values, found in self._gathered(local):
            yield from (values if found is None else values[found])

    @property
    def _gatherable(self) -> bool:
        return not self._variable and self._nbytes > 0

    def _gathered(self, local: bool) -> Iterator[tuple[list[Key], np.ndarray, Optional[np.ndarray]]]:
        """(keys, arrays as one block of at most ``_GATHER_BYTES``, found-mask or None when all
        were found); what the store's ``gather`` does not serve is read singly."""
        step = max(1, _GATHER_BYTES // self._nbytes)
        for batch_keys, batch_raws in self._raw_batches():
            for lo in range(0, len(batch_keys), step):
                yield self._gather_block(batch_keys[lo:lo + step], batch_raws[lo:lo + step], local)

    def _gather_block(self, keys: list[Key], raws: np.ndarray,
                      local: bool) -> tuple[list[Key], np.ndarray, Optional[np.ndarray]]:
        store = self._co._store
        rows, found = store.gather(raws, self._nbytes)
        values = rows.view(self._np_dtype).reshape((len(keys),) + self._np_shape)
        for i in np.flatnonzero(~found).tolist():
            digest = raw_to_digest(raws[i])
            try:
                meta, data = store.read(digest)
            except KeyError:
                if local:
                    continue
                raise self._missing(keys[i], digest) from None
            values[i] = self._decode(meta, data)
            found[i] = True
        return keys, values, (None if found.all() else found)

    def _raw_batches(self, size: int = 8 * _BATCH) -> Iterator[tuple[list[Key], np.ndarray]]:
        """(keys, raw digests) in batches of about ``size``, staged changes applied.

        Without staged changes the records come from the binary record cache,
        skipping the parsing of shard text and of hex digests.
        """
        self._co._check_open()
        if self._changes or self._records is None:
            for encs, digests in self._large_batches(size):
                yield [decode_key(e) for e in encs], digests_to_raw(digests)
            return
        yield from _merged(((b.keys, b.digests) for b in self._records.shard_blocks()), size, np.concatenate)

    def _decode(self, meta: str, data: memoryview) -> np.ndarray:
        if meta == self._meta:  # one constructor over the cached bytes, then a private copy
            return np.ndarray(self._np_shape, self._np_dtype, data).copy()
        _, dtype, shape = parse_meta(meta)
        return np.ndarray(shape, dtype, data).copy()


class StrColumn(Column):
    """Text samples."""

    column_type = "str"

    def _encode(self, value: Any) -> tuple[Meta, Any]:
        if not isinstance(value, str):
            raise SchemaError(f"column {self._name!r} holds str values; got {type(value).__name__}",
                              expected="str", given=type(value).__name__)
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            raise SchemaError(f"column {self._name!r} takes text that UTF-8 can encode; this str "
                              f"holds a lone surrogate", expected="valid Unicode text", given=repr(value)[:80]) from None
        return Meta("str"), data

    def _decode(self, meta: str, data: memoryview) -> str:
        return bytes(data).decode("utf-8")


class BytesColumn(Column):
    """Raw byte samples."""

    column_type = "bytes"

    def _encode(self, value: Any) -> tuple[Meta, Any]:
        if not isinstance(value, (bytes, bytearray)):
            raise SchemaError(f"column {self._name!r} holds bytes values; got {type(value).__name__}",
                              expected="bytes", given=type(value).__name__)
        data = bytes(value)
        return Meta("bytes"), data

    def _decode(self, meta: str, data: memoryview) -> bytes:
        return bytes(data)


COLUMN_CLASSES = {"ndarray": NdarrayColumn, "str": StrColumn, "bytes": BytesColumn}


def _merged(parts: Iterable[tuple[list[Any], Any]], size: int,
            join: Callable[[list[Any]], Any]) -> Iterator[tuple[list[Any], Any]]:
    """(keys, values) parts merged into batches of about ``size`` keys; ``join`` merges values."""
    keys: list[Any] = []
    values: list[Any] = []
    for k, v in parts:
        keys += k
        values.append(v)
        if len(keys) >= size:
            yield keys, join(values)
            keys, values = [], []
    if keys:
        yield keys, join(values)


def make_column(checkout: "Checkout", name: str, schema: ColumnSchema,
                records: Optional[ColumnRecords]) -> Column:
    return COLUMN_CLASSES[schema.column_type](checkout, name, schema, records)
