"""Commit metadata: a str -> str mapping versioned with the data."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional

from ..bookkeeping.records import check_metadata_key, check_metadata_value
from ..errors import MetadataNotFoundError, PermissionDeniedError

if TYPE_CHECKING:
    from .session import CheckoutSession


class Metadata:
    """Key/value text attached to a commit (``co.metadata``): a view of its checkout's
    session, so a handle stays live across resets and merges."""

    def __init__(self, session: "CheckoutSession") -> None:
        self._session = session

    @property
    def _data(self) -> dict[str, str]:
        return self._session.metadata

    @property
    def dirty(self) -> bool:
        """True when changed since the checkout's last flush."""
        return self._session.metadata_dirty

    def __getitem__(self, key: str) -> str:
        self._session.check_open()
        try:
            return self._data[key]
        except KeyError:
            raise MetadataNotFoundError(key, self._session.where()) from None

    def get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        return self._data.get(key, default)

    def __setitem__(self, key: str, value: str) -> None:
        self._check_writable()
        self._data[check_metadata_key(key)] = check_metadata_value(value)
        self._session.metadata_dirty = True
        self._session.mark_dirty(None)

    def __delitem__(self, key: str) -> None:
        self._check_writable()
        if key not in self._data:
            raise MetadataNotFoundError(key, self._session.where())
        del self._data[key]
        self._session.metadata_dirty = True
        self._session.mark_dirty(None)

    def update(self, other: dict[str, str]) -> None:
        for k, v in other.items():
            self[k] = v

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._data))

    def keys(self) -> list[str]:
        return sorted(self._data)

    def items(self) -> list[tuple[str, str]]:
        return sorted(self._data.items())

    def as_dict(self) -> dict[str, str]:
        return dict(self._data)

    def _check_writable(self) -> None:
        if not self._session.is_writer:
            raise PermissionDeniedError("metadata is read-only: open repo.checkout(write=True) to change it")
        self._session.check_open()

    def __repr__(self) -> str:
        mode = "Writer" if self._session.is_writer else "Reader"
        return f"Hangar Metadata{mode}\n    Number of Keys : {len(self)}\n"
