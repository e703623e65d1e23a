""""Did you mean ...?" for a mistyped command, branch, remote or column name, as git suggests one."""
from __future__ import annotations

import difflib
from typing import Any, Iterable

from ..errors import (BranchNotFoundError, ColumnNotFoundError, DamagedObjectError, HangarError,
                      RemoteBranchNotFoundError, RemoteNotFoundError)

REVISION_SUFFIX = "~^@"


def close_names(word: str, names: Iterable[str]) -> list[str]:
    """The names (at most three, closest first) that ``word`` is likely a typo of."""
    return difflib.get_close_matches(word, list(names), n=3, cutoff=0.6)


def did_you_mean(names: list[str]) -> str:
    """`` (did you mean 'a' or 'b'?)``, or '' for no names."""
    if not names:
        return ""
    return "did you mean " + " or ".join(repr(n) for n in names) + "?"


def branch_hint(exc: HangarError, state: Any) -> str:
    """For a branch (or revision) that does not exist: the existing branches its name is close
    to, as ``did you mean ...?``; '' when none is close or it is another kind of error."""
    if not isinstance(exc, BranchNotFoundError) or isinstance(exc, RemoteBranchNotFoundError):
        return ""
    name = exc.branch if isinstance(exc.branch, str) else ""
    for mark in REVISION_SUFFIX:
        name = name.split(mark, 1)[0]
    repo = getattr(state, "opened", None)
    if not name or repo is None:
        return ""
    try:
        names = repo.list_branches(remotes=True)
    except HangarError:
        return ""
    return did_you_mean([n for n in close_names(name, names) if n != name])


def with_hint(text: str, exc: HangarError, state: Any) -> str:
    """``text`` (the error's one line) with a ``did you mean ...?`` for a mistyped branch, remote
    or column; a mistyped remote's close name replaces the advice to add a remote of that name; a
    damaged git object's advice names the file to remove and the remote to fetch it from again."""
    if isinstance(exc, RemoteNotFoundError):
        hint = remote_hint(exc, state)
        return f"no remote named {exc.name!r}: {hint}" if hint else text
    if isinstance(exc, DamagedObjectError):
        from .failures import damage_line
        return damage_line(exc, state)
    hint = column_hint(exc) or branch_hint(exc, state)
    return f"{text}; {hint}" if hint else text


def remote_hint(exc: RemoteNotFoundError, state: Any) -> str:
    """The remotes the missing remote's name is close to, as ``did you mean ...?``."""
    repo = getattr(state, "opened", None)
    if repo is None or not isinstance(exc.name, str):
        return ""
    try:
        names = repo.ctx.remote_names()
        branch = exc.name in repo.list_branches(remotes=False)
    except HangarError:
        return ""
    if branch and exc.name not in names:  # `drop master`: the branch where the remote goes
        example = f" (`{names[0]} {exc.name}`)" if len(names) == 1 else ""
        return f"{exc.name!r} is a branch, not a remote: give the remote first{example}"
    return did_you_mean([n for n in close_names(exc.name, names) if n != exc.name])


def column_hint(exc: HangarError) -> str:
    """The columns a missing column's name is close to (of those the error lists)."""
    if not isinstance(exc, ColumnNotFoundError) or not exc.known or not isinstance(exc.column, str):
        return ""
    return did_you_mean([n for n in close_names(exc.column, exc.known) if n != exc.column])
