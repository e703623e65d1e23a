"""What a commit adds beyond its parent, read from the record cache (arrays) or from the
shard text: the same samples, wherever the cache has every shard involved."""
from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from hangar_git.bookkeeping.added import added_digests, new_lines
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


def _lines(text: bytes) -> set[bytes]:
    return {line for line in text.split(b"\n") if line}


@pytest.mark.parametrize("base, text, added", [
    (b"a\nc\n", b"a\nb\nc\n", {b"b"}),                 # one line inserted in the middle
    (b"a\nb\n", b"a\nb\nc\n", {b"c"}),                 # appended
    (b"b\nc\n", b"a\nb\nc\n", {b"a"}),                 # prepended
    (b"a\nb\nc\n", b"a\nx\nc\n", {b"x"}),              # a line changed
    (b"a\nb\nc\n", b"a\nc\n", set()),                  # a line removed
    (b"ab\nXc\n", b"ab\nc\n", {b"c"}),                 # "c" ends the base's "Xc": not a line the base holds
    (b"ab\nc\n", b"a\nb\nc\n", {b"a", b"b"}),          # a shared head that is not a whole line
    (b"a\nb", b"a\nbb", {b"bb"}),                      # no final newline
    (b"", b"a\n", {b"a"}),
    (b"a\n", b"", set()),
    (b"a\nb\n", b"a\nb\n", set()),
])
def test_new_lines_keeps_every_line_the_base_lacks(base: bytes, text: bytes, added: set[bytes]) -> None:
    """The shard comparison skips the lines a changed shard shares with its base at both ends
    (issue 15, the ref-update phase): a line only partly shared, as "c" in "Xc", still counts."""
    assert _lines(new_lines(text, [base])) == added
    assert _lines(new_lines(text, [])) == _lines(text)


def test_new_lines_never_misses_a_line_on_random_edits() -> None:
    rng = random.Random(15)
    alphabet = [b"a", b"b", b"c", b"ab", b"ba", b"Xc", b"aa", b""]
    for _ in range(20_000):
        base = [rng.choice(alphabet) for _ in range(rng.randint(0, 6))]
        text = list(base)
        for _ in range(rng.randint(1, 3)):
            at = rng.randint(0, len(text))
            if rng.random() < 0.5 or not text:
                text.insert(at, rng.choice(alphabet))
            else:
                text[min(at, len(text) - 1)] = rng.choice(alphabet)
        b, t = b"\n".join(base) + b"\n", b"\n".join(text) + rng.choice([b"", b"\n"])
        got = _lines(new_lines(t, [b]))
        assert _lines(t) - _lines(b) <= got <= _lines(t), (b, t, got)
