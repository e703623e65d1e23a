"""The commit message editor, chosen and cleaned up by git's rules."""
from __future__ import annotations

import os
import re
import subprocess
import click

from .init import git_config

TEMPLATE = ("\n# Please enter the commit message for your changes. Lines starting\n"
            "# with '#' will be ignored, and an empty message aborts the commit.\n#\n")


def editor_command(cwd: str) -> str:
    """git's choice: $GIT_EDITOR, core.editor, $VISUAL (unless TERM=dumb), $EDITOR, else vi."""
    dumb = os.environ.get("TERM", "dumb") == "dumb"
    choice = (os.environ.get("GIT_EDITOR") or git_config("core.editor", cwd)
              or (None if dumb else os.environ.get("VISUAL")) or os.environ.get("EDITOR"))
    if choice:
        return choice
    if dumb:
        raise click.ClickException("no editor for the commit message (TERM is dumb and none of GIT_EDITOR, "
                                   "core.editor, EDITOR is set): give the message with -m MESSAGE")
    return "vi"


def cleanup(text: str) -> str:
    """git's `--cleanup=strip`: drop `#` lines and trailing spaces, squeeze blank lines, trim."""
    lines = [line.rstrip() for line in text.splitlines() if not line.startswith("#")]
    squeezed = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return squeezed.strip("\n")


def edit_message(path: str, comment: str, cwd: str) -> str:
    """Open the editor on ``path`` (the template plus ``comment`` lines) and return the
    cleaned message; '' when the user left it empty."""
    body = TEMPLATE + "".join(f"# {line}".rstrip() + "\n" for line in comment.splitlines())
    with open(path, "w", encoding="utf-8") as f:
        f.write(body)
    editor = editor_command(cwd)
    if editor != ":":  # git's no-op editor
        try:
            code = subprocess.call(["/bin/sh", "-c", f'{editor} "$@"', editor, path], cwd=cwd)
        except OSError as exc:
            raise click.ClickException(f"cannot start the editor {editor!r}: {exc.strerror}") from None
        if code != 0:
            raise click.ClickException(f"there was a problem with the editor {editor!r} (exit {code}): "
                                       f"nothing was committed")
    with open(path, encoding="utf-8", errors="replace") as f:
        return cleanup(f.read())


def message_path(hangar_dir: str) -> str:
    return os.path.join(hangar_dir, "COMMIT_EDITMSG")
