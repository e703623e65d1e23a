"""What every command module shares: the state in ``ctx.obj``, repository
discovery, progress bars, digest formatting and the guard for API methods
this build does not have yet."""
from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, TypeVar

import click
from click.shell_completion import CompletionItem

from ..api.repository import Repository
from ..core import locate
from ..core.layout import author_identity

if TYPE_CHECKING:
    from tqdm import tqdm

F = TypeVar("F", bound=Callable[..., Any])


class State:
    """``ctx.obj``: where the command runs, ``--quiet``, and the repository
    (found lazily, so ``init``, ``clone`` and ``--help`` need none)."""

    def __init__(self, cwd: str, quiet: bool = False) -> None:
        self.cwd = cwd
        self.quiet = quiet
        self._repo: Optional[Repository] = None

    @property
    def repo(self) -> Repository:
        if self._repo is None:
            self._repo = discover(self.cwd)
        return self._repo

    @property
    def opened(self) -> Optional[Repository]:
        """The repository if this command found it already, else None (nothing is searched)."""
        return self._repo

    def say(self, message: str) -> None:
        """An informational line on stdout (silent with ``--quiet``)."""
        if not self.quiet:
            click.echo(message)

    def progress(self, desc: str, total: Optional[int] = None, unit: str = "sample") -> "tqdm":
        """A progress bar on stderr; off with ``--quiet`` or when stderr is no terminal."""
        from tqdm import tqdm
        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                    disable=self.quiet or not _isatty(sys.stderr), dynamic_ncols=True)

    @contextlib.contextmanager
    def hush(self) -> Iterator[None]:
        """With ``--quiet``, swallow what API calls print on stdout."""
        if not self.quiet:
            yield
            return
        with contextlib.redirect_stdout(io.StringIO()):
            yield


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def git_root(start: str) -> Optional[str]:
    """The top of the git repository containing ``start`` (this work tree's top
    directory, or the git dir of a bare repository), or None."""
    git = locate.find_git(start)
    return git.root if git is not None else None


def discover(start: str) -> Repository:
    """The hangar repository containing ``start`` (itself, a parent, or a linked worktree's
    repository), like git (see :mod:`hangar_git.core.locate`)."""
    locate.require(start)
    return Repository(start, exists=False)


pass_state = click.make_pass_decorator(State)


def pass_repo(f: F) -> F:
    """Give the command the discovered Repository as its first argument."""
    @pass_state
    def wrapper(state: State, *args: Any, **kwargs: Any) -> Any:
        return f(state.repo, *args, **kwargs)
    return functools.update_wrapper(wrapper, f)  # type: ignore[return-value]


def api(obj: Any, name: str, command: str) -> Any:
    """``obj.name``, or a one-line error when this build lacks that API."""
    try:
        return getattr(obj, name)
    except AttributeError:
        raise click.ClickException(
            f"`git hangar {command}` is not available in this build of hangar-git") from None


def without_missing_data_warning(command: F) -> F:
    """For commands that read no sample data, or only the samples named (each missing one is an
    error then): the checkout's warning about other samples would be noise."""
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        import warnings

        from ..errors import DamagedDataWarning, MissingDataWarning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingDataWarning)
            warnings.simplefilter("ignore", DamagedDataWarning)
            return command(*args, **kwargs)
    return run  # type: ignore[return-value]


def fmt_digest(digest: str) -> str:
    """A commit digest as printed everywhere: ``a=<40 hex>``."""
    return digest if digest.startswith("a=") else f"a={digest}"


def first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


# -- sample keys typed on the command line ------------------------------------------------
unrelated_option = click.option(
    "--allow-unrelated-histories", "allow_unrelated", is_flag=True,
    help="Merge even if the two histories share no commit (refused otherwise, as by git: "
         "usually another dataset's repository).")

str_keys_option = click.option(
    "--str-keys", is_flag=True,
    help="KEYS are str keys even where they look like integers ('1' rather than 1).")


def resolve_keys(col: Any, texts: Any, str_keys: bool = False) -> list[Any]:
    """The keys of ``col`` that ``texts`` name, read as ``ls`` and ``export`` write them: an
    integer-looking text is the int key, or the str key when only that one exists; a quoted
    text (``'1'``) is the str key inside the quotes (``str_keys``: every text is a str key as
    typed); a key not in ``col`` is an error."""
    from ..api.keytext import key_from_text
    from ..errors import SampleNotFoundError
    out: list[Any] = []
    for text in texts:
        candidates: list[Any] = [text]
        if not str_keys:
            parsed = key_from_text(text)
            if parsed != text:
                candidates.insert(0, parsed)  # 1 before '1', and the key 'x' before the text "'x'"
        present = [k for k in candidates if k in col]
        if not present:
            raise SampleNotFoundError(col.name, candidates[0])
        out.append(present[0])
    return out


# -- author identity --------------------------------------------------------------------
IDENTITY_HELP = ('run `git config --global user.name "Your Name"` and `git config --global user.email '
                 'you@example.com` (or drop --global to set it for this repository only)')


def require_identity(repo: Repository, action: str) -> None:
    """Refuse ``action`` (which makes a commit) while no author identity is set: neither the one
    `init`/`clone` recorded nor git's user.name and user.email (git refuses the same way)."""
    missing = [key for key, value in zip(("user.name", "user.email"), author_identity(repo.ctx.git)) if not value]
    if missing:
        raise click.ClickException(f"author identity unknown ({' and '.join(missing)} not set), so {action} "
                                   f"was refused: {IDENTITY_HELP}")


def require_identity_to_merge(repo: Repository, master: str, dev: str) -> None:
    """:func:`require_identity` when merging ``dev`` into ``master`` makes a merge commit (a
    fast-forward, or a merge of what is already there, makes none and needs no identity)."""
    from ..errors import HangarError
    git = repo.ctx.git
    try:
        ours, theirs = repo.branch_head(master), repo.resolve(dev)
        if git.is_ancestor(ours, theirs) or git.is_ancestor(theirs, ours):
            return
    except HangarError:
        return  # the merge itself says what is wrong with the names
    require_identity(repo, f"merging {dev!r} into {master!r}")


def resolve_rev(repo: Repository, rev: str) -> str:
    """The commit ``rev`` names: a branch, REMOTE/BRANCH, or any commit revision."""
    from ..api.diff import resolve
    return resolve(repo.ctx.git, rev)


def open_rev(repo: Repository, rev: Optional[str], **options: Any) -> Any:
    """A read checkout of ``rev`` (default HEAD): of the branch when ``rev`` names a local branch
    (so that its advice names the branch, as fetch-data takes it), else of the commit."""
    from ..bookkeeping.gitrepo import branch_ref
    digest = resolve_rev(repo, rev or "HEAD")
    branch = repo.ctx.default_branch if rev in (None, "HEAD") else rev
    if isinstance(branch, str) and repo.ctx.git.get_ref(branch_ref(branch)) == digest:
        return repo.checkout(branch=branch, **options)
    return repo.checkout(commit=digest, **options)

# -- shell completion of names in the repository ------------------------------------------
# click's ``shell_complete`` callbacks (the scripts of cli/completion.py ask click): branches,
# columns and remotes, read from git records only (no store, numpy or TileDB), in the repository
# the command line would run in (``-C PATH`` included); outside one they offer nothing.
def _completion_directory(ctx: click.Context) -> str:
    """Where the command line would run: its ``-C PATH`` (relative to the current directory)."""
    path = os.getcwd()
    for each in reversed(_context_chain(ctx)):
        given = each.params.get("directory")
        if given:
            path = os.path.join(path, given)
    return path


def _context_chain(ctx: click.Context) -> list[click.Context]:
    out = []
    current: Optional[click.Context] = ctx
    while current is not None:
        out.append(current)
        current = current.parent
    return out


def _completion_git(ctx: click.Context) -> Any:
    from ..core import locate
    try:
        return locate.find(_completion_directory(ctx))
    except Exception:  # no repository, or one that cannot be read: nothing to offer
        return None


def _completion_items(names: Any, incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(n) for n in sorted(set(names)) if n.startswith(incomplete)]


def complete_local_branches(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Local branch names (what `checkout` and `branch -d` take)."""
    from ..bookkeeping.gitrepo import HEADS
    git = _completion_git(ctx)
    return _completion_items(git.list_refs(HEADS) if git is not None else (), incomplete)


def complete_branches(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Local and remote-tracking branch names (what a revision may be)."""
    from ..bookkeeping.gitrepo import HEADS, REMOTES
    git = _completion_git(ctx)
    if git is None:
        return []
    return _completion_items([*git.list_refs(HEADS), *git.list_refs(REMOTES)], incomplete)


def complete_remotes(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Remote names (hangar remotes and git remotes)."""
    git = _completion_git(ctx)
    if git is None:
        return []
    from ..core.layout import remote_urls
    git_remotes = [key[len("remote."):-len(".url")] for key in git.config_items("remote.")
                   if key.endswith(".url")]
    return _completion_items([*remote_urls(git), *git_remotes], incomplete)


def complete_columns(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The columns at the revision given earlier on the line (REV, --branch, --commit), else at
    the write branch's head, and those staged on it."""
    from ..bookkeeping.gitrepo import branch_ref
    from ..core import layout, revisions
    from ..core.staging import StagingArea
    git = _completion_git(ctx)
    if git is None:
        return []
    rev = ctx.params.get("rev") or ctx.params.get("commit") or ctx.params.get("branch")
    names: set[str] = set()
    try:
        heads = [revisions.resolve(git, rev)] if isinstance(rev, str) and rev else [
            git.get_ref(branch_ref(layout.default_branch(git))), StagingArea(git).ref()]
        for commit in heads:
            if commit is not None:
                tree = git.commit_info(commit).tree
                names.update(git.tree_entries(git.tree_lookup(tree, ("columns",))))
    except Exception:  # an unknown REV, or no commit yet: nothing to offer
        pass
    return _completion_items(names, incomplete)
