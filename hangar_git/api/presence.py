"""How many samples of a commit have no data on this machine, answered from bookkeeping
when it can be (columns known complete cost no store access)."""
from __future__ import annotations

import warnings

from ..bookkeeping.snapshot import Snapshot
from .context import RepoContext


def samples_without_data(ctx: RepoContext, commit: str) -> int:
    """Samples of ``commit`` whose data is not in the local store (0 without opening the store
    when every column is known complete)."""
    git = ctx.git
    snap = Snapshot(git, git.commit_info(commit).tree)
    unknown = [name for name, tree in snap.column_trees.items() if not ctx.presence.is_complete(tree)]
    if not unknown:
        return 0
    from .checkout import ReaderCheckout
    with warnings.catch_warnings():  # the count is the answer: no warning about what it counts
        warnings.simplefilter("ignore", UserWarning)
        co = ReaderCheckout(ctx, git.resolve_commit(commit))
    try:
        return sum(len(co.columns[name].remote_reference_keys) for name in unknown)
    finally:
        co.close()

