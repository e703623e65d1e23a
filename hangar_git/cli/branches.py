"""`branch`, `checkout`, `merge`."""
from __future__ import annotations

from typing import Optional

import click

from ..api.repository import Repository
from ..core import upstream
from ..errors import BranchExistsError
from .common import (State, api, first_line, fmt_digest, pass_state, require_identity_to_merge, unrelated_option,
                     complete_branches, complete_local_branches)


def list_branches(repo: Repository, verbose: bool, remotes: bool = False) -> None:
    """One line per branch, the write branch marked ``*``; with ``verbose`` its head and that
    commit's first line too, in columns aligned across local and remote-tracking branches."""
    current = repo.ctx.default_branch
    names = repo.list_branches(remotes=remotes)
    width = max(map(len, names), default=0)
    for name in names:
        mark = "*" if name == current else " "
        if not verbose:
            click.echo(f"{mark} {name}")
            continue
        head = repo.branch_head(name)
        message = first_line(repo.ctx.git.commit_info(head).message)
        click.echo(f"{mark} {name:<{width}}  {fmt_digest(head)} {message}")


@click.command()
@click.argument("name", required=False, shell_complete=complete_local_branches)
@click.argument("new_name", metavar="[NEW|START]", required=False)
@click.option("--base", metavar="COMMIT|BRANCH", shell_complete=complete_branches,
              help="Where the new branch starts (default: head of the write branch).")
@click.option("-d", "--delete", is_flag=True,
              help="Delete branch NAME (refused if its commits are on no other branch).")
@click.option("-D", "force_delete", is_flag=True, help="Delete branch NAME even if unmerged.")
@click.option("-m", "--move", is_flag=True,
              help="Rename branch NAME to NEW (NAME alone: rename the write branch to NAME); its staged "
                   "changes follow it.")
@click.option("-M", "force_move", is_flag=True, help="Rename even if NEW exists (it is replaced).")
@click.option("-v", "--verbose", is_flag=True, help="List each branch's head commit too.")
@click.option("-a", "--all", "all_branches", is_flag=True,
              help="List remote-tracking branches (origin/master, ...) too.")
@pass_state
def branch(state: State, name: Optional[str], new_name: Optional[str], base: Optional[str], delete: bool,
           force_delete: bool, move: bool, force_move: bool, verbose: bool, all_branches: bool) -> None:
    """List branches (the write branch marked *), create NAME, rename or delete it.

    \b
    branch NAME [START]        create NAME at START (a revision; or --base START;
                               default: the head of the write branch)
    branch -m [OLD] NEW        rename OLD (default: the write branch) to NEW
    branch -d NAME             delete NAME
    """
    repo = state.repo
    if sum((delete or force_delete, move or force_move)) > 1:
        raise click.UsageError("give one of -d/-D and -m/-M")
    if new_name is not None and not (move or force_move):  # `branch NAME START`, as in git
        if base is not None or delete or force_delete:
            raise click.UsageError(f"unexpected extra argument {new_name!r}: give the start as START or "
                                   f"--base, not both (rename with `branch -m OLD NEW`)")
        base, new_name = new_name, None
    if move or force_move:
        rename(state, name, new_name, force_move, base)
    elif delete or force_delete:
        if name is None or base is not None:
            raise click.UsageError("-d/-D takes a branch NAME (and no --base)")
        removed = repo.remove_branch(name, force_delete=force_delete)
        state.say(f"Deleted branch {name} (was {fmt_digest(removed.digest)})")
    elif name is not None:
        created = repo.create_branch(name, base_commit=base)
        tracked = upstream.of(repo.ctx.git, name)
        if tracked is not None:
            state.say(f"branch {name!r} set up to track {tracked.name!r}.")
        state.say(f"Created branch {name} at {fmt_digest(created.digest)}")
    elif base is not None:
        raise click.UsageError("--base needs a branch NAME to create")
    else:
        list_branches(repo, verbose, remotes=all_branches)


def rename(state: State, old: Optional[str], new: Optional[str], force: bool, base: Optional[str]) -> None:
    """`branch -m [OLD] NEW` and `-M`."""
    if old is None or base is not None:
        raise click.UsageError("-m/-M takes [OLD] NEW (and no --base)")
    repo = state.repo
    if new is None:
        old, new = repo.ctx.default_branch, old
    try:
        api(repo, "rename_branch", "branch -m")(old, new, force=force)
    except BranchExistsError as exc:
        raise click.ClickException(f"{exc}, or replace it with `git hangar branch -M {old} {new}`") from None
    state.say(f"Renamed branch {old} to {new}")


@click.command()
@click.argument("branch", shell_complete=complete_local_branches)
@click.argument("start", metavar="[START]", required=False, shell_complete=complete_branches)
@click.option("-b", "create", is_flag=True, help="Create BRANCH first, at START.")
@click.option("--base", metavar="COMMIT|BRANCH", shell_complete=complete_branches,
              help="With -b: the same as START.")
@pass_state
def checkout(state: State, branch: str, start: Optional[str], create: bool, base: Optional[str]) -> None:
    """Make BRANCH the write branch (where `add` and `commit` go).

    \b
    checkout BRANCH            switch to BRANCH; if it is no local branch but
                               exactly one remote has it (origin/BRANCH), create
                               it from that one, tracking it
    checkout -b BRANCH [START] create BRANCH at START (any revision; default: the
                               head of the write branch), then switch to it; from
                               a remote-tracking branch (origin/dev) it tracks it
    Refused while the write branch has staged changes (commit them, or discard
    them with `git hangar reset`) or a write checkout is open.
    """
    if start is not None and not create:
        raise click.UsageError(f"START goes with -b: `git hangar checkout -b {branch} {start}` creates "
                               f"{branch!r} at {start!r}")
    if start is not None and base is not None:
        raise click.UsageError("give the start as START or --base, not both")
    if base is not None and not create:
        raise click.UsageError("--base goes with -b")
    switched = state.repo.set_write_branch(branch, create=create, base_commit=start or base)
    if switched.upstream:
        state.say(f"branch {branch!r} set up to track {switched.upstream!r}.")
    if switched.already:
        state.say(f"Already on {branch!r}")
    else:
        state.say(f"Switched to {'a new ' if switched.created else ''}branch {branch!r}")


@click.command()
@click.argument("branches", nargs=-1, required=True, metavar="[MASTER] DEV", shell_complete=complete_branches)
@click.option("-m", "--message", help="Message of the merge commit (default: \"Merge branch 'DEV' into "
                                      "'MASTER'\").")
@click.option("-s", "--strategy", type=click.Choice(["ours", "theirs"]),
              help="Resolve each conflicting key (or column) with MASTER's version (ours) or DEV's (theirs).")
@unrelated_option
@pass_state
def merge(state: State, branches: tuple[str, ...], message: Optional[str], strategy: Optional[str],
          allow_unrelated: bool) -> None:
    """Merge branch DEV into MASTER (default: the write branch), fast-forward or 3-way.

    \b
    merge DEV          DEV into the write branch, as `git merge DEV`
    merge MASTER DEV   DEV into MASTER (Hangar's form)
    DEV may be a remote-tracking branch (origin/master). On conflicts nothing
    changes and each is listed; --strategy ours|theirs resolves them.
    """
    if len(branches) > 2:
        raise click.UsageError("merge takes DEV, or MASTER and DEV")
    repo = state.repo
    master, dev = (repo.ctx.default_branch, branches[0]) if len(branches) == 1 else branches
    before = repo.branch_head(master)
    require_identity_to_merge(repo, master, dev)
    with state.hush():
        digest = api(repo, "merge", "merge")(message or "", master, dev, strategy=strategy,
                                             allow_unrelated_histories=allow_unrelated)
    if digest != before:  # (when it is, the merge said "Already up to date")
        state.say(f"Merged {dev!r} into {master!r}: {fmt_digest(digest)}")


COMMANDS = [branch, checkout, merge]
