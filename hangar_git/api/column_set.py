"""``co.columns``: the columns of a checkout by name, and how new ones are described."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence, Union

import numpy as np

from ..bookkeeping.records import ColumnSchema
from ..errors import ColumnNotFoundError, InvalidArgumentError, SchemaError
from ..storage import check_dtype_supported
from .columns import Column

if TYPE_CHECKING:
    from .session import CheckoutSession


class Columns:
    """The columns of a checkout, by name (``co.columns``).

    ``with co.columns:`` batches writes to every column and leaves the checkout
    open (as in Hangar 0.5); what they wrote is in the staging area when the block ends.
    """

    def __init__(self, session: "CheckoutSession") -> None:
        self._session = session

    @property
    def _columns(self) -> dict[str, Column]:
        return self._session.columns

    def __getitem__(self, name: str) -> Column:
        self._session.check_open()
        try:
            return self._columns[name]
        except (KeyError, TypeError):
            raise ColumnNotFoundError(name, self._session.where(), sorted(self._columns)) from None

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self._columns.get(name, default)
        except TypeError:  # an unhashable name names no column
            return default

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._columns
        except TypeError:
            return False

    def __len__(self) -> int:
        return len(self._columns)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._columns))

    def keys(self) -> list[str]:
        return sorted(self._columns)

    def values(self) -> list[Column]:
        return [self._columns[k] for k in self.keys()]

    def items(self) -> list[tuple[str, Column]]:
        return [(k, self._columns[k]) for k in self.keys()]

    @property
    def iswriteable(self) -> bool:
        return self._session.writable

    @property
    def contains_remote_references(self) -> dict[str, bool]:
        """Column name -> whether it has samples whose data is not local."""
        return {name: col.contains_remote_references for name, col in self.items()}

    @property
    def remote_sample_keys(self) -> dict[str, tuple]:
        return {name: col.remote_reference_keys for name, col in self.items()}

    def __delitem__(self, name: str) -> None:
        self._session.delete_column(name)

    def delete(self, name: str) -> str:
        """Remove a column (and all its samples) from the staging area."""
        self._session.delete_column(name)
        return name

    def __enter__(self) -> "Columns":
        self._session.check_open()
        self._session.begin_batch()
        return self

    def __exit__(self, *exc: object) -> None:
        self._session.end_batch(exc[0])

    def __repr__(self) -> str:
        remote = self.contains_remote_references
        lines = [f"Hangar Columns\n    Writeable         : {self.iswriteable}\n",
                 f"    Number of Columns : {len(self)}\n",
                 "    Column Names / Partial Remote References:\n"]
        lines += [f"      - {name} / {remote[name]}\n" for name in self.keys()]
        return "".join(lines)


def ndarray_schema(name: str, shape: Union[int, Sequence[int], None], dtype: Any,
                   prototype: Optional[np.ndarray], variable_shape: bool) -> ColumnSchema:
    """The schema of a new ndarray column, from a prototype or a shape and dtype."""
    if prototype is not None:
        if not isinstance(prototype, np.ndarray):
            raise SchemaError("prototype must be a numpy array", expected="numpy.ndarray",
                              given=type(prototype).__name__)
        shape, dtype = prototype.shape, prototype.dtype
    if shape is None or dtype is None:
        raise SchemaError(f"column {name!r} needs a prototype array or both shape and dtype",
                          expected="prototype or shape+dtype", given=(shape, dtype))
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if any(s < 0 for s in shape) or len(shape) > 31:
        raise SchemaError(f"invalid shape {shape} for column {name!r}", expected="up to 31 dims >= 0",
                          given=shape)
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        raise SchemaError(f"invalid dtype {dtype!r}", expected="a numpy dtype", given=dtype) from None
    check_dtype_supported(np_dtype)
    return ColumnSchema("ndarray", dtype=np_dtype.str, shape=shape, variable_shape=bool(variable_shape))


def check_hangar_options(name: str, contains_subsamples: object, backend: object,
                         backend_options: object) -> None:
    """Hangar 0.5's extra column options: nested columns are refused; a backend is accepted
    (a Hangar backend code) and selects nothing, since every sample goes to the one store."""
    if contains_subsamples:
        raise InvalidArgumentError(
            f"column {name!r}: nested columns (contains_subsamples=True) are not supported; "
            f"use a flat column whose keys join the sample and subsample names, such as 'sample-subsample' "
            f"(a key cannot contain '/')")
    if backend is not None and not isinstance(backend, str):
        raise InvalidArgumentError(f"backend must be a str (a Hangar backend code) or None, "
                                   f"got {type(backend).__name__}")
    if backend_options is not None and not isinstance(backend_options, dict):
        raise InvalidArgumentError(f"backend_options must be a dict or None, "
                                   f"got {type(backend_options).__name__}")
