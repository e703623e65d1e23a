"""Training datasets over columns of read checkouts, as Hangar 0.5 shipped them.

``make_torch_dataset`` gives a ``torch.utils.data.Dataset`` (Hangar's
signature); ``make_numpy_dataset`` gives shuffled batches of numpy arrays
without any framework. Both hold the names of their columns (repository,
commit, column), never open handles: pickled into a DataLoader worker, or
inherited by a forked one, a dataset opens its columns in that process on
first use (:mod:`.reopen`). Reads of several samples (a batch) go through
one batched store read per batch.
"""
from __future__ import annotations

import os
import random
from collections import namedtuple
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence, Union

import numpy as np

from ..errors import DatasetKeysError, InvalidArgumentError, NotPicklableError, SampleNotFoundError
from . import prefetch
from .column_reads import int_index, read_samples, session_of
from .columns import Column, NdarrayColumn, gather_rows, gatherable

if TYPE_CHECKING:
    from .torch_dataset import TorchDataset

_TYPES: dict[tuple[str, ...], type] = {}


def sample_type(fields: tuple[str, ...]) -> type:
    """The namedtuple type ``BatchTuple`` with ``fields``; its instances pickle by their
    field names, so DataLoader workers can send them back whatever the start method."""
    cls = _TYPES.get(fields)
    if cls is None:
        base = namedtuple("BatchTuple", fields, rename=True)  # type: ignore[misc]
        cls = _TYPES[fields] = type("BatchTuple", (base,), {
            "__slots__": (), "__module__": __name__,
            "__reduce__": lambda self: (_rebuild, (fields, tuple(self)))})
    return cls


def _rebuild(fields: tuple[str, ...], values: tuple) -> Any:
    return sample_type(fields)(*values)


class ColumnGroup:
    """Columns of read checkouts and the keys to read from all of them, by index."""

    def __init__(self, columns: Any, keys: Optional[Sequence[Any]] = None,
                 index_range: Optional[slice] = None, field_names: Optional[Sequence[str]] = None) -> None:
        cols = list(columns) if isinstance(columns, (list, tuple)) else [columns]
        if not cols:
            raise InvalidArgumentError("a dataset needs at least one column: pass co['name'] or a list of them")
        for col in cols:
            if not isinstance(col, Column):
                raise InvalidArgumentError(f"a dataset takes columns (co['name']), not {type(col).__name__}")
            session = session_of(col)
            if session.is_writer:
                raise NotPicklableError(
                    f"column {col.name!r} belongs to a write checkout: commit, then make the dataset "
                    f"from repo.checkout() (a read checkout), as in Hangar")
            session.check_open()
        self._columns: list[Column] = cols
        self._names = [c.__reduce__()[1] for c in cols]  # what reopens each (a streaming one with its options)
        self.order_seed: Optional[int] = None
        """Set by :class:`~.prefetch.OrderSampler`: how workers foresee the order (streaming reads ahead)."""
        self.order_epoch = 0
        self._pid = os.getpid()
        self.keys: list[Any] = _choose_keys(cols, keys, index_range)
        self._int_keys = (len(self.keys), _int_array(self.keys))
        if field_names is not None:
            if not isinstance(field_names, (list, tuple)) or len(field_names) != len(cols):
                raise InvalidArgumentError(
                    f"field_names takes one name per column ({len(cols)}), got {field_names!r}")
            fields = tuple(field_names)
        else:
            fields = tuple(c.name for c in cols)
        self.fields = fields
        self._type = sample_type(fields)

    @property
    def columns(self) -> list[Column]:
        """The columns, opened in this process (a forked child opens its own)."""
        if self._pid != os.getpid():
            from . import reopen
            self._columns = [reopen.column(*names) for names in self._names]
            self._pid = os.getpid()
        return self._columns

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        del state["_columns"], state["_type"]
        state.pop("_ahead", None)  # read-ahead state belongs to one process
        state.pop("_digests", None)
        state["_pid"] = -1  # reopen on first use in the receiving process
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._columns = []
        self._type = sample_type(self.fields)

    def __len__(self) -> int:
        return len(self.keys)

    def sample(self, index: int) -> Any:
        """One value per column for the key at ``index``."""
        key = self.keys[index]
        return self._type(*(col[key] for col in self.columns))

    def _keys_at(self, indices: Sequence[int]) -> Union[list[Any], np.ndarray]:
        """The keys at ``indices``: an ``int64`` array when every key is an int."""
        count, ints = self._int_keys
        if count != len(self.keys):  # keys added since: look again
            self._int_keys = count, ints = len(self.keys), _int_array(self.keys)
        if ints is not None:
            return ints[np.asarray(indices, dtype=np.int64)]
        return [self.keys[i] for i in indices]

    def samples(self, indices: Sequence[int]) -> list[Any]:
        """:meth:`sample` of several indices, read from the store in one batch."""
        columns = self._read(self._keys_at(indices))
        prefetch.batch_asked(self, indices)  # after this batch: the read-ahead never holds it up
        return list(map(self._type, *columns))

    def stacked(self, indices: Sequence[int]) -> tuple:
        """A batch: per column, fixed-shape arrays stacked into one array; other values
        (text, bytes, variable-shape arrays) in a list."""
        keys = self._keys_at(indices)
        out = []
        for col, values in zip(self.columns, self._read(keys)):
            fixed = isinstance(col, NdarrayColumn) and not col.schema.variable_shape
            out.append(values if isinstance(values, np.ndarray) or not fixed or not values else np.stack(values))
        return self._type(*out)

    def _read(self, keys: Union[list[Any], np.ndarray]) -> list[Any]:
        """Per column, the values of ``keys``: a block of rows where :func:`gathered` applies,
        else a list (the columns left over read in one batched store read)."""
        cols = self.columns
        out: list[Any] = [gathered(col, keys) for col in cols]
        rest = [j for j, values in enumerate(out) if values is None]
        if rest:
            if isinstance(keys, np.ndarray):
                keys = keys.tolist()
            values = read_samples([(cols[j], k) for j in rest for k in keys], except_missing=True)
            n = len(keys)
            for i, j in enumerate(rest):
                out[j] = values[i * n:(i + 1) * n]
        return out


def _int_array(keys: list[Any]) -> Optional[np.ndarray]:
    """``keys`` as an ``int64`` array when every one is an int, else None."""
    if not keys or not all(type(k) is int for k in keys):
        return None
    try:
        return np.array(keys, dtype=np.int64)
    except OverflowError:  # beyond int64: not keys a column holds, but kept as given
        return None


def gathered(col: Column, keys: Union[list[Any], np.ndarray]) -> Optional[np.ndarray]:
    """The fixed-shape arrays of int ``keys`` as one block of rows, found through the
    column's sorted key index and gathered from the store's chunks; None where this does
    not apply (other columns or keys, staged changes)."""
    if not gatherable(col):
        return None
    if not isinstance(keys, np.ndarray):
        if not keys or not all(type(k) is int and -(1 << 63) <= k < (1 << 63) for k in keys):
            return None
    elif not len(keys):
        return None
    index = int_index(col)
    if index is None:
        return None
    sorted_keys, digests = index
    wanted = np.array(keys, dtype=np.int64)
    at = np.clip(wanted - sorted_keys[0], 0, len(sorted_keys) - 1)  # dense keys (0..n-1): no search
    miss = np.flatnonzero(sorted_keys[at] != wanted)
    if len(miss):
        at[miss] = np.minimum(np.searchsorted(sorted_keys, wanted[miss]), len(sorted_keys) - 1)
    absent = np.flatnonzero(sorted_keys[at] != wanted)
    if len(absent):
        raise SampleNotFoundError(col.name, int(wanted[absent[0]]))
    return gather_rows(col, keys, digests[at])  # type: ignore[arg-type]


def _choose_keys(cols: list[Column], keys: Optional[Sequence[Any]], index_range: Optional[slice]) -> list[Any]:
    """``keys`` checked against every column, or the keys every column holds here (in the
    first column's order), sliced by ``index_range``."""
    if keys is not None:
        if not isinstance(keys, (list, tuple, set, frozenset)) or isinstance(keys, str):
            raise InvalidArgumentError(f"keys takes a list, tuple or set of sample keys, not {type(keys).__name__}")
        chosen = list(keys)
        missing = {c.name: [k for k in chosen if k not in c] for c in cols}
        missing = {name: ks for name, ks in missing.items() if ks}
        if missing:
            raise DatasetKeysError(missing)
    else:
        chosen = _local_keys(cols[0])
        for col in cols[1:]:
            held = set(_local_keys(col))
            chosen = [k for k in chosen if k in held]
    if index_range is not None:
        if not isinstance(index_range, slice):
            raise InvalidArgumentError(f"index_range takes a slice, e.g. slice(0, 1000), not {index_range!r}")
        chosen = chosen[index_range]
    if not chosen:
        raise InvalidArgumentError(_no_samples(cols))
    return chosen


def _no_samples(cols: list[Column]) -> str:
    """Why a dataset over ``cols`` would be empty, and what to do."""
    if not any(col.has_unreadable_samples for col in cols):
        return ("the dataset would hold no samples: its columns share no keys: "
                "choose columns whose samples have the same keys")
    partial = next(col for col in cols if col.has_unreadable_samples)
    return ("the dataset would hold no samples: its columns share no keys whose data is on this machine: "
            + partial.fetch_data_hint(them=True, stream=True))


def _local_keys(col: Column) -> list[Any]:
    """Keys of ``col`` whose data is on this machine: sorted, from the key index, where
    every key is an int; else in record order."""
    local = col.has_unreadable_samples
    if not local:
        index = int_index(col)
        if index is not None:
            return index[0].tolist()
    return list(col.keys(local=local))


class NumpyDataset:
    """Batches of numpy arrays (``make_numpy_dataset``): iterate it once per epoch."""

    def __init__(self, group: ColumnGroup, batch_size: Optional[int], drop_last: bool, shuffle: bool) -> None:
        if batch_size is not None and (type(batch_size) is not int or batch_size < 1):
            raise InvalidArgumentError(f"batch_size takes a positive int or None, not {batch_size!r}")
        if type(shuffle) is not bool or type(drop_last) is not bool:
            raise InvalidArgumentError("shuffle and drop_last take True or False")
        self.group = group
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.shuffle = shuffle

    @property
    def num_batches(self) -> int:
        """Batches per epoch (samples, without batching)."""
        if self.batch_size is None:
            return len(self.group)
        full, rest = divmod(len(self.group), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __len__(self) -> int:
        return len(self.group)

    def __iter__(self) -> Iterator[Any]:
        order = list(range(len(self.group)))
        if self.shuffle:
            random.shuffle(order)
        prefetch.plan_epoch(self.group, order, self.batch_size or 1)
        if self.batch_size is None:
            for i in order:
                yield self.group.sample(i)
            return
        size = self.batch_size
        for b in range(self.num_batches):
            yield self.group.stacked(order[b * size:(b + 1) * size])


def make_numpy_dataset(columns: Any, keys: Optional[Sequence[Any]] = None, batch_size: Optional[int] = 64,
                       drop_last: bool = False, shuffle: bool = True, *,
                       index_range: Optional[slice] = None,
                       field_names: Optional[Sequence[str]] = None) -> NumpyDataset:
    """Batches of ``batch_size`` samples of ``columns`` (a column of a read checkout or a
    list of them): each a ``BatchTuple`` with, per column, fixed-shape arrays stacked
    (``batch_size x shape``) and other values in a list. ``keys=None`` takes the keys all
    columns hold locally; ``shuffle`` reshuffles each epoch; ``batch_size=None`` yields
    single samples."""
    return NumpyDataset(ColumnGroup(columns, keys, index_range, field_names), batch_size, drop_last, shuffle)


def make_torch_dataset(columns: Any, keys: Optional[Sequence[Any]] = None, index_range: Optional[slice] = None,
                       field_names: Optional[Sequence[str]] = None) -> "TorchDataset":
    """A ``torch.utils.data.Dataset`` of ``columns`` (Hangar 0.5's signature): ``ds[i]`` is a
    ``BatchTuple`` (a namedtuple, fields named by ``field_names`` or the column names) of
    one value per column for the i-th key. Works with DataLoader workers under fork,
    forkserver and spawn; a batch of indices is read in one batched store read.
    Needs PyTorch: ``pip install 'hangar-git[torch]'``."""
    try:
        from .torch_dataset import TorchDataset
    except ImportError as exc:
        raise ImportError(f"make_torch_dataset needs PyTorch ({exc}): pip install 'hangar-git[torch]'") from exc
    return TorchDataset(ColumnGroup(columns, keys, index_range, field_names))


def make_tf_dataset(columns: Any, keys: Optional[Sequence[Any]] = None, index_range: Optional[slice] = None,
                    shuffle: bool = True) -> Any:
    """A ``tf.data.Dataset`` of ``columns`` (Hangar 0.5's signature): each element a tuple of
    one tensor per column (str and bytes columns as ``tf.string``; variable-shape columns
    with unknown dimensions), in a new random order on every pass when ``shuffle``; batch
    it with ``.batch(n)``. Samples are read in batches of 256 from the store. Needs
    TensorFlow: ``pip install 'hangar-git[tensorflow]'``."""
    if type(shuffle) is not bool:
        raise InvalidArgumentError(f"shuffle takes True or False, not {shuffle!r}")
    try:
        from .tf_dataset import tf_dataset
    except ImportError as exc:
        raise ImportError(f"make_tf_dataset needs TensorFlow ({exc}): pip install 'hangar-git[tensorflow]'") from exc
    return tf_dataset(ColumnGroup(columns, keys, index_range), shuffle)
