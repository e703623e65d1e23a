"""What ``Repository`` offers for Hangar 0.5 code: version, sizes, integrity check."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol

from ..errors import IntegrityError

if TYPE_CHECKING:
    from .context import RepoContext
    from .fsck import FsckReport

_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def format_bytes(n: int) -> str:
    """``n`` bytes in the largest unit (1024-based) that keeps the figure >= 1, as Hangar shows it."""
    value = float(n)
    for unit in _UNITS[:-1]:
        if value < 1024:
            return f"{value:.2f} {unit}"
        value /= 1024
    return f"{value:.2f} {_UNITS[-1]}"


def _tree_nbytes(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:  # removed meanwhile (a gc, a lock)
                pass
    return total


def _local_path(uri: str) -> str:
    """The folder of a local store URI, '' for a remote one (s3://...)."""
    if uri.startswith("file://"):
        return uri[len("file://"):]
    return "" if "://" in uri else uri


class _Repository(Protocol):
    @property
    def ctx(self) -> "RepoContext": ...

    @property
    def size_nbytes(self: _Repository) -> int: ...

    def fsck(self, quick: bool = False) -> "FsckReport": ...


class HangarCompat:
    """Mixed into ``Repository``: names Hangar 0.5 code uses."""

    @property
    def version(self) -> str:
        """The version of hangar-git this repository is opened with (the installed one)."""
        from ..version import __version__
        return __version__

    @property
    def size_nbytes(self: _Repository) -> int:
        """Bytes the repository takes: its git dir and its store (objects' sizes for a store
        that is not a local folder)."""
        ctx = self.ctx
        git_dir = os.path.realpath(ctx.git.git_dir)
        total = _tree_nbytes(git_dir)
        store = _local_path(ctx.store_uri)
        if store and not os.path.realpath(store).startswith(git_dir + os.sep):
            total += _tree_nbytes(store)
        elif not store:
            total += sum(info.nbytes for info in ctx.store.iter_objects())
        return total

    @property
    def size_human(self: _Repository) -> str:
        """:attr:`size_nbytes` as text, e.g. ``'2.36 MB'``."""
        return format_bytes(self.size_nbytes)

    def verify_repo_integrity(self: _Repository) -> bool:
        """Check every record and re-hash every stored sample (``fsck``); True, or
        IntegrityError listing the problems, as in Hangar."""
        report = self.fsck(quick=False)
        if not report.ok:
            shown = "; ".join(report.problems[:5])
            more = f" (and {len(report.problems) - 5} more)" if len(report.problems) > 5 else ""
            raise IntegrityError(f"the repository failed its integrity check: {shown}{more}; "
                                 f"`git hangar fsck` prints the full report")
        return True
