"""Who may do what on a server: named keys, access rules and the repository path a client asks for.

gitolite's model: every key has a name (the comment of its authorized_keys
line) and an access file grants ``r`` or ``rw`` per repository glob per
name. A repository a key may not read does not exist for that key: the
client gets the same answer as for a missing repository.

Access file format, one rule per line (``#`` starts a comment)::

    <repository path relative to the root, glob allowed> <key name or *> <r|rw>

``*`` and ``?`` match within one path component, ``**`` across components;
rules add up (``rw`` anywhere wins over ``r``).
"""
from __future__ import annotations

import base64
import binascii
import os
import re
import shlex
import threading
from typing import Callable, Generic, NamedTuple, TypeVar

from hangar_git.errors import PermissionDeniedError, RemoteError, ServerConfigError

STATE_DIR = ".hangar-server"
READ, WRITE = "r", "rw"
_KEY_RE = re.compile(r"(?:^|\s)((?:ssh|ecdsa|sk-ssh|sk-ecdsa)-[A-Za-z0-9@.-]+)\s+([A-Za-z0-9+/]+={0,2})(?:\s+(.*))?$")
_GLOB_RE = re.compile(r"\*\*/?|\*|\?|\[[^/\]]+\]|[^*?\[]+|\[")
T = TypeVar("T")


# -- names ----------------------------------------------------------------------------
def fingerprint(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint of a public key blob."""
    import hashlib  # here: serve starts on every operation and seldom names a key
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _read_lines(path: str, what: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ServerConfigError(f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or exc}") from None


def _content(lines: list[str]) -> list[tuple[int, str]]:
    """(line number, text) of each line that is neither blank nor a comment."""
    return [(n, text.strip()) for n, text in enumerate(lines, 1) if text.strip() and not text.strip().startswith("#")]


def load_authorized_keys(path: str) -> dict[bytes, str]:
    """Key blob -> key name (the last field of its comment, else its fingerprint) of an
    OpenSSH authorized_keys file; ServerConfigError naming the line of anything malformed."""
    keys: dict[bytes, str] = {}
    entries = _content(_read_lines(path, "authorized keys"))
    if not entries:
        raise ServerConfigError(f"authorized keys {path} lists no key: add one public key per line")
    for number, text in entries:
        match = _KEY_RE.search(text)
        try:
            blob = base64.b64decode(match.group(2), validate=True) if match else b""
        except (binascii.Error, ValueError):
            blob = b""
        if not blob:
            raise ServerConfigError(f"{path}:{number}: not a public key line (expected "
                                    f"'[options] ssh-TYPE BASE64 [name]')")
        assert match is not None
        name = match.group(3).split()[-1] if match.group(3) and match.group(3).split() else fingerprint(blob)
        if keys.get(blob, name) != name:
            raise ServerConfigError(f"{path}:{number}: this key is already listed as {keys[blob]!r}: "
                                    f"one name per key")
        keys[blob] = name
    return keys


# -- rules ----------------------------------------------------------------------------------
def glob_regex(pattern: str) -> re.Pattern[str]:
    """``*``/``?`` within a path component, ``**`` across components, ``[...]`` classes."""
    parts = []
    for token in _GLOB_RE.findall(pattern):
        if token.startswith("**"):
            parts.append("(?:.*/)?" if token.endswith("/") else ".*")
        elif token == "*":
            parts.append("[^/]*")
        elif token == "?":
            parts.append("[^/]")
        elif token.startswith("[") and len(token) > 1:
            parts.append("[" + ("^" if token[1] == "!" else re.escape(token[1])) + re.escape(token[2:-1]) + "]")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts) + r"\Z")


def repo_name(path: str) -> str:
    """The canonical name of a repository path relative to the root: no leading ``/``,
    ``~/`` or ``./``, no trailing ``/``."""
    rel = path[1:] if path == "~" or path.startswith("~/") else path
    return os.path.normpath("/" + rel).lstrip("/") or "."


class Rule(NamedTuple):
    pattern: re.Pattern[str]
    key: str
    mode: str


class AccessRules:
    """The rules of an access file (``None`` rules: everyone may read and push everything)."""

    def __init__(self, rules: list[Rule] | None) -> None:
        self.rules = rules

    @classmethod
    def load(cls, path: str) -> "AccessRules":
        rules = []
        for number, text in _content(_read_lines(path, "access file")):
            fields = text.split("#", 1)[0].split()
            if len(fields) != 3 or fields[2] not in (READ, WRITE):
                raise ServerConfigError(f"{path}:{number}: expected '<repository glob> <key name> <r|rw>', "
                                        f"got {text!r}")
            rules.append(Rule(glob_regex(repo_name(fields[0])), fields[1], fields[2]))
        if not rules:
            raise ServerConfigError(f"access file {path} has no rule: add lines '<repository glob> <key name> <r|rw>'")
        return cls(rules)

    def mode(self, key: str, repo: str) -> str | None:
        """``rw``, ``r`` or None: what ``key`` may do in the repository named ``repo``."""
        if self.rules is None:
            return WRITE
        modes = {r.mode for r in self.rules if r.key in (key, "*") and r.pattern.match(repo_name(repo))}
        return WRITE if WRITE in modes else READ if modes else None


OPEN = AccessRules(None)


class Reloading(Generic[T]):
    """A file parsed by ``load``, re-read when it changes (or on :meth:`reload`); a file that
    turns bad keeps the last good version (``on_error`` hears why)."""

    def __init__(self, path: str, load: Callable[[str], T],
                 on_error: Callable[[str], None] = lambda message: None) -> None:
        self.path, self._load, self._on_error = path, load, on_error
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._value = load(path)  # errors here are the caller's: refuse to start

    def _stat(self) -> tuple[float, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime, st.st_size, st.st_ino

    def get(self) -> T:
        with self._lock:
            stamp = self._stat()
            if stamp != self._stamp:
                self._reload(stamp)
            return self._value

    def reload(self) -> None:
        with self._lock:
            self._reload(self._stat())

    def _reload(self, stamp: tuple[float, int, int] | None) -> None:
        self._stamp = stamp
        try:
            self._value = self._load(self.path)
        except ServerConfigError as exc:
            self._on_error(f"{exc}; keeping the previous version")


# -- the requested path -------------------------------------------------------------------------
def parse_serve_command(command: bytes | str) -> str:
    """Return PATH from ``git-hangar serve PATH`` (any directory before ``git-hangar``) or
    ``git hangar serve PATH``; RemoteError for anything else."""
    try:
        text = command.decode("utf-8") if isinstance(command, bytes) else command
        argv = shlex.split(text)
    except (UnicodeDecodeError, ValueError):
        raise RemoteError(f"malformed command {command!r:.200}") from None
    if len(argv) == 3 and os.path.basename(argv[0]) == "git-hangar" and argv[1] == "serve":
        return argv[2]
    if len(argv) == 4 and argv[:3] == ["git", "hangar", "serve"]:
        return argv[3]
    raise RemoteError(f"this server only runs `git-hangar serve PATH`, not {text!r:.200}")


def resolve_repo_path(root: str, requested: str) -> str:
    """Map a requested path into ``root`` (``/a`` and ``~/a`` mean root/a); refuse escapes."""
    root = os.path.realpath(root)
    rel = requested[1:] if requested == "~" or requested.startswith("~/") else requested
    if rel.startswith("~") or "\0" in rel:
        raise PermissionDeniedError(f"repository path {requested!r:.200} is not served here")
    full = os.path.realpath(os.path.join(root, rel.lstrip("/")))
    if os.path.commonpath([full, root]) != root:
        raise PermissionDeniedError(f"repository path {requested!r:.200} is outside the served directory")
    state = os.path.join(root, STATE_DIR)
    if os.path.commonpath([full, state]) == state:
        raise PermissionDeniedError(f"repository path {requested!r:.200} is not served here")
    return full
