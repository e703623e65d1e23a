"""`git hangar help [COMMAND]`: a command's help, as `git help COMMAND` shows its manual."""
from __future__ import annotations

from typing import Optional

import click


@click.command("help")
@click.argument("command", required=False, metavar="[COMMAND]")
@click.pass_context
def help_command(ctx: click.Context, command: Optional[str]) -> None:
    """Show the help of COMMAND (without one: the list of commands)."""
    root = ctx.find_root()
    group = root.command
    if command is None:
        click.echo(group.get_help(root))
        return
    assert isinstance(group, click.Group)
    _, found, _ = group.resolve_command(root, [command])  # a mistyped name: "did you mean ...?"
    assert found is not None
    click.echo(found.get_help(click.Context(found, info_name=command, parent=root)))


COMMANDS = [help_command]
