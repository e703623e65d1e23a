"""`pull` and `ls-remote`: a remote's branches, and bringing one into the write branch."""
from __future__ import annotations

import json
from typing import Optional

import click

from ..bookkeeping.gitrepo import branch_ref
from ..core import upstream
from .common import (State, api, fmt_digest, pass_state, require_identity_to_merge, unrelated_option,
                     complete_local_branches, complete_remotes)
from .remotes import default_remote, remotes, trust_option


@click.command()
@click.argument("remote_name", metavar="[REMOTE]", required=False, shell_complete=complete_remotes)
@click.argument("branch", required=False, shell_complete=complete_local_branches)
@click.option("-m", "--message", help="Message of the merge commit, if one is made.")
@click.option("-s", "--strategy", type=click.Choice(["ours", "theirs"]),
              help="Resolve each conflicting key with the local version (ours) or the remote's (theirs).")
@unrelated_option
@trust_option
@pass_state
def pull(state: State, remote_name: Optional[str], branch: Optional[str], message: Optional[str],
         strategy: Optional[str], allow_unrelated: bool, trust_host_key: bool) -> None:
    """Fetch BRANCH from REMOTE and merge it into the write branch.

    REMOTE and BRANCH default to the branch the write branch tracks (set by
    `checkout -b NEW origin/dev`), else to origin (or the only remote) and the
    write branch's name. Like `fetch`, this moves commits, not sample data: run
    `git hangar fetch-data REMOTE` for the data.
    """
    repo = state.repo
    current = repo.ctx.default_branch
    tracked = upstream.of(repo.ctx.git, current)
    remote_name = remote_name or (tracked.remote if tracked else default_remote(state))
    if branch is None:
        branch = tracked.branch if tracked is not None and tracked.remote == remote_name else current
    handle = remotes(repo, "pull", state.quiet, trust_host_key)
    with state.hush():
        fetched = api(handle, "fetch_result", "pull")(remote_name, branch)
    tracking = fetched.tracking_name
    before = repo.ctx.git.get_ref(branch_ref(current))
    if before is None:  # nothing committed here yet: the branch starts at the remote's head
        repo.create_branch(current, base_commit=fetched.head)
        state.say(f"Created {current!r} at {tracking} ({fmt_digest(fetched.head)})")
        return
    require_identity_to_merge(repo, current, tracking)
    with state.hush():
        head = repo.merge(message or f"Merge {tracking} into '{current}'", current, tracking, strategy=strategy,
                          allow_unrelated_histories=allow_unrelated)
    if head != before:  # (when it is, the merge said "Already up to date")
        state.say(f"Merged {tracking} into {current!r}: {fmt_digest(head)}")


@click.command("ls-remote")
@click.argument("remote_name", metavar="[REMOTE]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: branch -> head digest.")
@trust_option
@pass_state
def ls_remote(state: State, remote_name: Optional[str], as_json: bool, trust_host_key: bool) -> None:
    """List the branches of REMOTE and their head commits.

    One DIGEST<TAB>BRANCH line per branch, as `git ls-remote` prints;
    REMOTE defaults to origin (or the only remote).
    """
    remote_name = remote_name or default_remote(state)
    heads = remotes(state.repo, "ls-remote", state.quiet, trust_host_key).list_remote_branches(remote_name)
    if as_json:
        click.echo(json.dumps(dict(sorted(heads.items())), indent=2))
        return
    for name, digest in sorted(heads.items()):
        click.echo(f"{fmt_digest(digest)}\t{name}")


COMMANDS = [pull, ls_remote]
