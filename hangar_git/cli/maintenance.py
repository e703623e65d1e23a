"""Maintenance commands: `fsck`, `gc`, `drop`."""
from __future__ import annotations

import json
import sys
from typing import Optional

import click

from ..api.repository import Repository
from .common import (State, pass_repo, pass_state, complete_branches, complete_columns, complete_remotes)


@click.command()
@click.option("--quick", is_flag=True, help="Skip re-hashing stored data (records and presence only).")
@click.option("--remote", "remote", metavar="REMOTE",
              help="Instead check that REMOTE holds the data of every sample its branches reference "
                   "(for a git host: its data store, e.g. the S3 bucket).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
@pass_repo
def fsck(repo: Repository, quick: bool, remote: Optional[str], as_json: bool) -> None:
    """Check records, that every sample's data is here or on a fetched remote, and stored bytes.

    Exits 1 and lists the problems when anything is wrong.
    """
    report = repo.fsck(quick=quick, remote=remote)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else str(report))
    if not report.ok:
        sys.exit(1)


@click.command()
@click.option("--grace", "grace_seconds", default=3600.0, show_default=True, type=float,
              help="Keep unreferenced objects younger than this many seconds (in-flight writes).")
@click.option("--forget", "forget", multiple=True, metavar="PATH",
              help="First unregister a repository that shared the store and is gone for good "
                   "(as gc's refusal names it; repeatable).")
@pass_state
def gc(state: State, grace_seconds: float, forget: tuple[str, ...]) -> None:
    """Free stored data that no commit (nor staging area) of any repository using the store references.

    Every repository registered in the data store counts (clones sharing one
    store, copies, linked worktrees). gc refuses, removing nothing, while a
    registered repository cannot be seen (moved away, deleted, on another
    host): run any command in it where it is now, or `--forget PATH` it.
    """
    result = state.repo.gc(grace_seconds=grace_seconds, forget=list(forget))
    for label in result.forgotten:
        state.say(f"forgot {label}: it no longer uses this store")
    if result.shared_with:
        state.say(f"kept what {len(result.shared_with)} other repositories sharing the store need: "
                  + ", ".join(result.shared_with))
    state.say(f"removed {result.removed} object(s), {result.removed_bytes:,} bytes; kept {result.kept}")
    if result.repacked and grace_seconds > 0:
        state.say(f"rewrote {result.repacked} pack(s) into one; the old files stay until a gc after the grace "
                  f"period (`git hangar gc --grace 0` removes them now)")


@click.command()
@click.argument("remote", shell_complete=complete_remotes)
@click.argument("branch", required=False, shell_complete=complete_branches)
@click.option("--commit", help="Drop the data of this commit instead of a branch head.")
@click.option("--column", "columns", multiple=True, shell_complete=complete_columns,
              help="Only these columns (repeatable).")
@pass_state
def drop(state: State, remote: str, branch: Optional[str], commit: Optional[str],
         columns: tuple[str, ...]) -> None:
    """Free local data of BRANCH (or --commit) that REMOTE is confirmed to hold.

    The samples become remote references; `fetch-data` brings them back.
    """
    if branch and commit:
        raise click.UsageError("give a branch or a commit, not both")
    result = state.repo.drop(remote, branch, commit, column_names=list(columns) or None)
    if not result.removed:
        state.say(f"nothing to drop; kept {result.kept}")
    else:
        state.say(f"dropped {result.removed} object(s), {result.removed_bytes:,} bytes; kept {result.kept}")


COMMANDS = [fsck, gc, drop]
