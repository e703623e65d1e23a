"""`remote`, `push`, `fetch`, `fetch-data`, `clone`: working with other repositories."""
from __future__ import annotations

import os
import re
import shutil
from typing import Any, Optional

import click

from ..api.remotes import check_git_remote_has_data
from ..api.repository import Repository
from ..bookkeeping.gitrepo import remote_ref
from ..core import upstream
from ..errors import NotInitializedError, RemoteNotFoundError
from .common import (State, api, fmt_digest, git_root, pass_repo, pass_state, complete_branches, complete_columns,
                     complete_local_branches, complete_remotes)
from .init import git_config, identity


def remotes(repo: Repository, command: str, quiet: bool = False, trust_host_key: bool = False) -> Any:
    """``repo.remote`` (its progress bars off with ``--quiet``, unknown SSH host
    keys accepted and saved with ``--trust-host-key``), or a one-line error if
    this build has no remotes."""
    handle = api(repo, "remote", command)
    if quiet and hasattr(handle, "quiet"):
        handle.quiet = True
    if trust_host_key:
        handle.trust_host_key = True
    return handle


trust_option = click.option(
    "--trust-host-key", is_flag=True,
    help="Accept an SSH server whose host key is not in known_hosts yet, and save its key "
         "there (check the fingerprint the server printed). A changed key is still refused.")


# -- remote add / remove / list --------------------------------------------------------
@click.group(invoke_without_command=True)
@click.option("-v", "--verbose", is_flag=True,
              help="Without a subcommand: each remote's address, as git prints it (NAME<TAB>ADDRESS (fetch) "
                   "and (push)), and its data store (NAME<TAB>DATA_URL (data)) if it has a separate one.")
@pass_state
def remote(state: State, verbose: bool) -> None:
    """Manage remotes (without a subcommand: list their names, as `git remote` does)."""
    if click.get_current_context().invoked_subcommand is not None:
        return
    for info in api(remotes(state.repo, "remote"), "list_all", "remote")():
        if not verbose:
            click.echo(info.name)
            continue
        click.echo(f"{info.name}\t{info.address} (fetch)\n{info.name}\t{info.address} (push)")
        if info.data_url:
            click.echo(f"{info.name}\t{info.data_url} (data)")


@remote.command("add")
@click.argument("name")
@click.argument("address")
@click.option("--data", "data_url", metavar="URL",
              help="ADDRESS is a plain git host (any git remote: a bare repository, ssh://, https://) and the "
                   "sample data lives at URL (s3://bucket/prefix or a shared folder); no hangar server runs.")
@pass_state
def remote_add(state: State, name: str, address: str, data_url: Optional[str]) -> None:
    """Add remote NAME at ADDRESS: a hangar server (ssh://[user@]host[:port]/path,
    host:path, a path), or with --data a git host plus a data store."""
    info = api(remotes(state.repo, "remote add"), "add", "remote add")(name, address, data_url=data_url)
    state.say(f"Added remote {info.name} -> {info.address}" + (f" (data: {info.data_url})" if info.data_url else ""))


@remote.command("remove")
@click.argument("name")
@pass_state
def remote_remove(state: State, name: str) -> None:
    """Remove remote NAME (and its remote-tracking branches)."""
    api(remotes(state.repo, "remote remove"), "remove", "remote remove")(name)
    state.say(f"Removed remote {name}")


@remote.command("set-url")
@click.argument("name", shell_complete=complete_remotes)
@click.argument("address")
@click.option("--data", "data_url", metavar="URL", help="Also move the data store of a git host remote to URL.")
@pass_state
def remote_set_url(state: State, name: str, address: str, data_url: Optional[str]) -> None:
    """Change the ADDRESS of remote NAME (its branches and upstreams stay)."""
    info = api(remotes(state.repo, "remote set-url"), "set_url", "remote set-url")(name, address, data_url=data_url)
    state.say(f"Remote {info.name} -> {info.address}" + (f" (data: {info.data_url})" if info.data_url else ""))


@remote.command("rename")
@click.argument("old", shell_complete=complete_remotes)
@click.argument("new")
@pass_state
def remote_rename(state: State, old: str, new: str) -> None:
    """Rename remote OLD to NEW: its remote-tracking branches become NEW/..., and branches
    that tracked OLD track NEW."""
    api(remotes(state.repo, "remote rename"), "rename", "remote rename")(old, new)
    state.say(f"Renamed remote {old} to {new}")


@remote.command("list")
@pass_repo
def remote_list(repo: Repository) -> None:
    """List remotes: NAME<TAB>ADDRESS per line (<TAB>DATA_URL for a git host plus a data store)."""
    for info in api(remotes(repo, "remote list"), "list_all", "remote list")():
        click.echo(f"{info.name}\t{info.address}" + (f"\t{info.data_url}" if info.data_url else ""))


def adopting(state: State, remote_name: str) -> Repository:
    """The repository; in a git repository without hangar whose git remote ``remote_name`` exists
    (a plain `git clone` of a code repository), hangar is initialised first, so its data can be
    fetched from the location that remote's git host publishes."""
    try:
        return state.repo
    except NotInitializedError:
        root = git_root(state.cwd)
        if root is None or not git_config(f"remote.{remote_name}.url", state.cwd):
            raise
    check_git_remote_has_data(root, remote_name)
    user, mail = identity(None, None)
    repo = Repository(root, exists=False)
    repo.init(user, mail)
    click.echo(f"Initialised hangar in {root} for the data of git remote {remote_name}", err=True)
    return repo


def default_remote(state: State) -> str:
    """`origin` if there is one, else the only remote (git's habit)."""
    names = [info.name for info in remotes(state.repo, "push").list_all()]
    if "origin" in names or not names:
        if not names:
            raise click.ClickException("this repository has no remotes: `git hangar remote add NAME ADDRESS` "
                                       "adds one")
        return "origin"
    if len(names) > 1:
        raise click.UsageError(f"several remotes ({', '.join(names)}) and none is origin: name the REMOTE")
    return names[0]


# -- push / fetch / fetch-data ----------------------------------------------------------
def push_line(remote_name: str, result: Any) -> str:
    """What one branch's push did, as git says it (nothing claimed when nothing moved)."""
    if result.up_to_date:
        return f"Everything up-to-date: {remote_name} has {result.branch} at {fmt_digest(result.new)}"
    moved = f"{result.old[:9]}..{result.new[:9]}" if result.old else "[new branch]"
    return (f"Pushed {result.branch} to {remote_name} ({moved}: {result.commits} commit(s), "
            f"{result.samples} sample(s), {result.bytes:,} bytes)")


@click.command()
@click.argument("remote_name", metavar="[REMOTE]", required=False, shell_complete=complete_remotes)
@click.argument("branches", nargs=-1, metavar="[BRANCH]...", shell_complete=complete_local_branches)
@click.option("--all", "all_branches", is_flag=True, help="Push every local branch.")
@click.option("-d", "--delete", is_flag=True, help="Delete BRANCH on REMOTE instead (its data stays there).")
@trust_option
@pass_state
def push(state: State, remote_name: Optional[str], branches: tuple[str, ...], all_branches: bool,
         delete: bool, trust_host_key: bool) -> None:
    """Send BRANCH (its commits and their data) to REMOTE.

    REMOTE defaults to the remote the write branch tracks (set by `checkout -b NEW
    origin/dev`), else to origin (or the only remote); BRANCH to the write branch;
    --all pushes every local branch; --delete BRANCH... deletes those branches on REMOTE.
    """
    repo = state.repo
    tracked = upstream.of(repo.ctx.git, repo.ctx.default_branch)
    remote_name = remote_name or (tracked.remote if tracked else default_remote(state))
    handle = remotes(repo, "push", state.quiet, trust_host_key)
    if delete:
        if all_branches or not branches:
            raise click.UsageError("--delete takes the BRANCH names to delete (and no --all)")
        for name in branches:
            old = handle.delete_branch(remote_name, name)
            state.say(f"Deleted {name} on {remote_name} (was {fmt_digest(old)})")
        return
    if all_branches and branches:
        raise click.UsageError("give BRANCH names or --all, not both")
    names = repo.list_branches(remotes=False) if all_branches else list(branches) or [repo.ctx.default_branch]
    for name in names:
        with state.hush():
            result = api(handle, "push_result", "push")(remote_name, name)
        state.say(push_line(remote_name, result))


@click.command()
@click.argument("remote_name", metavar="[REMOTE]", required=False, shell_complete=complete_remotes)
@click.argument("branch", required=False, shell_complete=complete_local_branches)
@click.option("--all", "all_remotes", is_flag=True, help="Fetch every branch of every remote.")
@click.option("--refetch", is_flag=True,
              help="Fetch all the commit records again, as a fresh clone would: repairs damaged git "
                   "objects once their files are removed (`git hangar fsck` says which).")
@trust_option
@pass_state
def fetch(state: State, remote_name: Optional[str], branch: Optional[str], all_remotes: bool, refetch: bool,
          trust_host_key: bool) -> None:
    """Get the commits of BRANCH from REMOTE as REMOTE/BRANCH (no sample data).

    REMOTE defaults to origin (or the only remote), as in git. Without BRANCH: every branch
    of REMOTE; with --all: of every remote.
    """
    if all_remotes and remote_name:
        raise click.UsageError("give REMOTE [BRANCH], or --all (every branch of every remote), not both")
    if not all_remotes and not remote_name:
        remote_name = default_remote(state)
    repo = adopting(state, remote_name) if remote_name else state.repo
    handle = remotes(repo, "fetch", state.quiet, trust_host_key)
    names = [remote_name] if remote_name else [info.name for info in handle.list_all()]
    if not names:
        raise click.ClickException("this repository has no remotes: `git hangar remote add NAME ADDRESS` adds one")
    for name in names:
        wanted = [branch] if branch else sorted(handle.list_remote_branches(name))
        for one in wanted:
            before = repo.ctx.git.get_ref(remote_ref(name, one))
            with state.hush():
                result = api(handle, "fetch_result", "fetch")(name, one, refetch=refetch)
            if result.head == before:
                state.say(f"{result.tracking_name} is up to date at {fmt_digest(result.head)}")
            else:
                moved = f"{before[:9]}..{result.head[:9]}" if before else "[new branch]"
                state.say(f"Fetched {result.tracking_name} ({moved})")


_SIZE_RE = re.compile(r"\s*(\d+)\s*([kmgt]?)i?b?\s*", re.IGNORECASE)


class ByteSize(click.ParamType):
    """A byte count: 500, 64k, 10M, 2G (powers of 1024)."""

    name = "bytes"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> int:
        if isinstance(value, int):
            return value
        match = _SIZE_RE.fullmatch(str(value))
        if match is None:
            self.fail(f"{value!r} is not a size such as 500, 64k, 10M or 2G", param, ctx)
        return int(match.group(1)) * 1024 ** " kmgt".index(match.group(2).lower() or " ")


def names_remote(state: State, word: str) -> bool:
    """Whether ``word`` is a remote (or an address) rather than a branch."""
    try:
        handle = remotes(state.repo, "fetch-data")
    except NotInitializedError:
        return True  # a git repository without hangar: only a git remote can be meant
    try:
        handle.info(word)
    except RemoteNotFoundError:
        return ":" in word or word.startswith(("/", ".", "~"))  # branch names never look like this
    return True


def remote_and_branch(state: State, first: Optional[str], second: Optional[str]) -> tuple[str, Optional[str]]:
    """fetch-data's ``[REMOTE] [BRANCH]``: two words are REMOTE BRANCH; one word is REMOTE if a
    remote has that name, else BRANCH. REMOTE defaults as push's does: the remote the branch
    tracks, else origin (or the only remote)."""
    if first is not None and (second is not None or names_remote(state, first)):
        return first, second
    try:
        git = state.repo.ctx.git
    except NotInitializedError:
        return "origin", first
    tracked = upstream.of(git, first or state.repo.ctx.default_branch)
    return (tracked.remote if tracked else default_remote(state)), first


@click.command("fetch-data")
@click.argument("remote_name", metavar="[REMOTE]", required=False, shell_complete=complete_remotes)
@click.argument("branch", metavar="[BRANCH]", required=False, shell_complete=complete_branches)
@click.option("--commit", help="Fetch the data of this commit instead of a branch head.")
@click.option("--column", "columns", multiple=True, metavar="NAME", shell_complete=complete_columns,
              help="Only this column (repeatable; default: all).")
@click.option("--max-bytes", type=ByteSize(), help="Stop after about this much data (e.g. 500M).")
@click.option("--all-history", is_flag=True, help="Also the data of every ancestor commit.")
@trust_option
@pass_state
def fetch_data(state: State, remote_name: Optional[str], branch: Optional[str], commit: Optional[str],
               columns: tuple[str, ...], max_bytes: Optional[int], all_history: bool,
               trust_host_key: bool) -> None:
    """Get sample data from REMOTE: of the head of BRANCH (default: the write
    branch; REMOTE/BRANCH if there is no local one), or of --commit.

    REMOTE defaults to the remote the branch tracks, else to origin (or the only
    remote), as push's does; a single word is REMOTE if a remote has that name,
    else BRANCH.
    """
    remote_name, branch = remote_and_branch(state, remote_name, branch)
    if branch and commit:
        raise click.UsageError("give a BRANCH or --commit, not both")
    repo = adopting(state, remote_name)
    if not commit:
        branch = branch or repo.ctx.default_branch
    method = api(remotes(repo, "fetch-data", state.quiet, trust_host_key), "fetch_data_result", "fetch-data")
    with state.hush():
        result = method(remote_name, branch=branch, commit=commit,
                        column_names=list(columns) or None, max_num_bytes=max_bytes,
                        retrieve_all_history=all_history)
    what = f"{len(result.commits)} commit(s)" if all_history else (branch or f"commit {commit}")
    if result.samples == 0 and result.complete:
        state.say(f"Already up to date: every sample of {what} has its data here")
        return
    state.say(f"Fetched {result.samples} sample(s), {result.bytes:,} bytes of {what} from {remote_name}")
    if not result.complete:
        click.echo(f"Warning: stopped at --max-bytes: some samples of {what} still have no data here "
                   f"(run fetch-data again to get more)", err=True)


# -- clone ------------------------------------------------------------------------------
def default_dir(address: str) -> str:
    """`git clone`'s rule: the last path component, without `.git`."""
    tail = re.split(r"[/:]", address.rstrip("/:"))[-1]
    tail = tail[:-4] if tail.endswith(".git") and len(tail) > 4 else tail
    return tail or "hangar-repo"


@click.command()
@click.argument("address")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--name", help="Author name for commits (default: git config user.name).")
@click.option("--email", help="Author email for commits (default: git config user.email).")
@click.option("-b", "--branch", help="Clone this branch (default: the remote's default branch).")
@click.option("--remote-command", metavar="CMD",
              help="Program to run on an SSH remote instead of `git-hangar` (kept as remote.origin.hangarcommand).")
@trust_option
@pass_state
def clone(state: State, address: str, directory: Optional[str], name: Optional[str],
          email: Optional[str], branch: Optional[str], remote_command: Optional[str],
          trust_host_key: bool) -> None:
    """Clone the repository at ADDRESS into DIRECTORY: the default branch's
    history, no sample data (get it with `fetch-data`)."""
    target = os.path.abspath(directory or default_dir(address))
    if os.path.exists(target) and (not os.path.isdir(target) or os.listdir(target)):
        raise click.ClickException(f"{target!r} exists and is not empty")
    user, mail = identity(name, email)
    repo = Repository(target, exists=False)
    remotes(repo, "clone", state.quiet, trust_host_key).remote_command = remote_command
    existed = os.path.isdir(target)
    try:
        with state.hush():
            api(repo, "clone", "clone")(user, mail, address, branch=branch)
    except BaseException:
        # like git clone: a failed clone leaves no half-made repository to block a retry
        shutil.rmtree(target, ignore_errors=True)
        if existed:
            os.makedirs(target, exist_ok=True)
        raise
    state.say(f"Cloned {address} into {target}")


COMMANDS = [remote, push, fetch, fetch_data, clone]
