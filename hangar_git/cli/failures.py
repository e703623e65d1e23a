"""Failures of the machine rather than of the command (disk full, port in use, a damaged git
object) turned into one line that says what to do, wherever in a command they happen."""
from __future__ import annotations

import errno
from typing import Optional

ADVICE = {
    errno.ENOSPC: "no space left on the device{where}: free some space (`git hangar gc` frees data no commit "
                  "uses) and run the command again; nothing half-written was kept",
    errno.EDQUOT: "disk quota exceeded{where}: free some space and run the command again; nothing half-written "
                  "was kept",
    errno.EFBIG: "a file grew past this system's size limit{where}: raise the limit (ulimit -f) and run the "
                 "command again",
    errno.EROFS: "the file system{where} is read-only: run the command where it can write",
    errno.EADDRINUSE: "the address is already in use{where}: stop what listens there or pick another --port",
}
DISK_FULL_TEXTS = ("No space left on device", "Disk quota exceeded")


def environment_failure(exc: BaseException) -> Optional[str]:
    """The one-line message for a failure of the environment, or None."""
    from ..errors import HangarError
    if isinstance(exc, HangarError):
        return None
    code = getattr(exc, "errno", None)
    if isinstance(exc, OSError) and code in ADVICE:
        name = getattr(exc, "filename", None)
        return ADVICE[code].format(where=f" ({name})" if name else "")
    text = str(exc)
    if any(marker in text for marker in DISK_FULL_TEXTS):  # the storage library's own error types
        return ADVICE[errno.ENOSPC].format(where="")
    if type(exc).__name__ == "GitError":
        from ..bookkeeping.gitrepo import damaged_object
        damaged = damaged_object(exc)
        return str(damaged) if damaged is not None else None
    return None
