"""``git hangar serve``: the protocol on stdin/stdout, what an SSH exec channel runs.

Plain (``serve PATH``): the repository at PATH, for whoever may log in.
With ``--user NAME`` (an OpenSSH forced command, one per key, as gitolite
does): PATH comes from the client's command (``SSH_ORIGINAL_COMMAND``) when
not given, is taken inside ``--root`` (default: the current directory, the
home directory under sshd), and the rules of ``--access`` for NAME apply,
exactly as in the standalone server; ``--log`` appends the audit log line.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, BinaryIO

from ..errors import HangarError, NotInitializedError, RemoteError
from .access import OPEN, AccessRules, parse_serve_command
from .auditlog import Activity, AuditLog, CountingReader, CountingWriter
from .gate import Opened, open_repository
from .service import RepositoryService


def serve_stdio(path: str) -> int:
    """Serve the repository at ``path`` on stdin/stdout; exit status (libgit2 is loaded, and
    told to trust stored objects, by the first request that reads objects)."""
    try:
        service = RepositoryService(os.path.abspath(path), trusted=True)
    except NotInitializedError:
        print(f"Error: no hangar repository at {path!r}: make one on that machine with "
              f"`git hangar init --bare {path}`", file=sys.stderr)
        return 1
    except HangarError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    service.run(sys.stdin.buffer, sys.stdout.buffer)
    return 0


def serve_user(path: str | None, user: str, *, access: str | None = None, root: str | None = None,
               log_path: str | None = None, stdin: BinaryIO | None = None,
               stdout: BinaryIO | None = None) -> int:
    """Serve one request of key ``user`` under the access rules; exit status.

    Configuration errors (a bad access or log file) raise ServerConfigError:
    the administrator's problem, reported by the CLI.
    """
    rules = AccessRules.load(access) if access else OPEN
    log = AuditLog(log_path)
    fields: dict[str, Any] = {"key": user, "address": _client_address(), "repo": None}
    try:
        requested = path if path is not None else parse_serve_command(os.environ.get("SSH_ORIGINAL_COMMAND", ""))
    except RemoteError as exc:
        log.write(**fields, op="connect", result="invalid", error=str(exc))
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    opened = open_repository(root or os.getcwd(), requested, user, rules, _trusted_service)
    if not isinstance(opened, Opened):
        log.write(**{**fields, "repo": opened.repo}, op="connect", result=opened.result, error=opened.detail)
        print(f"Error: {opened.message}", file=sys.stderr)
        return 1
    activity = opened.handler.activity = Activity()
    reader = CountingReader(stdin or sys.stdin.buffer)
    writer = CountingWriter(stdout or sys.stdout.buffer)
    start = time.monotonic()
    opened.handler.run(reader, writer)
    log.write(**{**fields, "repo": opened.repo}, op=activity.op, result=activity.outcome,
              access=opened.mode, bytes_in=reader.count, bytes_out=writer.count,
              seconds=round(time.monotonic() - start, 3), **activity.fields())
    log.close()
    return 0


def _trusted_service(path: str) -> RepositoryService:
    return RepositoryService(path, trusted=True)


def _client_address() -> str | None:
    """``ip:port`` of the SSH client (from sshd's ``SSH_CLIENT``)."""
    parts = os.environ.get("SSH_CLIENT", "").split()
    return f"{parts[0]}:{parts[1]}" if len(parts) >= 2 else None
