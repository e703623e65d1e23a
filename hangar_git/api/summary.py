"""The repository summary report (as in Hangar's tutorial), from bookkeeping only."""
from __future__ import annotations

import os
import time
from typing import Optional

import numpy as np

from ..bookkeeping.gitrepo import HEADS, Oid
from ..bookkeeping.snapshot import Snapshot
from .context import RepoContext


def format_bytes(n: float) -> str:
    """``n`` bytes as Hangar shows sizes: 1000-based units, two decimals (``'2.36 MB'``),
    whole bytes below a kB."""
    for unit, size in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def folder_bytes(path: str) -> int:
    """Bytes of the files under ``path`` (files removed meanwhile, by a gc or a lock, count 0)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def disk_usage(ctx: RepoContext) -> int:
    """Bytes the repository takes: its git directory, plus its store when that lives elsewhere
    (a local folder walked; an object store's objects summed)."""
    git_dir = os.path.realpath(ctx.git.git_dir)
    total = folder_bytes(git_dir)
    uri = ctx.store_uri
    local = uri.removeprefix("file://")
    if "://" in local:
        total += sum(info.nbytes for info in ctx.store.iter_objects())
    elif not os.path.realpath(local).startswith(git_dir + os.sep):
        total += folder_bytes(local)
    return total


def contents(ctx: RepoContext, commit: Oid) -> dict:
    """Facts of one commit: details, columns (schema and count) and metadata size."""
    git = ctx.git
    info = git.commit_info(commit)
    snap = Snapshot(git, info.tree)
    columns = {}
    for name in sorted(snap.column_trees):
        rec = snap.column(name)
        schema = rec.schema
        columns[name] = {"count": rec.count, "column_layout": schema.column_layout,
                         "column_type": schema.column_type, "schema_type": schema.schema_type,
                         "shape": schema.shape, "dtype": schema.dtype}
    on = sorted(name for name, head in git.list_refs(HEADS).items() if head == commit)
    return {
        "repository": {"path": os.path.dirname(git.git_dir.rstrip(os.sep)) if not git.is_bare
                       else git.git_dir, "disk_usage": disk_usage(ctx)},
        "commit": {"digest": commit, "branches": on, "message": info.message.rstrip("\n"),
                   "author": info.author, "email": info.email, "time": info.time},
        "columns": columns,
        "metadata": {"count": len(snap.metadata)},
    }


def report(c: dict) -> str:
    repo, cmt = c["repository"], c["commit"]
    lines = ["Summary of Contents Contained in Data Repository", "",
             "==================", "| Repository Info", "|-----------------",
             f"|  Base Directory: {repo['path']}", f"|  Disk Usage: {format_bytes(repo['disk_usage'])}", "",
             "===================", "| Commit Details", "-------------------",
             f"|  Commit: a={cmt['digest']}",
             f"|  Branch: {', '.join(cmt['branches']) or '(detached: no branch head)'}",
             f"|  Created: {time.asctime(time.gmtime(cmt['time']))}",
             f"|  By: {cmt['author']}", f"|  Email: {cmt['email']}",
             f"|  Message: {cmt['message']}", "",
             "==================", "| DataSets", "|-----------------",
             f"|  Number of Named Columns: {len(c['columns'])}"]
    for name, col in c["columns"].items():
        lines += ["|", f"|  * Column Name: {name}", f"|    Num Data Pieces: {col['count']}", "|    Details:",
                  f"|    - column_layout: {col['column_layout']}", f"|    - column_type: {col['column_type']}",
                  f"|    - schema_type: {col['schema_type']}"]
        if col["column_type"] == "ndarray":
            shape = tuple(col["shape"]) if col["shape"] is not None else None
            lines += [f"|    - shape: {shape}", f"|    - dtype: {_dtype_name(col['dtype'])}"]
    lines += ["", "==================", "| Metadata:", "|-----------------",
              f"|  Number of Keys: {c['metadata']['count']}", ""]
    return "\n".join(lines)


def _dtype_name(text: Optional[str]) -> str:
    if text is None:
        return "None"
    return str(np.dtype(text))
