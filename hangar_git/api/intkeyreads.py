"""A column's single reads by int key: the hot path of a DataLoader worker's random access.

The key's row in the column's key index gives its raw digest; the row's record in
the column's locations file (:mod:`..storage.locations`) says where its bytes lie,
and they are sliced from the mapped data file and verified against the digest.
Without a hint that holds, the store reads by the raw digest.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ..bookkeeping.records import check_key
from ..bookkeeping.snapshot import ColumnRecords
from ..errors import IntegrityError, MissingDataError, SampleNotFoundError
from ..storage import raw_to_digest

if TYPE_CHECKING:
    from .session import CheckoutSession


class IntKeyReads:
    """The int-key read of :class:`~.column_reads.ColumnReads` (which provides what is declared here)."""

    _session: "CheckoutSession"
    _name: str
    _locs: Any
    _locs_of: Optional[ColumnRecords]
    """The records whose locations file ``_locs`` is (None: not opened yet)."""

    def _decode(self, meta: str, data: memoryview) -> Any: raise NotImplementedError
    def _missing(self, key: Any, digest: str) -> MissingDataError | IntegrityError: raise NotImplementedError
    def _damaged(self, key: Any, digest: str, exc: IntegrityError) -> IntegrityError: raise NotImplementedError

    def _read_int(self, recs: ColumnRecords, key: int) -> Any:
        """The sample at an int key of committed records: sliced where the column's locations
        file says it lies (verified), else read from the store by its raw digest."""
        row, raw = recs.locate_int(key)
        if raw is None:
            check_key(key)  # an out-of-range int is an invalid key, not an absent one
            raise SampleNotFoundError(self._name, key)
        if row >= 0:
            locs = self._locs if self._locs_of is recs else self._open_locations(recs)
            hit = locs.read(row, raw) if locs is not None else None
            if hit is not None:
                return self._decode(*hit)
        try:
            meta, data = self._session.store.read_raw(raw)
        except KeyError:
            raise self._missing(key, raw_to_digest(raw)) from None
        except IntegrityError as exc:
            raise self._damaged(key, raw_to_digest(raw), exc) from exc
        return self._decode(meta, data)  # type: ignore[arg-type]

    def _open_locations(self, recs: ColumnRecords) -> Any:
        """The locations file of ``recs`` (None when there is none), opened once per records."""
        self._locs_of, self._locs = recs, None
        index = recs.key_index()
        if index is not None and recs.samples_tree is not None:
            path = self._session.ctx.git.locations.path(recs.samples_tree)
            self._locs = self._session.store.open_locations(path, index.count)
        return self._locs
