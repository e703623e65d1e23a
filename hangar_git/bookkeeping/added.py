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

    from ..storage.objects import digests_to_raw, line_digests_to_raw
    read = git.read_blob if read is None else read
    out = []
    for blob, base_blobs in _changed_blobs(git.pygit2_repo, samples, bases):
        cached = _cached_added(git, blob, base_blobs)
        if cached is not None:
            out.append(cached)
            continue
        if not base_blobs:  # a new shard: every line counts, converted in one pass
            out.append(line_digests_to_raw(read(blob)))
            continue
        lines = read(blob).decode().split("\n")  # a shard's lines are sorted: kept in order
        old: set[str] = set()
        for b in base_blobs:
            old.update(git.read_blob(b).decode().split("\n"))
        out.append(digests_to_raw([line[:64] for line in lines if line and line not in old]))
    return np.concatenate(out) if out else np.zeros(0, dtype="S32")


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
            digests = digests[~_found_in(np, digests, seen)]
    return digests


def _found_in(np: Any, raws: Any, among: Any) -> Any:
    """Which of ``raws`` (``S32``) are in ``among``: a binary search of their first 8 bytes,
    then the whole digest compared (an equal prefix hiding another digest reads as absent,
    which only costs a look-up)."""
    prefixes = np.frombuffer(among.tobytes(), ">u8")[::4]
    order = np.argsort(prefixes)
    at = np.minimum(np.searchsorted(prefixes[order], np.frombuffer(raws.tobytes(), ">u8")[::4]), len(among) - 1)
    return among[order[at]] == raws


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
