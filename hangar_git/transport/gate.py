"""The door of a server: from a key and a requested path to a handler, or a refusal.

Shared by the standalone server and ``git hangar serve --user`` (OpenSSH
forced commands), so both apply the same rules and give the same answers.
What a client is told names only what it asked for: server paths in error
messages are replaced (:class:`Scrubber`).
"""
from __future__ import annotations

import os
import re
from typing import Callable, NamedTuple, Optional

from hangar_git.errors import HangarError, NotInitializedError, PermissionDeniedError

from .access import READ, AccessRules, repo_name, resolve_repo_path
from .rpc import ServiceHandler

HandlerFactory = Callable[[str], ServiceHandler]
SHUTDOWN_TIMEOUT = 30.0
"""How long a stopping server lets operations in flight finish before it hangs up on them."""
_ABS_PATH = re.compile(r"(?<![\w.:/~-])/[^\s'\"`,;:()]+")


class Scrubber:
    """Rewrites messages for a client: each private path becomes the name the client used,
    and any other absolute path becomes ``<server path>``."""

    def __init__(self, replacements: dict[str, str] | None = None) -> None:
        pairs = [(os.path.normpath(k), v) for k, v in (replacements or {}).items() if k]
        self._pairs = sorted(pairs, key=lambda kv: len(kv[0]), reverse=True)

    def __call__(self, text: str) -> str:
        kept: list[str] = []

        def keep(value: str) -> str:
            kept.append(value)
            return f"\0{len(kept) - 1}\0"
        for private, public in self._pairs:
            text = text.replace(private, keep(public))
        text = _ABS_PATH.sub("<server path>", text)
        return re.sub(r"\0(\d+)\0", lambda m: kept[int(m.group(1))], text)


class Opened(NamedTuple):
    handler: ServiceHandler
    repo: str       # the repository's name relative to the root
    mode: str       # "r" or "rw"


class Refused(NamedTuple):
    message: str    # for the client
    result: str     # for the log: "denied", "not-found", "invalid" or "error"
    detail: str     # for the log only
    repo: Optional[str] = None


def not_found_message(requested: str) -> str:
    """The one answer for a missing repository and for one this key may not read."""
    return f"no hangar repository {requested!r:.200} on this server (or this key may not read it)"


def open_repository(root: str, requested: str, key: str, rules: AccessRules,
                    factory: HandlerFactory) -> Opened | Refused:
    """Apply the rules for ``key`` to the repository ``requested`` under ``root``."""
    try:
        full = resolve_repo_path(root, requested)
    except PermissionDeniedError as exc:
        return Refused(str(exc), "invalid", str(exc))
    name = repo_name(os.path.relpath(full, os.path.realpath(root)))
    mode = rules.mode(key, name)
    if mode is None:
        return Refused(not_found_message(requested), "denied", f"no access rule gives {key!r} {name!r}", name)
    try:
        handler = factory(full)
    except NotInitializedError:
        return Refused(not_found_message(requested), "not-found", f"no hangar repository at {full}", name)
    except HangarError as exc:
        scrub = Scrubber({full: requested, os.path.realpath(root): ""})
        return Refused(scrub(str(exc)), "error", str(exc), name)
    handler.read_only = mode == READ
    handler.scrub = Scrubber({full: requested, os.path.realpath(root): ""})
    return Opened(handler, name, mode)
