"""Reading ahead for training datasets over streaming checkouts.

A dataset knows the order its batches will be asked for only from its sampler:

* ``make_numpy_dataset`` draws its own order, so each epoch plans every batch ahead;
* a DataLoader asks through its sampler in the main process while workers read.
  :class:`OrderSampler` (``ds.sampler(shuffle=True, seed=...)``) draws each epoch's
  permutation from ``(seed, epoch)``; a worker that receives a batch finds where it sits
  in that permutation (or in the identity, for an unshuffled loader) and reads ahead
  the batches that will come to it (every ``num_workers``-th one). A batch that does not
  fit the plan only means the next read is not ahead of time.
"""
from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional, Sequence

import numpy as np

from ..storage import raws_to_digests
from .column_reads import int_index, recorded_digest, session_of

if TYPE_CHECKING:
    from .columns import Column
    from .dataset import ColumnGroup
    from .streamstore import StreamingStore


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The permutation of ``range(n)`` an :class:`OrderSampler` yields in ``epoch``."""
    return np.random.default_rng([seed, epoch]).permutation(n)


class OrderSampler:
    """A sampler (for ``DataLoader(ds, sampler=...)``) whose orders workers can foresee."""

    def __init__(self, group: "ColumnGroup", shuffle: bool = True, seed: Optional[int] = None) -> None:
        self.group, self.shuffle = group, shuffle
        self.seed = secrets.randbits(63) if seed is None else int(seed)
        self.epoch = 0
        group.order_seed = self.seed if shuffle else None
        group.order_epoch = 0
        self._led = 0
        if _streaming(group):  # the first epoch's first samples, while the DataLoader is made and forks
            lead_epoch(group, self._order(0))

    def __len__(self) -> int:
        return len(self.group)

    def _order(self, epoch: int) -> np.ndarray:
        return epoch_order(len(self.group), self.seed, epoch) if self.shuffle else np.arange(len(self.group))

    def __iter__(self) -> Iterator[int]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        self.group.order_epoch = epoch
        order = self._order(epoch)
        if self._led != epoch:  # the first epoch was led as the sampler was made
            lead_epoch(self.group, order)
        self._led = -1
        return iter(order.tolist())

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter`` draw ``epoch``'s order (as DistributedSampler)."""
        self.epoch = epoch


def _streaming(group: "ColumnGroup") -> list[tuple["StreamingStore", list[int]]]:
    """Each streaming store among the group's columns, with the positions of its columns."""
    from .streamstore import StreamingStore
    out: dict[int, tuple[StreamingStore, list[int]]] = {}
    for j, col in enumerate(group.columns):
        store = session_of(col).store
        if isinstance(store, StreamingStore):
            out.setdefault(id(store), (store, []))[1].append(j)
    return list(out.values())


class _DigestsByIndex:
    """Per column, the hex digests of the group's keys at given indices, looked up per batch (a
    DataLoader worker's first batch never waits for a table of every key's digest)."""

    def __init__(self, group: "ColumnGroup") -> None:
        self.group = group
        self._at: list[Optional[tuple[np.ndarray, np.ndarray]]] = [_positions(c, group.keys) for c in group.columns]

    def __call__(self, j: int, indices: np.ndarray) -> list[str]:
        found = self._at[j]
        if found is not None:
            at, raws = found
            return list(raws_to_digests(raws[at[indices]]))
        keys = self.group.keys
        col = self.group.columns[j]  # this process's (a forked worker inherits the positions, not the columns)
        return [d for i in indices.tolist() if (d := recorded_digest(col, keys[i])) is not None]


def _positions(col: "Column", keys: Sequence[Any]) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """(position of each key in the column's sorted int index, the index's raw digests), or None
    where the keys or the column are not all ints."""
    if not keys or not all(type(k) is int for k in keys):
        return None
    index = int_index(col)
    if index is None or not len(index[0]):
        return None
    sorted_keys, raws = index
    return np.minimum(np.searchsorted(sorted_keys, np.array(keys, dtype=np.int64)), len(sorted_keys) - 1), raws


def _lookup(group: "ColumnGroup") -> _DigestsByIndex:
    """The group's digest lookup in this process (made once)."""
    lookup = group.__dict__.get("_digests")
    if lookup is None:
        lookup = group.__dict__["_digests"] = _DigestsByIndex(group)
    return lookup


def _plan(group: "ColumnGroup", batches: Iterable[np.ndarray], lazy: bool = False) -> None:
    """Tell each streaming store the digests of these batches (index arrays), in order; the
    digests of each batch are looked up as the read-ahead thread comes to it (``lazy``: started
    once a read finds something outside the memory cache)."""
    streaming = _streaming(group)
    if not streaming:
        return
    lookup = _lookup(group)
    for store, cols in streaming:
        store.hint_sizes(_object_bytes(group.columns, cols))
        store.plan(_batch_digests(lookup, cols, batches), lazy=lazy)


def _batch_digests(lookup: _DigestsByIndex, cols: list[int], batches: Iterable[np.ndarray]) -> Iterator[list[str]]:
    for batch in batches:
        yield [d for j in cols for d in lookup(j, batch)]


def _object_bytes(columns: list["Column"], cols: list[int]) -> Optional[int]:
    """Bytes of each stored object of these columns when their schema fixes it (fixed-shape
    arrays), else None."""
    from .columns import NdarrayColumn
    sizes = []
    for j in cols:
        col = columns[j]
        if not isinstance(col, NdarrayColumn) or col.schema.variable_shape:
            return None
        sizes.append(int(np.prod(col.shape)) * np.dtype(col.dtype).itemsize)
    return max(sum(sizes) // len(sizes), 1) if sizes else None


def lead_epoch(group: "ColumnGroup", order: np.ndarray) -> None:
    """The sampler's process, at an epoch's start (epoch 0: when the sampler is made): fetch the
    epoch's first samples into the shared directory cache while the workers start (see
    :meth:`StreamingStore.lead`), after taking in the cache's index, which workers forked from
    now on inherit instead of reading every index file before their first batch."""
    streaming = _streaming(group)
    if not streaming:
        return
    lookup = _lookup(group)
    for store, cols in streaming:
        if store.disk is not None:
            store.disk.refresh()
        store.hint_sizes(_object_bytes(group.columns, cols))
        first = np.asarray(order[:store.lead_count()], dtype=np.int64)
        store.lead([d for j in cols for d in lookup(j, first)])


def plan_epoch(group: "ColumnGroup", order: Sequence[int], batch_size: int) -> None:
    """``make_numpy_dataset``: the whole epoch's batches, in ``order``, fetched ahead."""
    if _streaming(group):
        at = np.asarray(order, dtype=np.int64)
        _plan(group, (at[lo:lo + batch_size] for lo in range(0, len(at), batch_size)))


def batch_asked(group: "ColumnGroup", indices: Sequence[int]) -> None:
    """A DataLoader asked this process for ``indices``: follow, or find, the sampler's order."""
    state = group.__dict__.get("_ahead")
    if state is None:
        state = group.__dict__["_ahead"] = _WorkerOrder(group)
    state.asked(indices)


class _WorkerOrder:
    """Where this process's batches are in the epoch's order, and the plan that follows them."""

    def __init__(self, group: "ColumnGroup") -> None:
        self.group = group
        self.enabled = bool(_streaming(group))
        self.order: Optional[np.ndarray] = None
        self.next_at = -1
        self.stride = 0
        self.epoch = -1
        self.size = 0
        self.deferred = False
        """A worker's first plan waits for its second batch: the plan opens the worker's connection,
        whose key exchange would hold the worker's interpreter while its first batch is handed over."""

    def asked(self, indices: Sequence[int]) -> None:
        if not self.enabled or not len(indices):
            return
        got = np.asarray(indices, dtype=np.int64)
        if self.order is not None and self._fits(self.order, self.next_at, got):
            self.next_at += self.stride
        else:
            self.order = None
            for epoch, order in self._candidates():
                at = int(np.flatnonzero(order == got[0])[0]) if 0 <= got[0] < len(order) else -1
                if at >= 0 and at % len(got) == 0 and self._fits(order, at, got):
                    self._follow(order, epoch, at, len(got))
                    return
        if self.deferred and self.order is not None:
            self.deferred = False
            self._plan()

    @staticmethod
    def _fits(order: np.ndarray, at: int, got: np.ndarray) -> bool:
        return 0 <= at and np.array_equal(order[at:at + len(got)], got)

    def _candidates(self) -> Iterator[tuple[int, np.ndarray]]:
        n = len(self.group)
        seed = getattr(self.group, "order_seed", None)
        if seed is None:
            yield -1, np.arange(n)
            return
        start = getattr(self.group, "order_epoch", 0)
        for epoch in dict.fromkeys([self.epoch + 1, start, start + 1, start + 2, self.epoch + 2, 0]):
            if epoch >= 0:
                yield epoch, epoch_order(n, seed, epoch)

    def _follow(self, order: np.ndarray, epoch: int, at: int, size: int) -> None:
        from torch.utils.data import get_worker_info  # only DataLoaders call batch_asked
        info = get_worker_info()
        self.stride = size * (info.num_workers if info is not None else 1)
        first = self.epoch < 0
        self.order, self.epoch, self.next_at, self.size = order, epoch, at + self.stride, size
        self.deferred = first and info is not None
        if not self.deferred:
            self._plan()

    def _plan(self) -> None:
        """Read ahead the batches that will come to this process, from the next one on."""
        order, size = self.order, self.size
        assert order is not None
        _plan(self.group, (order[lo:lo + size] for lo in range(self.next_at, len(order), self.stride)), lazy=True)
