"""The `git hangar` command line (the only layer that imports click).

``main.py`` holds the root group, error handling and the list of command
modules; each sibling module holds one group of commands. :func:`main` is
the entry point of the ``git-hangar`` launcher: ``git hangar serve PATH``, which every
remote operation starts on the server, takes a short path that loads only
the protocol and the repository layers (no click, API or SSH client).
"""
from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported before a command needs it (`-h` would pay 8 ms)
if TYPE_CHECKING:
    from typing import Any, Optional, Sequence


INTERRUPTED_LINE = "Error: interrupted; nothing half-done was kept, run the command again to finish"
"""What a Ctrl-C prints, wherever it lands (exit status 130)."""


def main(argv: Optional[Sequence[str]] = None) -> Any:
    """Entry point of ``git-hangar`` and ``python -m hangar_git``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:  # git's habit: answered before anything loads (click included)
        from ..version import __version__
        print(f"hangar-git, version {__version__}")
        return 0
    if args in (["-h"], ["--help"]):  # the root help, rendered ahead by cli/manpage.py: no click to load
        from .usage import ROOT_HELP
        sys.stdout.write(ROOT_HELP)
        return 0
    if len(args) == 2 and args[0] == "serve" and not args[1].startswith("-"):
        from ..transport.stdio import serve_stdio
        sys.exit(serve_stdio(args[1]))
    try:
        from .main import main as full_main
        return full_main(args)
    except KeyboardInterrupt:  # Ctrl-C outside a command (while loading, or closing): the same line
        sys.stderr.write(INTERRUPTED_LINE + "\n")
        sys.exit(130)
    finally:
        if argv is None:  # the process's own command line, not a caller's
            _die_on_late_interrupt()


def _die_on_late_interrupt() -> None:
    """Once the command is over, a Ctrl-C ends the process as it would any program (status
    130, no output): raised as KeyboardInterrupt while the interpreter shuts down, it printed
    "Exception ignored" tracebacks from callbacks and could leave a module lock held."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)
