""""Did you mean ...?" for a mistyped command or branch name, as git suggests one."""
from __future__ import annotations

import difflib
from typing import Any, Iterable

from ..errors import BranchNotFoundError, HangarError, RemoteBranchNotFoundError

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
