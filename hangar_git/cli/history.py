"""`commit`, `status`, `log`, `diff`, `summary`: recording and looking at history."""
from __future__ import annotations

import json
from typing import Any, Optional

import click

from ..api.repository import Repository
from ..bookkeeping.gitrepo import REMOTES
from ..core import upstream as upstreams
from ..errors import BranchNotFoundError, NothingToCommitError
from .common import (State, api, first_line, fmt_digest, pass_repo, pass_state, require_identity,
                     complete_branches)

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


@click.command()
@click.option("-m", "--message", "messages", multiple=True,
              help="Commit message (several -m become paragraphs; without -m an editor opens, as in git).")
@pass_state
def commit(state: State, messages: tuple[str, ...]) -> None:
    """Record the staging area as a new commit on the write branch.

    Without -m, the message is written in $GIT_EDITOR (else git's core.editor,
    $VISUAL, $EDITOR, vi); lines starting with '#' are dropped, and an empty
    message aborts the commit.
    """
    repo = state.repo
    with repo.checkout(write=True) as co:
        branch = co.branch_name
        if co.has_changes:
            require_identity(repo, "the commit")
        if messages:
            message = "\n\n".join(messages)
        else:
            if not co.has_changes:
                raise NothingToCommitError("nothing to commit: the staging area matches the branch head")
            from .editor import edit_message, message_path
            changes = str(repo.status()).rstrip("\n")
            message = edit_message(message_path(repo.ctx.hangar_dir), f"On branch {branch}\n{changes}",
                                   state.cwd)
            if not message:
                raise click.ClickException("Aborting commit due to empty commit message.")
        digest = co.commit(message)
    state.say(f"[{branch} {fmt_digest(digest)}] {first_line(message)}")


# -- status -----------------------------------------------------------------------------
def tracking(repo: Repository, branch: str, head: Optional[str]) -> list[dict[str, Any]]:
    """How far the write branch is ahead of and behind its upstream (the remote-tracking branch
    it tracks), or if it tracks none, each remote's REMOTE/BRANCH."""
    git = repo.ctx.git
    tracked = upstreams.of(git, branch)
    out = []
    for name, upstream in sorted(git.list_refs(REMOTES).items()):
        remote, _, tail = name.partition("/")
        if (name != tracked.name) if tracked is not None else (tail != branch):
            continue
        ahead, behind = git.ahead_behind(head, upstream) if head else (0, len(list(git.walk([upstream]))))
        out.append({"remote": remote, "branch": name, "ahead": ahead, "behind": behind})
    return out


def tracking_line(t: dict[str, Any]) -> str:
    if not t["ahead"] and not t["behind"]:
        return f"Up to date with {t['branch']}"
    if t["ahead"] and t["behind"]:
        return (f"Diverged from {t['branch']}: {t['ahead']} and {t['behind']} different commit(s) "
                f"(`git hangar pull {t['remote']}` merges them)")
    if t["ahead"]:
        return f"Ahead of {t['branch']} by {t['ahead']} commit(s) (`git hangar push {t['remote']}` sends them)"
    return f"Behind {t['branch']} by {t['behind']} commit(s) (`git hangar pull {t['remote']}` gets them)"


def samples_without_data(repo: Repository, head: Optional[str]) -> int:
    """How many samples of the head have no data on this machine."""
    from ..api.presence import samples_without_data as count
    return count(repo.ctx, head) if head else 0


@click.command()
@json_option
@pass_repo
def status(repo: Repository, as_json: bool) -> None:
    """Show the write branch, its head and what the staging area changes.

    Also how far the branch is ahead of and behind each remote's copy of it
    (as last fetched) and how many samples of its head have no data here.
    """
    branch = repo.ctx.default_branch
    try:
        head: Optional[str] = repo.branch_head(branch)
    except BranchNotFoundError:
        head = None
    if repo.ctx.git.is_bare:
        bare_status(repo, branch, head, as_json)
        return
    changes = api(repo, "status", "status")()
    remotes = tracking(repo, branch, head)
    missing = samples_without_data(repo, head)
    lock = repo.ctx.writer_lock()
    writer, stale = lock.holder(), lock.stale_holder()
    if as_json:
        echo_json({"bare": False, "branch": branch, "head": head, "writer_open": writer is not None,
                   "stale_writer": stale, "tracking": remotes,
                   "samples_without_data": missing, "changes": changes.to_dict(),
                   "clean": not changes.has_changes})
        return
    click.echo(f"On branch {branch}")
    echo_head(repo, head)
    for t in remotes:
        click.echo(tracking_line(t))
    if missing:
        from ..api.hints import fetch_data_hint
        click.echo(f"{missing} sample(s) of the head have no data on this machine: "
                   f"{fetch_data_hint(repo.ctx, [branch], them=True)}")
    staged = repo.ctx.staging.of(branch)
    if staged.changed and staged.base != head:
        click.echo(f"The staged changes were made on {fmt_digest(staged.base) if staged.base else 'no commit'} and "
                   f"{branch!r} has moved since: `git hangar commit` merges them onto its head (`git hangar reset` "
                   f"discards them)")
    if writer is not None:
        click.echo(f"A write checkout is open ({writer}): changes it has not flushed are not shown")
    elif stale is not None:
        click.echo(f"The write checkout of {stale} is gone (its process ended without closing it): changes it "
                   f"had not flushed are lost; the next write checkout recovers its lock")
    click.echo(str(changes).rstrip("\n"))


def echo_head(repo: Repository, head: Optional[str]) -> None:
    if head is None:
        click.echo("No commits yet")
    else:
        click.echo(f"Head: {fmt_digest(head)} {first_line(repo.ctx.git.commit_info(head).message)}")


def bare_status(repo: Repository, branch: str, head: Optional[str], as_json: bool) -> None:
    """A bare repository has no write branch nor staging area (as git has no work tree there):
    its default branch and head only."""
    if as_json:
        echo_json({"bare": True, "branch": branch, "head": head, "changes": None, "clean": True})
        return
    click.echo(f"Bare repository: no write branch and no staging area (clone it to add and commit); "
               f"default branch {branch}")
    echo_head(repo, head)


# -- log / diff / summary -------------------------------------------------------------------
def one_of(branch: Optional[str], commit: Optional[str]) -> None:
    if branch and commit:
        raise click.UsageError("give a branch or a commit, not both")


@click.command()
@click.argument("branch", required=False, shell_complete=complete_branches)
@click.option("--commit", help="Show the history of this commit instead.")
@click.option("--all", "all_branches", is_flag=True, help="Show every branch, remote ones too.")
@click.option("--time", "show_time", is_flag=True, help="Show commit times.")
@click.option("--user", "show_user", is_flag=True, help="Show commit authors.")
@click.option("--color/--no-color", default=None, help="Colour the graph (default: on a terminal).")
@click.option("-n", "--max-count", type=click.IntRange(min=0), metavar="N", help="Show only the newest N commits.")
@click.option("--oneline", is_flag=True, help="Abbreviate digests to 7 hex digits (each commit is one line).")
@json_option
@pass_repo
def log(repo: Repository, branch: Optional[str], commit: Optional[str], all_branches: bool,
        show_time: bool, show_user: bool, color: Optional[bool], max_count: Optional[int], oneline: bool,
        as_json: bool) -> None:
    """Show the commit graph of BRANCH (default: the write branch), newest first."""
    one_of(branch, commit)
    if all_branches and (branch or commit):
        raise click.UsageError("--all shows every branch: give no BRANCH or --commit")
    if as_json:
        contents = repo.log(branch=branch, commit=commit, all_branches=all_branches, return_contents=True,
                            max_count=max_count)
        echo_json(contents)
        return
    api(repo, "log", "log")(branch=branch, commit=commit, all_branches=all_branches, show_time=show_time,
                            show_user=show_user, color=color, max_count=max_count, abbrev=7 if oneline else None)


@click.command()
@click.option("--branch", shell_complete=complete_branches,
              help="Summarise the head of this branch (default: the write branch).")
@click.option("--commit", help="Summarise this commit.")
@json_option
@pass_repo
def summary(repo: Repository, branch: Optional[str], commit: Optional[str], as_json: bool) -> None:
    """Summarise the columns, samples and metadata of a commit."""
    one_of(branch, commit)
    if as_json:
        echo_json(repo.summary(branch=branch, commit=commit, return_contents=True))
        return
    api(repo, "summary", "summary")(branch=branch, commit=commit)


@click.command()
@click.argument("refs", nargs=-1, metavar="[A] [B]", shell_complete=complete_branches)
@click.option("--branch", metavar="DEV", shell_complete=complete_branches,
              help="What DEV changed since it forked from the write branch (or --onto).")
@click.option("--onto", metavar="BRANCH", shell_complete=complete_branches,
              help="With --branch: the branch DEV forked from.")
@click.option("--staged", "--cached", "staged", is_flag=True,
              help="The staging area against the head of the write branch (what `diff` alone shows).")
@json_option
@pass_repo
def diff(repo: Repository, refs: tuple[str, ...], branch: Optional[str], onto: Optional[str],
         staged: bool, as_json: bool) -> None:
    """Show what changed, column by column.

    \b
    diff             the staging area against the head of the write branch
    diff --staged    the same (also --cached, as in git: there is no
                     working tree besides the staging area)
    diff A           from A to the write branch
    diff A B         from A to B (also A..B, as in git)
    diff A...B       from the merge base of A and B to B
    diff --branch D  what branch D changed since it forked
    A and B are branches, REMOTE/BRANCH or commit digests.
    """
    if staged and (refs or branch):
        raise click.UsageError("--staged compares the staging area with the head of the write branch: "
                               "give no A, B or --branch with it")
    if len(refs) > 2:
        raise click.UsageError("diff takes at most two branches or commits")
    if onto and not branch:
        raise click.UsageError("--onto goes with --branch")
    if branch and refs:
        raise click.UsageError("give A [B] or --branch, not both")
    method = api(repo, "diff", "diff")
    result = method(branch=branch, onto=onto) if branch else method(*refs)
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(str(result).rstrip("\n"))


COMMANDS = [commit, status, log, summary, diff]
