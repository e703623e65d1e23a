"""Maintenance commands: `fsck`, `gc`, `drop`."""
from __future__ import annotations

import json
import math
import sys
from typing import TYPE_CHECKING, Optional

import click

from ..api.repository import Repository
from .common import (State, pass_repo, pass_state, complete_branches, complete_columns, complete_remotes)

if TYPE_CHECKING:
    from ..api.gc import GcResult


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
              help="Keep unreferenced objects younger than this many seconds (in-flight writes), and "
                   "the pack files an earlier gc replaced as long (readers); 0 removes them now.")
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
    for line in gc_report(result, grace_seconds):
        state.say(line)


def gc_report(result: GcResult, grace_seconds: float) -> list[str]:
    """What a gc did, as it happened on disk, then what the grace period kept."""
    if not result.repacked and not result.freed_bytes:
        lines = [f"nothing to do: kept {result.kept} object(s), already in one pack"]
    else:
        lines = [f"removed {result.removed} object(s); kept {result.kept}"]
        if result.pack_files > 1:
            lines.append(f"packed the kept objects of {result.pack_files} pack files into one")
        lines.append(f"freed {result.freed_bytes:,} bytes" if result.freed_bytes >= 0
                     else f"the store grew by {-result.freed_bytes:,} bytes for now")
    if result.spared:
        lines.append(f"{result.spared} unreferenced object(s) stay: younger than the grace period "
                     f"({grace_seconds:g} s)")
    if result.waiting_bytes:
        lines.append(f"{result.waiting_bytes:,} bytes of replaced pack files stay for the grace period "
                     f"(another process may still read them): a gc in {math.ceil(result.waiting_seconds / 60)} "
                     f"minute(s) removes them")
    if result.spared or result.waiting_bytes:
        lines.append("`git hangar gc --grace 0` removes them now (if no other process uses the store)")
    return lines


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
