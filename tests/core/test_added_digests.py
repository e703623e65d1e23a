"""What a commit adds beyond its parent, read from the record cache (arrays) or from the
shard text: the same samples, wherever the cache has every shard involved."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from hangar_git.bookkeeping.added import added_digests
from hangar_git.bookkeeping.transfer import new_commits, referenced_digests

from .conftest import new_repo


def test_the_record_cache_and_the_shard_text_agree(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=np.zeros(4, np.int64))
        col.update({i: np.full(4, i, np.int64) for i in range(3000)})
        co.commit("base")
    with repo.checkout(write=True) as co:
        col = co.columns["x"]
        col.update({i: np.full(4, -i, np.int64) for i in range(1, 31)})          # overwritten
        col.update({i: np.full(4, i, np.int64) for i in range(3000, 3020)})      # new keys
        col.update({5000 + i: np.full(4, 100 + i, np.int64) for i in range(10)})  # values the base has
        for i in range(100, 110):
            del col[i]
        co.commit("change")
    git = repo.ctx.git
    head = git.get_ref("refs/hangar/heads/master")
    commits = new_commits(git, [head], [git.commit_info(head).parents[0]])
    from_cache = list(added_digests(git, commits))
    shutil.rmtree(Path(git.git_dir) / "hangar" / "records")
    from_text = list(added_digests(git, commits))
    assert len(from_text) == 30 + 20 + 10
    # the cache compares digests, not lines: a value the base shard records under another key is
    # not "added" (its data is wherever the base's is); nothing else differs, order included
    base = set(referenced_digests(git, [git.commit_info(head).parents[0]]))
    assert from_cache == [d for d in from_text if d not in base or d in set(from_cache)]
    assert set(from_text) - set(from_cache) <= base
    assert len(from_cache) >= 30 + 20
