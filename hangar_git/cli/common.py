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

from ..api.repository import Repository
from ..bookkeeping.gitrepo import GitRepo
from ..errors import NotInitializedError

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
    git = GitRepo.find(start)
    return git.root if git is not None else None


def discover(start: str) -> Repository:
    """The hangar repository containing ``start`` (itself, a parent, or a linked worktree's
    repository), like git."""
    repo = Repository(start, exists=False)
    if not repo.initialized:
        raise NotInitializedError(git_root(start) or os.path.abspath(start))
    return repo


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


def fmt_digest(digest: str) -> str:
    """A commit digest as printed everywhere: ``a=<40 hex>``."""
    return digest if digest.startswith("a=") else f"a={digest}"


def first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""
