"""Failures of the machine rather than of the command (disk full, port in use, a damaged git
object) turned into one line that says what to do, wherever in a command they happen."""
from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from ..errors import DamagedObjectError

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


def environment_failure(exc: BaseException, state: Any = None) -> Optional[str]:
    """The one-line message for a failure of the environment, or None (``state``: the command's,
    whose repository names the remotes a damaged object can be fetched from again)."""
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
        from ..bookkeeping.damage import damaged_object
        repo = getattr(state, "opened", None)
        damaged = damaged_object(exc, repo.ctx.git if repo is not None else None)
        return damage_line(damaged, state) if damaged is not None else None
    return None


def damage_line(exc: "DamagedObjectError", state: Any) -> str:
    """A damaged git object, named with its branch, commit and column (found by fsck's scan of
    the refs, which also names it when the git library did not), and how to repair it in this
    repository: remove its file, fetch it again from a remote."""
    from ..api.fsck import repair_advice
    from ..bookkeeping.damage import Scan, loose_file
    from ..bookkeeping.refnames import HANGAR_NS
    repo = getattr(state, "opened", None)
    if repo is None:
        return str(exc)
    git = repo.ctx.git
    head, path = exc.head, exc.path or loose_file(git.git_dir, exc.oid)
    try:
        found = Scan(git).refs(git.list_refs(HANGAR_NS + "/")).damage
    except Exception:  # naming the place is a courtesy: the error line must come out regardless
        found = {}
    named = found.get(exc.oid) if exc.oid else next(iter(found.values()), None)
    if named is not None and named.detail:
        head, path = str(named), named.path
    return f"{head}: {repair_advice(repo.ctx, [path] if path else [])}"
