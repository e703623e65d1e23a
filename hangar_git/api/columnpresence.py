"""Which of a column's samples have their data on this machine: remote references, samples
that cannot be read, damaged copies; and the presence marks that spare the next look."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Optional, Union

from ..bookkeeping.changes import StagedChanges
from ..bookkeeping.records import decode_key, key_sort
from ..bookkeeping.snapshot import ColumnRecords
from ..storage import Digest

if TYPE_CHECKING:
    from .session import CheckoutSession

Key = Union[str, int]


class ColumnPresence:
    """The partial-data queries of :class:`~.column_reads.ColumnReads` (which provides what
    is declared here)."""

    _session: "CheckoutSession"
    _records: Optional[ColumnRecords]
    _changes: StagedChanges

    def _state(self) -> Any: raise NotImplementedError
    def _batches_with_missing(self, state: Any, reading: bool = False,
                              on_disk: bool = False) -> Iterator[tuple[list[str], list[str], set[str]]]:
        raise NotImplementedError

    @property
    def remote_reference_keys(self) -> tuple[Key, ...]:
        """Keys recorded here whose data is not in this machine's store (streamed or not), in
        key order (ints first, numerically, then strs)."""
        if self._is_known_complete():
            return ()
        out: list[Key] = []
        for encs, digests, missing in self._batches_with_missing(self._state(), on_disk=True):
            out.extend(decode_key(e) for e, d in zip(encs, digests) if d in missing)
        if not out:
            self._note_complete()
        return tuple(key_sort(out))

    @property
    def contains_remote_references(self) -> bool:
        """True when some samples' data has not been fetched to this machine (in a streaming
        checkout: is read through the remote)."""
        return self._lacks_data(on_disk=True)

    @property
    def has_unreadable_samples(self) -> bool:
        """True when some samples cannot be read from this checkout: their data is not on this
        machine (nor, in a streaming checkout, on the remote)."""
        return self._lacks_data(on_disk=False)

    @property
    def has_damaged_samples(self) -> bool:
        """True when some samples' copies on this machine were found damaged (not absent: fetch-data replaces them)."""
        return self._lacks_data(on_disk=True, damaged=True)

    def _lacks_data(self, on_disk: bool, damaged: bool = False) -> bool:
        if self._is_known_complete():
            return False
        lacking = [missing for _, _, missing in self._batches_with_missing(self._state(), on_disk=on_disk) if missing]
        if damaged or lacking:
            return any(self._session.ctx.store.damaged(map(Digest, m)) for m in lacking) if damaged else True
        self._note_complete()
        return False

    def _note_complete(self) -> None:
        """Remember that every sample of these committed records is local."""
        if self._records is not None and not self._changes:
            self._session.ctx.presence.mark_complete(self._records.tree)

    def _is_known_complete(self) -> bool:
        if self._records is None:
            return not any(d is not None and not self._session.store.contains(Digest(d))
                           for d in self._changes.values())
        return (self._session.ctx.presence.is_complete(self._records.tree)
                and all(d is None or self._session.store.contains(Digest(d)) for d in self._changes.values()))
