"""What the shell completes for arguments that name things in the repository: branches, columns
and remotes (click's ``shell_complete`` callbacks; the scripts of :mod:`.completion` ask click).

Each reads only git records (no data store, numpy or TileDB), from the repository the command
line would run in (``-C PATH`` included); outside one, it offers nothing."""
from __future__ import annotations

import os
from typing import Any, Optional

import click
from click.shell_completion import CompletionItem


def _directory(ctx: click.Context) -> str:
    """Where the command line would run: its ``-C PATH`` (relative to the current directory)."""
    path = os.getcwd()
    for each in reversed(_chain(ctx)):
        given = each.params.get("directory")
        if given:
            path = os.path.join(path, given)
    return path


def _chain(ctx: click.Context) -> list[click.Context]:
    out = []
    current: Optional[click.Context] = ctx
    while current is not None:
        out.append(current)
        current = current.parent
    return out


def _git(ctx: click.Context) -> Any:
    from ..core import locate
    try:
        return locate.find(_directory(ctx))
    except Exception:  # no repository, or one that cannot be read: nothing to offer
        return None


def _items(names: Any, incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(n) for n in sorted(set(names)) if n.startswith(incomplete)]


def local_branches(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Local branch names (what `checkout` and `branch -d` take)."""
    from ..bookkeeping.gitrepo import HEADS
    git = _git(ctx)
    return _items(git.list_refs(HEADS) if git is not None else (), incomplete)


def branches(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Local and remote-tracking branch names (what a revision may be)."""
    from ..bookkeeping.gitrepo import HEADS, REMOTES
    git = _git(ctx)
    if git is None:
        return []
    return _items([*git.list_refs(HEADS), *git.list_refs(REMOTES)], incomplete)


def remotes(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Remote names (hangar remotes and git remotes)."""
    git = _git(ctx)
    if git is None:
        return []
    from ..core.layout import remote_urls
    git_remotes = [key[len("remote."):-len(".url")] for key in git.config_items("remote.") if key.endswith(".url")]
    return _items([*remote_urls(git), *git_remotes], incomplete)


def columns(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The columns at the revision given earlier on the line (REV, --branch, --commit), else at
    the write branch's head, and those staged on it."""
    from ..bookkeeping.gitrepo import STAGING, branch_ref
    from ..core import layout, revisions
    git = _git(ctx)
    if git is None:
        return []
    rev = ctx.params.get("rev") or ctx.params.get("commit") or ctx.params.get("branch")
    names: set[str] = set()
    try:
        heads = [revisions.resolve(git, rev)] if isinstance(rev, str) and rev else [
            git.get_ref(branch_ref(layout.default_branch(git))), git.get_ref(STAGING)]
        for commit in heads:
            if commit is not None:
                tree = git.commit_info(commit).tree
                names.update(git.tree_entries(git.tree_lookup(tree, ("columns",))))
    except Exception:  # an unknown REV, or no commit yet: nothing to offer
        pass
    return _items(names, incomplete)
