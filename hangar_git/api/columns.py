"""Columns: typed, keyed collections of samples inside a checkout.

Reads live in :mod:`.column_reads`, writes in :mod:`.column_writes`; this
module fixes how each kind of value is encoded, and gathers fixed-shape arrays.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence

import numpy as np

from ..bookkeeping.records import ColumnSchema, decode_key
from ..bookkeeping.snapshot import ColumnRecords
from ..errors import IntegrityError, InvalidKeyError, SchemaError
from ..storage import Meta, digests_to_raw, ndarray_meta, parse_meta, raw_to_digest
from .column_reads import Key
from .recordbatches import BATCH, State, large_batches, merged
from .column_writes import ColumnWrites

if TYPE_CHECKING:
    from .session import CheckoutSession

_GATHER_BYTES = 32 << 20
"""The most bytes of fixed-shape rows gathered into one block at a time."""
ROWS_BLOCK = 1 << 16
"""Rows :meth:`NdarrayColumn.put_rows` hashes, stores and stages at a time."""
ROWS_LARGE = 1 << 16
"""Rows of this many bytes or more go through :meth:`~.column_writes.ColumnWrites.put` one by one."""


class Column(ColumnWrites):
    """A column of a checkout. Subclasses fix how values are encoded."""


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
            if isinstance(value, np.generic):  # a numpy scalar (np.int64(3)): a 0-d array
                value = np.asarray(value)
            elif not isinstance(value, np.ndarray):
                raise SchemaError(
                    f"column {self._name!r} holds numpy arrays; got {type(value).__name__}: "
                    f"wrap it with np.asarray(value, dtype='{self._np_dtype}')",
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

    def put_rows(self, keys: Any, values: np.ndarray) -> int:
        """Stage ``values[i]`` at int key ``keys[i]`` for each ``i`` (keys must not repeat),
        hashed and stored a block of rows at a time: the fast path of a big import.
        Returns how many samples changed the staging area (as :meth:`put` counts them)."""
        self._check_writable(assignment=True)
        keys = np.asarray(keys)
        if keys.ndim != 1 or len(keys) != len(values) or (len(keys) and keys.dtype.kind not in "iu"):
            raise SchemaError(f"put_rows takes one int key per row: {len(keys)} key(s) for {len(values)} row(s)",
                              expected="a 1-D array of ints, one per row", given=keys.dtype)
        if (not isinstance(values, np.ndarray) or values.shape[1:] != self._np_shape
                or values.dtype != self._np_dtype or not self._gatherable or self._nbytes >= ROWS_LARGE):
            return sum(self._put(int(k), v) for k, v in zip(keys.tolist(), values))
        if len(keys) and (keys.min() < -(1 << 63) or keys.max() >= (1 << 63)):
            raise InvalidKeyError("keys of put_rows must fit in 64 bits")
        if not _distinct(keys):
            raise InvalidKeyError("put_rows was given a key twice: give each key once (or use update())")
        step = max(1, min(ROWS_BLOCK, _GATHER_BYTES // self._nbytes))
        return sum(self._put_block(keys[lo:lo + step].astype(np.int64), values[lo:lo + step])
                   for lo in range(0, len(keys), step))

    def _put_block(self, keys: np.ndarray, values: np.ndarray) -> int:
        rows = np.ascontiguousarray(values).view(np.uint8).reshape(len(keys), self._nbytes)
        raws = self._session.store.put_rows(self._meta, rows)
        order = np.argsort(keys, kind="stable")
        keys, raws = keys[order], raws[order]
        staged, gone, before = self._changes.lookup_ints(keys)
        held = staged & ~gone
        if self._records is not None and not staged.all():
            held |= self._recorded(keys, ~staged, before)
        changed = ~held | (before != raws)
        if not changed.any():
            return 0
        self._changes.add_ints(keys[changed], raws[changed], int((~staged & changed).sum()))
        self._count += int((~held & changed).sum())
        self._session.mark_dirty(self)
        return int(changed.sum())

    def _recorded(self, keys: np.ndarray, wanted: np.ndarray, before: np.ndarray) -> np.ndarray:
        """Which ``wanted`` keys the committed records hold (their digests into ``before``)."""
        held = np.zeros(len(keys), dtype=bool)
        assert self._records is not None
        index = self._records.int_index()
        if index is None:
            for i in np.flatnonzero(wanted).tolist():
                digest = self._records.get(f"i{int(keys[i])}", False)
                if digest is not None:
                    held[i], before[i] = True, digests_to_raw([digest])[0]
            return held
        recorded, raws = index
        if not len(recorded):
            return held
        at = np.minimum(np.searchsorted(recorded, keys), len(recorded) - 1)
        held = wanted & (recorded[at] == keys)
        before[held] = raws[at[held]]
        return held

    def _items(self, state: State, local: bool) -> Iterator[tuple[Key, Any]]:
        """(key, array) pairs; fixed-shape columns gather whole chunks at once."""
        if not self._gatherable:
            yield from super()._items(state, local)
            return
        for keys, values, found in self._gathered(state, local):
            if found is None:
                yield from zip(keys, values)
            else:
                for i in np.flatnonzero(found).tolist():
                    yield keys[i], values[i]

    def values(self, local: bool = False) -> Iterator[Any]:
        """Every array of the column (no keys: the fastest full scan)."""
        if not self._gatherable:
            return super().values(local=local)
        return self._values(self._state(), local)

    def _values(self, state: State, local: bool) -> Iterator[Any]:
        for _, values, found in self._gathered(state, local):
            yield from (values if found is None else values[found])

    def blocks(self, local: bool = False) -> Iterator[tuple[Sequence[Key], np.ndarray]]:
        """(keys, their arrays as one array of shape (len(keys), ...)) in storage order, up
        to 32 MB at a time: a full scan of a fixed-shape column without a Python object per
        sample (``local``: skip samples whose data is not here). Variable-shape columns have
        no common shape: a :class:`SchemaError`."""
        if self._variable:
            raise SchemaError(f"column {self._name!r} has variable-shape samples: read them with items()",
                              expected="a fixed-shape column", given="variable shape")
        if not self._gatherable:  # arrays with a zero in their shape: nothing to gather
            keys = list(self.keys(local=local))
            yield keys, np.zeros((len(keys),) + self._np_shape, self._np_dtype)
            return
        for keys, values, found in self._gathered(self._state(), local):
            if found is None:
                yield keys, values
            else:
                yield [keys[i] for i in np.flatnonzero(found).tolist()], values[found]

    @property
    def _gatherable(self) -> bool:
        return not self._variable and self._nbytes > 0

    def _gathered(self, state: State, local: bool) -> Iterator[tuple[list[Key], np.ndarray, Optional[np.ndarray]]]:
        """(keys, arrays as one block of at most ``_GATHER_BYTES``, found-mask or None when all
        were found); what the store's ``gather`` does not serve is read singly."""
        step = max(1, _GATHER_BYTES // self._nbytes)
        for batch_keys, batch_raws in self._session.store.read_ahead(_raw_batches(state), lambda batch: batch[1]):
            for lo in range(0, len(batch_keys), step):
                yield self._gather_block(batch_keys[lo:lo + step], batch_raws[lo:lo + step], local)

    def _gather_block(self, keys: list[Key], raws: np.ndarray,
                      local: bool) -> tuple[list[Key], np.ndarray, Optional[np.ndarray]]:
        store = self._session.store
        rows, found = store.gather(raws, self._nbytes)
        values = rows.view(self._np_dtype).reshape((len(keys),) + self._np_shape)
        for i in np.flatnonzero(~found).tolist():
            digest = raw_to_digest(raws[i])
            try:
                meta, data = store.read(digest)
            except KeyError:
                if local:
                    continue
                raise self._missing(int(keys[i]) if isinstance(keys, np.ndarray) else keys[i], digest) from None
            except IntegrityError as exc:
                raise self._damaged(int(keys[i]) if isinstance(keys, np.ndarray) else keys[i], digest, exc) from None
            values[i] = self._decode(meta, data)
            found[i] = True
        return keys, values, (None if found.all() else found)

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


def _raw_batches(state: State, size: int = 8 * BATCH) -> Iterator[tuple[list[Key], np.ndarray]]:
    """(keys, raw digests) of a state in batches of about ``size``, staged changes applied.

    Without staged changes the records come from the binary record cache,
    skipping the parsing of shard text and of hex digests.
    """
    records, changes = state
    if changes or records is None:
        for encs, digests in large_batches(state, size):
            yield [decode_key(e) for e in encs], digests_to_raw(digests)
        return
    yield from merged(((b.keys, b.digests) for b in records.shard_blocks()), size, np.concatenate)


COLUMN_CLASSES = {"ndarray": NdarrayColumn, "str": StrColumn, "bytes": BytesColumn}


def make_column(session: "CheckoutSession", name: str, schema: ColumnSchema,
                records: Optional[ColumnRecords]) -> Column:
    return COLUMN_CLASSES[schema.column_type](session, name, schema, records)


def gatherable(col: Column) -> bool:
    """True for a column of fixed-shape, non-empty arrays: rows can be gathered in blocks."""
    return isinstance(col, NdarrayColumn) and col._gatherable


def gather_rows(col: NdarrayColumn, keys: list[Key], raws: np.ndarray) -> np.ndarray:
    """The arrays of ``keys`` (raw digests ``raws``) as one block of rows."""
    return col._gather_block(keys, raws, local=False)[1]


def _distinct(keys: np.ndarray) -> bool:
    """Whether no int key repeats: at once when they ascend (rows keyed by index; np.unique
    took 12 ms a block of 65,536 keys, 0.2 s of a million-row import), else by sorting."""
    if len(keys) < 2 or bool((keys[1:] > keys[:-1]).all()):
        return True
    return len(np.unique(keys)) == len(keys)
