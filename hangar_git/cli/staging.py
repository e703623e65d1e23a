"""`reset`, `rm` and `metadata`: changing the staging area other than by `add`."""
from __future__ import annotations

from typing import Any, Optional

import click

from ..bookkeeping.gitrepo import branch_ref
from ..errors import BranchNotFoundError
from .common import (State, pass_state, resolve_keys, str_keys_option, complete_columns)
from .data import staged_or_nothing
from .history import echo_json


@click.command()
@click.option("-b", "--branch", help="The write branch whose staging area to discard (default: the current one).")
@pass_state
def reset(state: State, branch: Optional[str]) -> None:
    """Discard every staged change of the write branch (back to its head)."""
    repo = state.repo
    target = branch or repo.ctx.default_branch
    if repo.ctx.git.get_ref(branch_ref(target)) is None and repo.list_branches():
        raise BranchNotFoundError(target)
    if not repo.reset_staging_area(target):
        state.say(f"Nothing to reset: the staging area of {target!r} matches its head")
        return
    state.say(f"Discarded the staged changes of {target!r}")


@click.command()
@click.argument("column", shell_complete=complete_columns)
@click.argument("keys", nargs=-1)
@click.option("--column", "whole_column", is_flag=True,
              help="Remove COLUMN itself, with every sample in it (give no KEYS).")
@str_keys_option
@click.option("-b", "--branch", help="Write branch to stage on (default: the current one).")
@pass_state
def rm(state: State, column: str, keys: tuple[str, ...], whole_column: bool, str_keys: bool,
       branch: Optional[str]) -> None:
    """Remove samples KEYS from COLUMN (or the whole column with --column) in the staging area.

    A KEY that looks like an integer names the int key, or the str key when the
    column has only that one (--str-keys: always the str key). Nothing is
    committed: run `git hangar commit` next. If any KEY does not exist, nothing
    is removed.
    """
    if not whole_column and not keys:
        raise click.UsageError(f"to remove column {column!r} itself, run `git hangar rm {column} --column`; to "
                               f"remove samples of it, give their keys after the column name")
    if whole_column and keys:
        raise click.UsageError("--column removes the whole column: give no KEYS with it (or run the command without "
                               "--column to remove only those samples)")
    with staged_or_nothing(state.repo, branch) as co:
        target = co.branch_name
        if whole_column:
            committed = _committed_column(state.repo, target, column)
            co.columns.delete(column)
            if not committed:
                state.say(f"Discarded column {column!r} on {target!r}: it was only staged (nothing of it to commit)")
                return
            message = f"Removed column {column!r}"
        else:
            col = co.columns[column]
            resolved = resolve_keys(col, keys, str_keys)
            with col:
                for key in resolved:
                    del col[key]
            message = f"Removed {len(resolved)} sample(s) from column {column!r}"
    state.say(f"{message} on {target!r}; record it with `git hangar commit`")


def _committed_column(repo: Any, branch: str, column: str) -> bool:
    """Whether the head of ``branch`` has ``column`` (False before the first commit)."""
    try:
        head = repo.branch_head(branch)
    except BranchNotFoundError:
        return False
    with repo.checkout(commit=head) as co:
        return column in co.columns


# -- metadata ----------------------------------------------------------------------------
@click.group(invoke_without_command=True)
@click.option("--rev", metavar="REV", help="Read the metadata of this commit or branch (default: the "
                                           "staging area of the write branch).")
@click.option("--json", "as_json", is_flag=True, help="List it as one JSON object: key -> value.")
@click.pass_context
def metadata(ctx: click.Context, rev: Optional[str], as_json: bool) -> None:
    """Show, set or delete commit metadata (without a subcommand: list it).

    The list is a KEY<TAB>VALUE line per key, with backslash, tab, newline and other
    control characters in VALUE escaped as \\\\, \\t, \\n, \\xNN (`metadata get KEY`
    prints a value as it is; --json lists them unescaped). Keys are 1-64 ASCII letters,
    digits, '.', '_' or '-', as in Hangar.
    """
    ctx.meta["metadata.rev"] = rev
    if ctx.invoked_subcommand is None:
        items = _read(ctx.find_object(State), rev)
        if as_json:
            echo_json(dict(items))
            return
        for key, value in items:
            click.echo(f"{key}\t{escaped(value)}")


_ESCAPES = {**{c: f"\\x{c:02x}" for c in range(32)}, 127: "\\x7f",
            ord("\\"): "\\\\", ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r"}


def escaped(value: str) -> str:
    """``value`` on one line: backslash and control characters escaped, as C and Python write them."""
    return value.translate(_ESCAPES)


def _read(state: Any, rev: Optional[str]) -> list[tuple[str, str]]:
    if rev:
        with state.repo.checkout(commit=rev) as co:
            return list(co.metadata.items())
    return list(_staged_metadata(state))


def _staged_metadata(state: Any) -> list[tuple[str, str]]:
    """The metadata the next commit would record (a read, so no writer lock is taken)."""
    repo = state.repo
    if repo.writer_lock_held:
        raise click.ClickException("a write checkout is open: close it first (its staged metadata is "
                                   "not flushed), or read a commit with --rev")
    with repo.checkout(write=True) as co:
        return list(co.metadata.items())


@metadata.command("get")
@click.argument("key")
@click.pass_context
def metadata_get(ctx: click.Context, key: str) -> None:
    """Print the value of metadata KEY."""
    state = ctx.find_object(State)
    values = dict(_read(state, ctx.meta.get("metadata.rev")))
    if key not in values:
        from ..errors import MetadataNotFoundError
        rev = ctx.meta.get("metadata.rev")
        raise MetadataNotFoundError(key, f"in {rev!r}" if rev else
                                    f"in the staging area of branch {ctx.obj.repo.ctx.default_branch!r}")
    click.echo(values[key])


@metadata.command("set")
@click.argument("key")
@click.argument("value")
@click.option("-b", "--branch", help="Write branch to stage on (default: the current one).")
@pass_state
def metadata_set(state: State, key: str, value: str, branch: Optional[str]) -> None:
    """Stage metadata KEY = VALUE."""
    with staged_or_nothing(state.repo, branch) as co:
        target = co.branch_name
        unchanged = key in co.metadata and co.metadata[key] == value
        if not unchanged:
            co.metadata[key] = value
    if unchanged:
        state.say(f"Metadata {key!r} on {target!r} is {value!r} already: nothing staged")
    else:
        state.say(f"Staged metadata {key!r} on {target!r}; record it with `git hangar commit`")


@metadata.command("delete")
@click.argument("key")
@click.option("-b", "--branch", help="Write branch to stage on (default: the current one).")
@pass_state
def metadata_delete(state: State, key: str, branch: Optional[str]) -> None:
    """Stage the removal of metadata KEY."""
    with staged_or_nothing(state.repo, branch) as co:
        del co.metadata[key]
        target = co.branch_name
    state.say(f"Staged the removal of metadata {key!r} on {target!r}; record it with `git hangar commit`")


COMMANDS = [reset, rm, metadata]
