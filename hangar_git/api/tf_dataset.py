"""The TensorFlow face of a :class:`~.dataset.ColumnGroup` (imports tensorflow: optional extra).

As in Hangar 0.5, a ``tf.data.Dataset.from_generator`` over the columns: each
element is a tuple of one tensor per column. The generator reads the keys in
batches (one batched store read per ``READ_BATCH`` samples), in a new random
order on every pass when ``shuffle``.
"""
from __future__ import annotations

import random
from typing import Any, Iterator

import tensorflow as tf

from .columns import Column, NdarrayColumn
from .dataset import ColumnGroup

READ_BATCH = 256
"""Samples the generator reads from the store at a time."""


def _spec(col: Column) -> Any:
    """The ``tf.TensorSpec`` of one column's samples."""
    if isinstance(col, NdarrayColumn):
        shape = (None,) * len(col.shape) if col.schema.variable_shape else col.shape
        return tf.TensorSpec(shape=shape, dtype=tf.as_dtype(col.dtype))
    return tf.TensorSpec(shape=(), dtype=tf.string)  # str and bytes columns


def tf_dataset(group: ColumnGroup, shuffle: bool) -> Any:
    """A ``tf.data.Dataset`` of tuples (one value per column) of ``group``'s keys."""
    signature = tuple(_spec(col) for col in group.columns)

    def samples() -> Iterator[tuple]:
        order = list(range(len(group)))
        if shuffle:
            random.shuffle(order)
        for start in range(0, len(order), READ_BATCH):
            yield from (tuple(s) for s in group.samples(order[start:start + READ_BATCH]))

    return tf.data.Dataset.from_generator(samples, output_signature=signature)
