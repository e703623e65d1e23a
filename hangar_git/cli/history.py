"""`commit`, `status`, `log`, `diff`, `summary`: recording and looking at history."""
from __future__ import annotations

from typing import Optional

import click

from ..api.repository import Repository
from ..errors import BranchNotFoundError
from .common import State, api, first_line, fmt_digest, pass_repo, pass_state


@click.command()
@click.option("-m", "--message", "messages", multiple=True, required=True,
              help="Commit message (several -m become paragraphs).")
@pass_state
def commit(state: State, messages: tuple[str, ...]) -> None:
    """Record the staging area as a new commit on the write branch."""
    message = "\n\n".join(messages)
    with state.repo.checkout(write=True) as co:
        digest = co.commit(message)
        branch = co.branch_name
    state.say(f"[{branch} {fmt_digest(digest)}] {first_line(message)}")


# -- status -----------------------------------------------------------------------------
@click.command()
@pass_repo
def status(repo: Repository) -> None:
    """Show the write branch, its head and what the staging area changes."""
    branch = repo.ctx.default_branch
    try:
        head: Optional[str] = repo.branch_head(branch)
    except BranchNotFoundError:
        head = None
    click.echo(f"On branch {branch}")
    if head is None:
        click.echo("No commits yet")
    else:
        message = repo.ctx.git.commit_info(head).message
        click.echo(f"Head: {fmt_digest(head)} {first_line(message)}")
    if repo.writer_lock_held:
        click.echo("A write checkout is open: changes it has not flushed are not shown")
    click.echo(str(api(repo, "status", "status")()).rstrip("\n"))


# -- log / diff / summary -------------------------------------------------------------------
def one_of(branch: Optional[str], commit: Optional[str]) -> None:
    if branch and commit:
        raise click.UsageError("give a branch or a commit, not both")


@click.command()
@click.argument("branch", required=False)
@click.option("--commit", help="Show the history of this commit instead.")
@click.option("--all", "all_branches", is_flag=True, help="Show every branch, remote ones too.")
@click.option("--time", "show_time", is_flag=True, help="Show commit times.")
@click.option("--user", "show_user", is_flag=True, help="Show commit authors.")
@click.option("--color/--no-color", default=None, help="Colour the graph (default: on a terminal).")
@pass_repo
def log(repo: Repository, branch: Optional[str], commit: Optional[str], all_branches: bool,
        show_time: bool, show_user: bool, color: Optional[bool]) -> None:
    """Show the commit graph of BRANCH (default: the write branch), newest first."""
    one_of(branch, commit)
    if all_branches and (branch or commit):
        raise click.UsageError("--all shows every branch: give no BRANCH or --commit")
    api(repo, "log", "log")(branch=branch, commit=commit, all_branches=all_branches,
                            show_time=show_time, show_user=show_user, color=color)


@click.command()
@click.option("--branch", help="Summarise the head of this branch (default: the write branch).")
@click.option("--commit", help="Summarise this commit.")
@pass_repo
def summary(repo: Repository, branch: Optional[str], commit: Optional[str]) -> None:
    """Summarise the columns, samples and metadata of a commit."""
    one_of(branch, commit)
    api(repo, "summary", "summary")(branch=branch, commit=commit)


@click.command()
@click.argument("refs", nargs=-1, metavar="[A] [B]")
@click.option("--branch", metavar="DEV",
              help="What DEV changed since it forked from the write branch (or --onto).")
@click.option("--onto", metavar="BRANCH", help="With --branch: the branch DEV forked from.")
@pass_repo
def diff(repo: Repository, refs: tuple[str, ...], branch: Optional[str], onto: Optional[str]) -> None:
    """Show what changed, column by column.

    \b
    diff             the staging area against the head of the write branch
    diff A           from A to the write branch
    diff A B         from A to B
    diff --branch D  what branch D changed since it forked
    A and B are branches, REMOTE/BRANCH or commit digests.
    """
    if len(refs) > 2:
        raise click.UsageError("diff takes at most two branches or commits")
    if onto and not branch:
        raise click.UsageError("--onto goes with --branch")
    if branch and refs:
        raise click.UsageError("give A [B] or --branch, not both")
    method = api(repo, "diff", "diff")
    result = method(branch=branch, onto=onto) if branch else method(*refs)
    click.echo(str(result).rstrip("\n"))


COMMANDS = [commit, status, log, summary, diff]
