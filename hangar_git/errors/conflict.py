"""Errors of changes that cannot be combined; nothing was changed."""
from __future__ import annotations

TYPE_CHECKING = False  # typing's import is a third of `git hangar -h`: names for mypy only
if TYPE_CHECKING:
    from typing import Sequence

from .base import HangarError


# -- conflict ------------------------------------------------------------------
class ConflictError(HangarError):
    """Changes cannot be combined; nothing was changed."""


class RefMovedError(ConflictError):
    """A branch moved while an operation that moves it ran; redo the operation."""


class MergeConflictError(ConflictError, ValueError):
    """A 3-way merge found changes that cannot be combined automatically."""

    SHOWN = 100

    def __init__(self, conflicts: "Sequence[object]", sides: tuple[str, str] = ("master", "dev")) -> None:
        self.conflicts = list(conflicts)
        self.sides = sides
        """The names of the branch merged into and of the one merged."""
        kinds: dict[str, int] = {}
        for c in self.conflicts:
            kind = str(getattr(c, "kind", "other"))
            kinds[kind] = kinds.get(kind, 0) + 1
        counts = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
        self._lines = [f"  {_describe(c, sides)}" for c in self.conflicts[:self.SHOWN]]
        if len(self.conflicts) > self.SHOWN:
            self._lines.append(f"  ... and {len(self.conflicts) - self.SHOWN} more")
        self._head = f"merge has {len(self.conflicts)} conflict(s) ({counts}); nothing was changed"
        super().__init__(self.explain("api"))

    def explain(self, form: str = "api") -> str:
        """The message, naming the strategy as the Python API takes it (``form='api'``:
        ``strategy='ours'``) or as the command line does (``'cli'``: ``--strategy ours``)."""
        ours, theirs = (STRATEGY_FORMS[form].format(side) for side in ("ours", "theirs"))
        sides = self.sides
        return (f"{self._head}. Merge again with `{ours}` (keep {sides[0]}'s version of each) or `{theirs}` "
                f"(take {sides[1]}'s), or resolve them on one branch, commit, and merge again:\n"
                + "\n".join(self._lines))


class UnrelatedHistoriesError(ConflictError, ValueError):
    """A merge of two branches with no common commit (another dataset's history, likely a
    mistyped remote or branch); refused unless asked for, as git does."""

    def __init__(self, master: str, dev: str) -> None:
        self.master, self.dev = master, dev
        super().__init__(self.explain("api"))

    def explain(self, form: str = "api") -> str:
        """The message, naming the option as the Python API takes it or as the command line does."""
        option = UNRELATED_FORMS[form]
        return (f"refusing to merge unrelated histories: {self.master!r} and {self.dev!r} have no commit "
                f"in common (another dataset?); nothing was changed. Merge again with `{option}` if they "
                f"belong together")


UNRELATED_FORMS = {"api": "allow_unrelated_histories=True", "cli": "--allow-unrelated-histories"}
"""How a merge of unrelated histories is allowed: by ``repo.merge`` (api) and by `git hangar merge`
or `pull` (cli)."""


STRATEGY_FORMS = {"api": "strategy={!r}", "cli": "--strategy {}"}
"""How a merge strategy is passed: to ``repo.merge`` (api) and to `git hangar merge` (cli)."""


def _describe(conflict: object, sides: tuple[str, str]) -> str:
    describe = getattr(conflict, "describe", None)
    return describe(*sides) if describe is not None else str(conflict)


class NonFastForwardError(ConflictError):
    """A push would discard commits the remote has."""

    def __init__(self, remote: str, branch: str) -> None:
        self.remote, self.branch = remote, branch
        super().__init__(
            f"push of {branch!r} to {remote!r} rejected (non-fast-forward): the remote "
            f"has commits you lack. Run `git hangar fetch {remote} {branch}`, merge "
            f"{remote}/{branch} into {branch}, then push again")
