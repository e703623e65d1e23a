"""What new commits add: the sample digests their shards record beyond their parents'.

Only shards that differ from the parents' are read (equal subtrees are skipped by id), so
the cost follows the change. Shards in the local record cache are compared as arrays of raw
digests; :func:`added_raws` answers raw digests (``S32``) without a hex string per sample.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Optional, Sequence

import pygit2

from .gitrepo import GitRepo

BlobReader = Callable[[str], bytes]


def added_digests(git: GitRepo, commits: Sequence[str], columns: Optional[set[str]] = None,
                  read: Optional[BlobReader] = None) -> dict[str, None]:
    """Sample digests that ``commits`` (oldest first, e.g. from :func:`new_commits`) record
    beyond their parents: what a push must bring when the other side holds the data of the
    parents outside ``commits``. Only shards that differ from the parents' are read and only
    their new lines count, so the cost follows the change (an ordered set, as
    :func:`referenced_digests`)."""
    from ..storage.objects import raws_to_digests
    return dict.fromkeys(raws_to_digests(added_raws(git, commits, columns, read)))


def added_raws(git: GitRepo, commits: Sequence[str], columns: Optional[set[str]] = None,
               read: Optional[BlobReader] = None) -> Any:
    """:func:`added_digests` as raw digests (an ``S32`` array, each once, in order)."""
    import numpy as np
    parts = []
    for c in commits:
        info = git.commit_info(c)
        parents = [dict(_column_samples(git, git.commit_info(p).tree, columns)) for p in info.parents]
        for name, samples in _column_samples(git, info.tree, columns):
            parts.append(samples_added_raws(git, samples, [p[name] for p in parents if name in p], read))
    return unique_in_order(np.concatenate(parts) if parts else np.zeros(0, dtype="S32"))


def samples_added(git: GitRepo, samples: str, bases: Sequence[str],
                  read: Optional[BlobReader] = None) -> dict[str, None]:
    """Digests the ``samples`` tree of a column records that none of ``bases`` (samples trees
    of the same column) records at the same place: each shard blob is compared with the
    bases' blobs at its path, equal subtrees and shards are skipped. ``read`` reads a blob
    (default: from git; a caller holding the new blobs passes its own).

    Shards in the local record cache (a repository's own commits) are compared as arrays of
    digests, without inflating them: a digest a base shard records elsewhere in it is not
    "added" then, which changes nothing for the callers (what the bases record is present
    wherever the bases' data is)."""
    from ..storage.objects import raws_to_digests
    return dict.fromkeys(raws_to_digests(samples_added_raws(git, samples, bases, read)))


def samples_added_raws(git: GitRepo, samples: str, bases: Sequence[str], read: Optional[BlobReader] = None) -> Any:
    """:func:`samples_added` as raw digests (an ``S32`` array, in shard order; a digest
    recorded under several keys comes as often)."""
    import numpy as np

    from ..storage.objects import line_digests_to_raw
    read = git.read_blob if read is None else read
    out, text = [], []  # runs of shard text are converted at once
    cache = git.record_cache.in_use()  # a server's is empty: no look-up per shard
    for blob, base_blobs in _changed_blobs(git.pygit2_repo, samples, bases):
        cached = _cached_added(git, blob, base_blobs) if cache else None
        if cached is None:  # a new shard's lines all count; a changed one's new lines
            lines = new_lines(read(blob), [git.read_blob(b) for b in base_blobs])
            text.append(lines if lines.endswith(b"\n") else lines + b"\n")
            continue
        if text:
            out.append(line_digests_to_raw(b"".join(text)))
            text = []
        out.append(cached)
    if text:
        out.append(line_digests_to_raw(b"".join(text)))
    return np.concatenate(out) if out else np.zeros(0, dtype="S32")


def new_lines(text: bytes, bases: Sequence[bytes]) -> bytes:
    """The lines of shard ``text`` that none of ``bases`` holds, joined (each ending in a newline).

    Against one base, the lines both begin and end with are skipped by comparing bytes (a push
    changes a line or two of each shard it touches): only the lines between are split and
    compared, with the base's lines between. That may keep a line the base holds elsewhere,
    never drop one it lacks: a caller checks a little more, never less."""
    if not bases:
        return text
    if len(bases) == 1:
        text, window = _differing_middle(text, bases[0])
        bases = [window]
    seen: set[bytes] = set()
    for base in bases:
        seen.update(base.split(b"\n"))
    return b"".join(line + b"\n" for line in text.split(b"\n") if line and line not in seen)


def _differing_middle(text: bytes, base: bytes) -> tuple[bytes, bytes]:
    """(the whole lines of ``text`` between the whole lines it shares with ``base`` at both
    ends, the bytes of ``base`` between the same ends). A shared line must be a whole line in
    both: its newline before it is shared too."""
    import numpy as np
    a, b = np.frombuffer(text, np.uint8), np.frombuffer(base, np.uint8)
    n = min(len(a), len(b))
    differ = np.flatnonzero(a[:n] != b[:n])
    head = int(differ[0]) if len(differ) else n
    m = n - head  # the shared tail may not overlap the shared head
    differ = np.flatnonzero(a[len(a) - m:][::-1] != b[len(b) - m:][::-1]) if m else differ[:0]
    tail = int(differ[0]) if len(differ) else m
    start = text.rfind(b"\n", 0, head) + 1  # lines before start: the same bytes from offset 0
    after = text.find(b"\n", len(a) - tail)  # lines after it: the same bytes, newline before included
    stop = len(a) if after < 0 else after + 1
    if start >= stop:
        return b"", b""
    return text[start:stop], base[start:len(b) - (len(a) - stop)]


def unique_in_order(raws: Any) -> Any:
    """Raw digests (``S32``) with repeats dropped, first occurrences kept in order."""
    from ..storage.packindex import first_occurrences
    return raws if len(raws) < 2 else raws[first_occurrences(raws)]


def _cached_added(git: GitRepo, blob: str, bases: Sequence[str]) -> Any:
    """Raw digests of shard ``blob`` that none of ``bases`` records, from the record cache,
    or None unless every one of them is cached."""
    cache = git.record_cache
    block = cache.get(blob)
    if block is None:
        return None
    olds = [cache.get(b) for b in bases]
    if any(old is None for old in olds):
        return None
    digests = block.digests
    if olds:
        import numpy as np
        seen = np.concatenate([old.digests for old in olds])  # type: ignore[union-attr]
        if len(seen):
            from ..storage.packindex import found_among
            digests = digests[~found_among(digests, seen)]
    return digests


def column_trees(git: GitRepo, root: str, columns: Optional[set[str]] = None) -> dict[str, tuple[str, str]]:
    """Column name -> (column tree, samples tree) of a commit's root tree (``columns`` only)."""
    cols = git.tree_entries(root).get("columns")
    out: dict[str, tuple[str, str]] = {}
    for name, (tree, _) in (git.tree_entries(cols[0]).items() if cols is not None else ()):
        samples = git.tree_entries(tree).get("samples")
        if samples is not None and (columns is None or name in columns):
            out[name] = (tree, samples[0])
    return out


def _changed_blobs(repo: pygit2.Repository, tree: str, bases: Sequence[str]) -> Iterator[tuple[str, list[str]]]:
    """(blob, blobs at its path in ``bases``) of every blob under ``tree`` that none of
    ``bases`` (trees at the same path) has there; equal subtrees are skipped."""
    if tree in bases:
        return
    base_objs = [repo[b] for b in bases]
    for entry in repo[tree]:  # type: ignore[attr-defined]
        oid = str(entry.id)
        same = [b[entry.name] for b in base_objs if entry.name in b]  # type: ignore[operator, index]
        if any(str(e.id) == oid for e in same):
            continue
        kind = entry.type_str
        matching = [str(e.id) for e in same if e.type_str == kind]
        if kind == "tree":
            yield from _changed_blobs(repo, oid, matching)
        else:
            yield oid, matching


def _column_samples(git: GitRepo, root: str, columns: Optional[set[str]]) -> Iterator[tuple[str, str]]:
    cols = git.tree_entries(root).get("columns")
    if cols is None:
        return
    for name, (tree, _) in git.tree_entries(cols[0]).items():
        if columns is not None and name not in columns:
            continue
        samples = git.tree_entries(tree).get("samples")
        if samples is not None:
            yield name, samples[0]
