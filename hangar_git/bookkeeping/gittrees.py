"""Git trees through pygit2: reading a tree's entries and building nested trees from path
changes (the half of :mod:`.gitrepo` that turns records into commits' trees).

Object ids cross the boundary as 40-hex strings, as in :mod:`.gitrepo`.
"""
from __future__ import annotations

from typing import Container, Mapping, Optional

import pygit2
from pygit2.enums import FileMode

TreeChanges = Mapping[tuple[str, ...], Optional[str]]
"""Path inside a tree -> blob or tree id to put there (None removes the entry)."""


def tree_entries(repo: pygit2.Repository, tree_oid: Optional[str]) -> dict[str, tuple[str, bool]]:
    """name -> (oid, is_tree) of a tree's direct entries."""
    if tree_oid is None:
        return {}
    tree = repo[tree_oid]
    return {e.name: (str(e.id), e.type_str == "tree") for e in tree}  # type: ignore[attr-defined]


def tree_lookup(repo: pygit2.Repository, tree_oid: Optional[str], path: tuple[str, ...]) -> Optional[str]:
    """Id of the object at ``path`` inside a tree, or None."""
    if tree_oid is None:
        return None
    obj = repo[tree_oid]
    for part in path:
        try:
            obj = repo[obj[part].id]  # type: ignore[index]
        except (KeyError, TypeError):
            return None
    return str(obj.id)


def _grouped(changes: TreeChanges) -> tuple[dict[str, Optional[str]], dict[str, dict[tuple[str, ...], Optional[str]]]]:
    """Changes split into those of direct entries and those under each subtree's name."""
    groups: dict[str, dict[tuple[str, ...], Optional[str]]] = {}
    direct: dict[str, Optional[str]] = {}
    for path, oid in changes.items():
        if len(path) == 1:
            direct[path[0]] = oid
        else:
            groups.setdefault(path[0], {})[path[1:]] = oid
    return direct, groups


def update_tree(repo: pygit2.Repository, tree_oid: Optional[str], changes: TreeChanges,
                blobs: Container[str] = frozenset()) -> Optional[str]:
    """Id of a tree equal to ``tree_oid`` with paths set to blob/tree ids (None removes).

    None when the result is empty (git has no use for empty trees). The mode of each entry
    is taken from its object, unless the caller names it a blob in ``blobs`` (a lookup per
    shard of a big column's first write cost 0.6 s a million records).
    """
    direct, groups = _grouped(changes)
    base = repo[tree_oid] if tree_oid else None
    builder = repo.TreeBuilder(base) if base is not None else repo.TreeBuilder()  # type: ignore[arg-type]
    for name, sub in groups.items():
        existing = base[name].id if base is not None and name in base else None  # type: ignore[operator,index]
        direct[name] = update_tree(repo, str(existing) if existing else None, sub, blobs)
    for name, oid in direct.items():
        if oid is None:
            if builder.get(name) is not None:
                builder.remove(name)
        else:
            obj_type = "blob" if oid in blobs else repo[oid].type_str
            builder.insert(name, pygit2.Oid(hex=oid), FileMode.TREE if obj_type == "tree" else FileMode.BLOB)
    if len(builder) == 0:
        return None
    return str(builder.write())


def empty_tree(repo: pygit2.Repository) -> str:
    """Id of the empty tree (written), for commits without records."""
    return str(repo.TreeBuilder().write())
