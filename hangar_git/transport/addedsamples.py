"""The samples a pushed commit adds, worked out as soon as its records have arrived.

A push sends its records, then its data, then asks for the ref update. The ref update must
know which samples the new commits add (to check that each one is here), which means
reading every new shard: for 100,000 small rows about 25 ms, all of it after the last byte
of data. Worked out when the records arrive, while the data is still on its way, it costs
the push nothing. The answer is a pure function of the commit and of the branch heads it is
measured against (git objects never change), so the ref update uses it only when asked for
the same commit with the same heads, and works it out afresh otherwise.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

if TYPE_CHECKING:
    from ..bookkeeping.added import BlobReader
    from ..bookkeeping.gitrepo import GitRepo

TIPS_PREPARED = 4
"""At most this many newest commits of one push are worked out ahead (a push names one)."""

RECORD_ERRORS = (UnicodeDecodeError, ValueError, TypeError, KeyError)
"""What reading records that are not hangar records raises."""


def added_since(git: GitRepo, commit: str, heads: Sequence[str], read: Optional[BlobReader] = None) -> Any:
    """Raw digests (``S32``) of the samples ``commit`` and its ancestors add over ``heads``."""
    from ..bookkeeping.added import added_raws
    from ..bookkeeping.transfer import new_commits
    return added_raws(git, new_commits(git, [commit], heads), read=read)


class AddedSamples:
    """What :func:`added_since` answered for the newest commits of a push's records."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, frozenset[str]], Any] = {}

    def prepare(self, git: GitRepo, commits: Sequence[str], heads: Sequence[str],
                read: Optional[BlobReader] = None) -> None:
        """Work out the samples the newest of ``commits`` (those no other of them descends
        from) add over ``heads``; records that cannot be read are left to the ref update,
        which refuses them."""
        try:
            parents = {p for commit in commits for p in git.commit_info(commit).parents}
            for tip in [c for c in dict.fromkeys(commits) if c not in parents][:TIPS_PREPARED]:
                self._known[(tip, frozenset(heads))] = added_since(git, tip, heads, read)
        except Exception:  # damaged or incomplete records: the ref update works it out again and says so
            self._known.clear()

    def added(self, git: GitRepo, commit: str, heads: Sequence[str], read: Optional[BlobReader] = None) -> Any:
        """:func:`added_since`, as prepared when it was for the same commit and heads."""
        known = self._known.pop((commit, frozenset(heads)), None)
        return added_since(git, commit, heads, read) if known is None else known

    def clear(self) -> None:
        self._known.clear()
