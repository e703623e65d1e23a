"""`git hangar`: the root command group.

The root group puts a :class:`~.common.State` into ``ctx.obj`` (the
repository is discovered lazily from the current directory or ``-C PATH``);
the commands in the sibling modules are thin wrappers over the Python API.

Errors are turned into output in one place, :meth:`HangarGroup.invoke`:
every :class:`~hangar_git.errors.HangarError` becomes ``Error: <message>``
on stderr with exit code 1 (click's usage errors keep exit code 2), and
every warning becomes one ``Warning: <message>`` line on stderr.

To add a command module, write ``cli/<name>.py`` with a ``COMMANDS`` list
of click commands and add its name to :data:`COMMAND_MODULES`.
"""
from __future__ import annotations

import importlib
import os
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence

import click

from .. import __version__
from ..errors import HangarError, MergeConflictError
from .common import State

#: Modules under ``hangar_git.cli`` whose ``COMMANDS`` are registered.
COMMAND_MODULES = ("init", "data", "history", "branches", "remotes", "serve", "maintenance")

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
    """The root group: converts domain errors and warnings for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        with warnings_as_lines():
            try:
                return super().invoke(ctx)
            except HangarError as exc:
                raise DomainError(one_line(exc)) from exc
            except KeyboardInterrupt:  # Ctrl-C: one line and the shell's status for SIGINT
                click.echo("Error: interrupted; nothing half-done was kept, run the command again "
                           "to finish", err=True)
                ctx.exit(INTERRUPTED)


def one_line(exc: HangarError) -> str:
    """The error as one line (a remote's stderr joined in); merge conflicts keep their list."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, MergeConflictError):
        return text
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
    if directory is not None:
        previous = os.getcwd()
        os.chdir(directory)
        ctx.call_on_close(lambda: os.chdir(previous))
    ctx.obj = State(os.getcwd(), quiet=quiet)


def register(group: click.Group, module_names: Sequence[str] = COMMAND_MODULES) -> None:
    for name in module_names:
        module = importlib.import_module(f"{__package__}.{name}")
        for command in module.COMMANDS:
            group.add_command(command)


register(cli)


def main(argv: Optional[Sequence[str]] = None) -> Any:
    """Console-script entry point (``git-hangar``)."""
    return cli.main(args=list(argv) if argv is not None else None, prog_name="git hangar")


if __name__ == "__main__":  # pragma: no cover
    main()
