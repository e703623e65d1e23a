"""What ``Repository`` offers for Hangar 0.5 code: version, sizes, integrity check."""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..errors import IntegrityError

if TYPE_CHECKING:
    from .context import RepoContext
    from .fsck import FsckReport

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
        from .summary import disk_usage
        return disk_usage(self.ctx)

    @property
    def size_human(self: _Repository) -> str:
        """:attr:`size_nbytes` as text, as Hangar shows it, e.g. ``'2.36 MB'``."""
        from .summary import format_bytes
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
