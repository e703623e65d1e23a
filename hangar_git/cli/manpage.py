"""The git-hangar(1) manual page, rendered from the click commands themselves.

``git hangar --help`` (like ``git help hangar``) asks ``man`` for
git-hangar(1); the page ships as ``share/man/man1/git-hangar.1`` (setup.cfg
``data_files``), where ``man`` finds it next to the venv's ``bin``. After
changing a command, regenerate it (and the shipped completion scripts) with
``python -m hangar_git.cli.manpage`` (tests/cli/test_manpage.py fails while a
shipped file is stale).
"""
from __future__ import annotations

import os
import sys
from typing import Optional

import click

PAGE = os.path.join("share", "man", "man1", "git-hangar.1")


def roff(text: str) -> str:
    """Text safe for roff: backslashes doubled, lines starting with '.' or \\' escaped."""
    out = []
    for line in text.replace("\\", "\\e").splitlines():
        out.append("\\&" + line if line.startswith((".", "'")) else line)
    return "\n".join(out)


def paragraphs(help_text: str) -> str:
    """A click help text as roff paragraphs (\\b blocks kept as they are)."""
    out = []
    for block in click.unstyle(help_text).strip().split("\n\n"):
        lines = block.splitlines()
        if lines and lines[0].strip() == "\b":
            out.append(".nf\n" + roff("\n".join(line.strip() for line in lines[1:])) + "\n.fi")
        else:
            out.append(".PP\n" + roff(" ".join(line.strip() for line in lines)))
    return "\n".join(out)


def options(ctx: click.Context, command: click.Command) -> str:
    out = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if (record is None or isinstance(param, click.Argument) or "--help" in getattr(param, "opts", ())
                or param.name in ("_global_quiet", "_global_directory")):  # the same on every command
            continue
        out.append(f".TP\n.B {roff(record[0])}\n{roff(record[1])}")
    return "\n".join(out)


def section(ctx: click.Context, path: list[str], command: click.Command) -> str:
    sub = click.Context(command, info_name=" ".join(path), parent=ctx)
    usage = " ".join(command.collect_usage_pieces(sub))
    parts = [f'.SS "git hangar {" ".join(path)}"', f".B git hangar {roff(' '.join(path))}\n{roff(usage)}",
             paragraphs(command.help or "")]
    parts += [options(sub, command)]
    text = "\n".join(p for p in parts if p)
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            text += "\n" + section(ctx, [*path, name], command.commands[name])
    return text


def render() -> str:
    from .main import COMMANDS, cli
    ctx = click.Context(cli, info_name="git hangar", **cli.context_settings)  # -h, --help as the CLI has them
    lines = ['.TH GIT-HANGAR 1 "" "hangar-git" "Git Manual"', ".SH NAME",
             "git-hangar \\- version control for tensor data, as a git extension", ".SH SYNOPSIS",
             ".B git hangar\n[\\-C PATH] [\\-q] [\\-\\-version] [\\-h] COMMAND [ARGS]...",
             ".SH DESCRIPTION", paragraphs(cli.help or ""), ".SH GLOBAL OPTIONS", options(ctx, cli),
             ".PP\n\\-C and \\-q may also follow the command (git hangar status \\-q).", ".SH COMMANDS"]
    for name in sorted(COMMANDS):
        command = cli.get_command(ctx, name)
        assert command is not None
        lines.append(section(ctx, [name], command))
    lines += [".SH SEE ALSO", "git(1), git-worktree(1)", ""]
    return "\n".join(lines)


def shipped() -> dict[str, str]:
    """Every file setup.cfg ships under share/ (path relative to the source tree -> text)."""
    from .completion import SCRIPTS
    return {PAGE: render(),
            os.path.join("share", "bash-completion", "completions", "git-hangar"): SCRIPTS["bash"],
            os.path.join("share", "zsh", "site-functions", "_git-hangar"): SCRIPTS["zsh"]}


def main(argv: Optional[list[str]] = None) -> int:
    """Write the page and the completion scripts under ROOT (default: this source tree)."""
    args = sys.argv[1:] if argv is None else argv
    root = args[0] if args else os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for relative, text in shipped().items():
        target = os.path.join(root, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
