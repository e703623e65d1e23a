"""Writing a column: staging samples, deletes and batched writes."""
from __future__ import annotations

import uuid
from typing import Any, Iterable, Union

from ..errors import PermissionDeniedError, ReadOnlyColumnError, SampleNotFoundError
from ..storage import Meta
from .column_reads import _MISSING, ColumnReads, Key, enc


class ColumnWrites(ColumnReads):
    """Staged writes of a column (through the single write checkout)."""

    def _encode(self, value: Any) -> tuple[Meta, Any]:
        """A value's meta and bytes (a buffer), checked against the column's schema."""
        raise NotImplementedError

    def _check_writable(self, assignment: bool = False) -> None:
        """Refuse writes through a read checkout (item assignment: a TypeError, as in
        Hangar) or a closed one."""
        if not self._session.is_writer:
            error = ReadOnlyColumnError if assignment else PermissionDeniedError
            raise error(f"column {self._name!r} is read-only: open repo.checkout(write=True) to change it")
        self._session.check_open()

    def _stage(self, e: str, digest: Union[str, None]) -> bool:
        """Stage ``digest`` (None: a delete) for encoded key ``e``; False when that is
        what ``e`` holds already."""
        changes = self._changes
        before = changes.get(e, _MISSING)
        new = before is _MISSING
        if new:
            before = self._records.get(e) if self._records is not None else None
        if before == digest:
            return False
        changes.put(e, digest, new)
        if before is None:
            self._count += 1
        elif digest is None:
            self._count -= 1
        self._session.mark_dirty(self)  # type: ignore[arg-type]
        return True

    def __setitem__(self, key: Key, value: Any) -> None:
        self._check_writable(assignment=True)
        self._put(key, value)

    def put(self, key: Key, value: Any) -> bool:
        """``col[key] = value``, returning whether that changed the staging area (False when
        ``key`` already holds exactly this value)."""
        self._check_writable(assignment=True)
        return self._put(key, value)

    def _put(self, key: Key, value: Any) -> bool:
        e = enc(key)
        meta, data = self._encode(value)
        digest = self._session.store.put_new(meta, data)  # hashed by the store
        return self._stage(e, digest)

    def append(self, value: Any) -> str:
        """Add a sample under a new random key, which is returned."""
        self._check_writable()
        key = uuid.uuid4().hex[:20]
        self[key] = value
        return key

    def update(self, other: Union[dict, Iterable[tuple[Key, Any]]] = (), **kwargs: Any) -> None:
        """Set many samples (from a mapping, pairs or keyword arguments)."""
        self._check_writable()
        items = other.items() if isinstance(other, dict) else other
        for key, value in items:
            self[key] = value
        for key, value in kwargs.items():
            self[key] = value

    def __delitem__(self, key: Key) -> None:
        self._check_writable(assignment=True)
        e = enc(key)
        if self._digest(e) is None:
            raise SampleNotFoundError(self._name, key)
        self._stage(e, None)

    def pop(self, key: Key) -> Any:
        """Remove a sample and return its value."""
        self._check_writable()
        value = self[key]
        del self[key]
        return value

    # -- batching context ---------------------------------------------------------
    def __enter__(self) -> Any:
        self._session.begin_batch()
        return self

    def __exit__(self, *exc: object) -> None:
        self._session.end_batch(exc[0])
