"""`git hangar`: the root command group.

The root group puts a :class:`~.common.State` into ``ctx.obj`` (the
repository is discovered lazily from the current directory or ``-C PATH``);
the commands in the sibling modules are thin wrappers over the Python API.

Errors are turned into output in one place, :meth:`HangarGroup.invoke`:
every :class:`~hangar_git.errors.HangarError` becomes ``Error: <message>``
on stderr with exit code 1 (click's usage errors keep exit code 2), and
every warning becomes one ``Warning: <message>`` line on stderr.

Commands load lazily: :data:`COMMANDS` names each command's module and its
one-line help, so ``git hangar -h`` and ``--version`` import neither the API
nor numpy, TileDB, pygit2 or paramiko, and a command imports only its own
module (tests/cli/test_startup.py keeps the table equal to the commands).
To add a command, put it in a ``cli/<name>.py`` module's ``COMMANDS`` list
and add a line to :data:`COMMANDS`.
"""
from __future__ import annotations

import importlib
import os
import sys
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence

import click

from ..version import __version__
from . import INTERRUPTED_LINE
from ..errors import HangarError, MergeConflictError, UnrelatedHistoriesError

COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init", "Create a hangar repository."),
    "add": ("data", "Import FILES into COLUMN of the staging area."),
    "export": ("data", "Write the samples of COLUMN to files in OUT_DIR (created if needed)."),
    "commit": ("history", "Record the staging area as a new commit on the write branch."),
    "status": ("history", "Show the write branch, its head and what the staging area changes."),
    "log": ("history", "Show the commit graph of BRANCH (default: the write branch), newest first."),
    "summary": ("history", "Summarise the columns, samples and metadata of a commit."),
    "diff": ("history", "Show what changed, column by column."),
    "branch": ("branches", "List branches (the write branch marked *), create NAME, rename or delete it."),
    "checkout": ("branches", "Make BRANCH the write branch (where `add` and `commit` go)."),
    "merge": ("branches", "Merge branch DEV into MASTER (default: the write branch), fast-forward or 3-way."),
    "remote": ("remotes", "Manage remotes (without a subcommand: list their names, as `git remote` does)."),
    "push": ("remotes", "Send BRANCH (its commits and their data) to REMOTE."),
    "fetch": ("remotes", "Get the commits of BRANCH from REMOTE as REMOTE/BRANCH (no sample data)."),
    "fetch-data": ("remotes", "Get sample data from REMOTE: of the head of BRANCH (default: the write branch; "
                              "REMOTE/BRANCH if there is no local one), or of --commit."),
    "clone": ("remotes", "Clone the repository at ADDRESS into DIRECTORY: the default branch's history, no "
                         "sample data (get it with `fetch-data`)."),
    "serve": ("serve", "Speak the hangar protocol for the repository at PATH on stdin/stdout."),
    "server": ("serve", "Run a standalone SSH server for the repositories under --root."),
    "fsck": ("maintenance", "Check records, that every sample's data is here or on a fetched remote, and "
                            "stored bytes."),
    "gc": ("maintenance", "Free stored data that no commit (nor staging area) of any repository using the "
                          "store references."),
    "drop": ("maintenance", "Free local data of BRANCH (or --commit) that REMOTE is confirmed to hold."),
    "reset": ("staging", "Discard every staged change of the write branch (back to its head)."),
    "rm": ("staging", "Remove samples KEYS from COLUMN (or the whole column with --column) in the staging "
                      "area."),
    "metadata": ("staging", "Show, set or delete commit metadata (without a subcommand: list it)."),
    "show": ("show", "Show a commit, a column of it, or one sample (REV COLUMN KEY)."),
    "ls": ("show", "List the columns of REV, or the keys of COLUMN at REV."),
    "pull": ("sync", "Fetch BRANCH from REMOTE and merge it into the write branch."),
    "ls-remote": ("sync", "List the branches of REMOTE and their head commits."),
    "completion": ("completion", "Print the completion script for SHELL (bash or zsh)."),
    "help": ("help", "Show the help of COMMAND (without one: the list of commands)."),
}
"""Command name -> (module under ``hangar_git.cli``, the command's one-line help)."""

INTERRUPTED = 130
"""Exit status after SIGINT (128 + 2, as shells report it)."""

QUIET_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


class DomainError(click.ClickException):
    """A domain error shown as one ``Error:`` line, exit code 1."""

    exit_code = 1


@contextmanager
def warnings_as_lines() -> Iterator[None]:
    """Show each warning as one ``Warning: ...`` line on stderr."""
    def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        click.echo(f"Warning: {message}", err=True)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        for category in QUIET_WARNINGS:
            warnings.simplefilter("ignore", category)
        warnings.showwarning = show
        yield


class HangarGroup(click.Group):
    """The root group: loads a command's module when that command runs, and converts
    domain errors and warnings for every command."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"{__package__}.{COMMANDS[cmd_name][0]}")
        return with_global_options(next(c for c in module.COMMANDS if c.name == cmd_name))

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        """The command ``args[0]`` names; a mistyped one is a usage error that names the
        commands it is close to, as git does."""
        if args and args[0] not in COMMANDS and not args[0].startswith("-") and not ctx.resilient_parsing:
            from .suggest import close_names, did_you_mean
            near = close_names(args[0], COMMANDS)
            if near:
                ctx.fail(f"No such command {args[0]!r}: {did_you_mean(near)}")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from :data:`COMMANDS` (no module is imported for ``-h``)."""
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, _shorten(COMMANDS[name][1], limit)) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        with warnings_as_lines():
            try:
                return super().invoke(ctx)
            except HangarError as exc:
                from .suggest import with_hint
                raise DomainError(with_hint(one_line(exc), exc, ctx.obj)) from exc
            except click.exceptions.Exit:
                raise
            except (click.ClickException, click.Abort):
                raise
            except Exception as exc:
                from .failures import environment_failure
                message = environment_failure(exc, ctx.obj)
                if message is None:
                    raise
                raise DomainError(message) from exc
            except KeyboardInterrupt:  # Ctrl-C: one line and the shell's status for SIGINT
                click.echo(INTERRUPTED_LINE, err=True)
                ctx.exit(INTERRUPTED)


# -- global options anywhere on the line, as `git -C PATH status -q` and `status -q` both work --
def _quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    state = ctx.find_object(_state_class())
    if value and state is not None:
        state.quiet = True


def _directory(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> None:
    state = ctx.find_object(_state_class())
    if value is not None and state is not None and not ctx.resilient_parsing:
        os.chdir(value)  # relative to an earlier -C, as in git; the root context restores the cwd
        state.cwd = os.getcwd()


def _state_class() -> type:
    from .common import State
    return State


GLOBAL_FLAG = "_hangar_global_options"


def with_global_options(command: click.Command) -> click.Command:
    """``command`` (and its subcommands) also accepting ``-q`` and ``-C PATH`` after its name."""
    if getattr(command, GLOBAL_FLAG, False):
        return command
    names = {opt for p in command.params for opt in getattr(p, "opts", [])}
    if "-q" not in names:
        command.params.append(click.Option(["-q", "--quiet", "_global_quiet"], is_flag=True, expose_value=False,
                                           callback=_quiet, help="Same as `git hangar -q`."))
    if "-C" not in names:
        command.params.append(click.Option(["-C", "_global_directory"], metavar="PATH", expose_value=False,
                                           type=click.Path(exists=True, file_okay=False),
                                           callback=_directory, help="Same as `git hangar -C PATH`."))
    setattr(command, GLOBAL_FLAG, True)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            with_global_options(sub)
    return command


def one_line(exc: HangarError) -> str:
    """The error as one line (a remote's stderr joined in); merge conflicts keep their list.
    An error that names an API option (``explain``) names the command line's instead."""
    if isinstance(exc, (MergeConflictError, UnrelatedHistoriesError)):
        return exc.explain("cli")
    text = str(exc) or type(exc).__name__
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


@click.group(cls=HangarGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-C", "directory", metavar="PATH",
              type=click.Path(exists=True, file_okay=False),
              help="Run as if started in PATH (like `git -C`).")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress bars and no confirmation messages.")
@click.version_option(__version__, prog_name="hangar-git")
@click.pass_context
def cli(ctx: click.Context, directory: Optional[str], quiet: bool) -> None:
    """Version control for tensor data, as a git extension.

    Data is added to columns in a staging area (`add`), recorded with
    `commit`, and shared with remotes (`push`, `fetch`, `fetch-data`).
    The repository is found in the current directory or its parents.
    """
    try:
        previous: Optional[str] = os.getcwd()
    except FileNotFoundError:  # the shell's directory was deleted under it
        previous = None
    if directory is not None and (previous is not None or os.path.isabs(directory)):
        os.chdir(directory)
    elif previous is None:
        raise DomainError("the current directory no longer exists (it was deleted or moved): cd to an "
                          "existing directory, or give `git hangar -C PATH`")
    if previous is not None:
        ctx.call_on_close(lambda: os.chdir(previous))  # type: ignore[arg-type]
    from .common import State
    ctx.obj = State(os.getcwd(), quiet=quiet)


def _shorten(text: str, limit: int) -> str:
    """Click's own shortening of a command's help for the list (up to ``limit`` characters)."""
    return click.Command("x", help=text).get_short_help_str(limit=max(limit, 45))


def main(argv: Optional[Sequence[str]] = None) -> Any:
    """Console-script entry point (``git-hangar``): click's standalone handling, except that a
    Ctrl-C while click reads the line or loads a command prints the same line and status as
    one during the command (click printed "Aborted!" with status 1)."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="git hangar",
                        complete_var="_GIT_HANGAR_COMPLETE", standalone_mode=False)
    except click.Abort:
        click.echo(INTERRUPTED_LINE, err=True)
        sys.exit(INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(code if type(code) is int else 0)  # an int is ctx.exit's status; commands return None


if __name__ == "__main__":  # pragma: no cover
    main()
