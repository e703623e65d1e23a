"""`git hangar init`."""
from __future__ import annotations

import os
import subprocess
from typing import Optional

import click

from ..api.hints import fetch_data_hint
from ..api.repository import Repository
from ..errors import RepositoryExistsError
from .common import State, git_root, pass_state


def git_config(key: str, cwd: str) -> Optional[str]:
    """A value of git's own configuration (repo, global, system), or None."""
    try:
        out = subprocess.run(["git", "config", "--get", key], cwd=cwd, capture_output=True,
                             text=True, check=False)
    except OSError:
        return None
    value = out.stdout.strip()
    return value if out.returncode == 0 and value else None


def identity(name: Optional[str], email: Optional[str]) -> tuple[str, str]:
    """Author name and email to record at init or clone: only what the options give. Without
    them nothing is recorded and each commit takes git's identity of its time (GIT_AUTHOR_NAME,
    user.name, ...), as git does; neither init nor clone makes a commit, so neither needs one
    (`commit` asks for it when it is still unset, see :func:`require_identity`)."""
    return name or "", email or ""


@click.command()
@click.argument("path", required=False, type=click.Path(file_okay=False))
@click.option("--name", help="Author name for this repository's commits (default: git's identity "
                                "when each commit is made: GIT_AUTHOR_NAME, user.name).")
@click.option("--email", help="Author email for this repository's commits (default: git's identity "
                                 "when each commit is made: GIT_AUTHOR_EMAIL, user.email).")
@click.option("--bare", is_flag=True, help="Create a bare git repository (when PATH has none yet).")
@click.option("--store", metavar="URI",
              help="Where the data lives: a TileDB URI (s3://bucket/prefix) or a path, relative to "
                   "the current directory (default: inside the git dir).")
@click.option("--remove-old", is_flag=True,
              help="Start over: delete this repository's hangar branches and data first "
                   "(a store other repositories share keeps its data).")
@pass_state
def init(state: State, path: Optional[str], name: Optional[str], email: Optional[str],
         bare: bool, store: Optional[str], remove_old: bool) -> None:
    """Create a hangar repository.

    Without PATH: in the git repository the current directory is in (found
    from any subdirectory or linked worktree, as every command finds it), or
    in the current directory (which becomes a git repository) if there is
    none. With PATH (`init .` too): exactly there, a nested git repository
    if PATH is inside another, as `git init PATH` makes. No git identity is
    needed: `commit` asks for user.name and user.email when it records one.
    In a hangar repository whose data store is gone (deleted), it makes an
    empty one there, keeping branches and history (fetch-data refills it).
    """
    target = os.path.abspath(path) if path else (git_root(state.cwd) or state.cwd)
    user, mail = identity(name, email)
    repo = Repository(target, exists=False)
    try:
        repo.init(user, mail, remove_old=remove_old, bare=bare, store_uri=store)
    except RepositoryExistsError:
        if not remove_old and store is None and repo.initialized and repo.recreate_store():
            hint = fetch_data_hint(repo.ctx, [repo.ctx.default_branch], them=True)
            state.say(f"Re-created an empty data store for {target}: its branches and history are kept, its "
                      f"sample data is not here any more ({hint})")
            return
        if path is None and target != state.cwd:  # found from a subdirectory, as every command finds it
            raise click.ClickException(
                f"{target!r}, the git repository this directory is in, is already a hangar repository: "
                f"use it from here as it is, pass --remove-old to start over (this deletes its hangar "
                f"data), or run `git hangar init .` for a separate repository nested in this "
                f"directory (as `git init .` makes one)") from None
        raise RepositoryExistsError(target, "--remove-old") from None
    state.say(f"Initialized hangar repository in {target}")


COMMANDS = [init]
