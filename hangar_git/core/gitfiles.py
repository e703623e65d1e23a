"""A repository's refs and config read straight from its files, without libgit2.

Over OpenSSH every push, fetch and fetch-data starts a new ``git-hangar serve``, and one
with nothing to do asks only for ``hello`` (the default branch, from the config) and
``list_refs`` (the branch heads). Loading pygit2 for that was about 60 ms of a 150 ms
no-op; these readers answer it from the files git itself reads:

* refs: loose files under ``refs/`` first, then ``packed-refs`` (git's order: ``git
  pack-refs`` writes ``packed-refs`` before it deletes the loose files, so a ref being
  packed meanwhile is seen in one or the other; a ref file is replaced by a rename, so
  each is read whole). Symbolic refs are left out, as :meth:`GitRepo.list_refs` does.
* config: the repository's ``config`` after the system, XDG and global files (libgit2's
  order, the last value wins), in git's syntax.

Whatever these readers do not handle as git would (config ``include``, reftable refs, a
``commondir`` worktree layout, a value they cannot parse) raises :class:`NotPlain`, and
the caller opens the repository with libgit2 instead.
"""
from __future__ import annotations

import os
import re
from typing import Optional

from .layout import STORE_KEY

_HEX40 = re.compile(r"[0-9a-f]{40}")
_SECTION = re.compile(r'\[\s*([A-Za-z0-9.-]+)\s*(?:"((?:[^"\\\n]|\\.)*)")?\s*\]')
_KEY = re.compile(r"([A-Za-z][A-Za-z0-9-]*)\s*(?:=(.*))?$")
_UNESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t", "b": "\b", '"': '"', "\\": "\\"}


class NotPlain(Exception):
    """The files hold something only libgit2 should interpret."""


class RepoFiles:
    """The refs and config of the bare repository or work tree at exactly ``path``."""

    def __init__(self, git_dir: str) -> None:
        self.git_dir = git_dir
        self._config: Optional[dict[str, Optional[str]]] = None

    @classmethod
    def at(cls, path: str) -> Optional["RepoFiles"]:
        """The repository at ``path`` (a git dir, or a work tree whose ``.git`` is a folder),
        or None when there is none; NotPlain for other layouts."""
        for git_dir in (path, os.path.join(path, ".git")):
            if os.path.isfile(os.path.join(git_dir, "HEAD")) and os.path.isdir(os.path.join(git_dir, "objects")):
                if os.path.exists(os.path.join(git_dir, "commondir")) or \
                        os.path.exists(os.path.join(git_dir, "reftable")):
                    raise NotPlain(git_dir)
                return cls(git_dir)
        if os.path.isfile(os.path.join(path, ".git")):
            raise NotPlain(path)  # a linked worktree or a separate git dir
        return None

    def is_initialized(self) -> bool:
        """A hangar repository (``hangar.store`` is set), as :func:`locate.is_initialized`."""
        return bool(self.config_get(STORE_KEY))

    # -- config ---------------------------------------------------------------------
    def config_get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """A config value (``section.name`` or ``section.sub.name``), as libgit2 reads it."""
        if self._config is None:
            values: dict[str, Optional[str]] = {}
            for path in _config_files(self.git_dir):
                values.update(parse_config(path))
            self._config = values
        return self._config.get(_normal_key(key), default)

    # -- refs -----------------------------------------------------------------------
    def list_refs(self, prefix: str) -> dict[str, str]:
        """Name (less ``prefix``, which ends in ``/``) -> id of each direct ref under ``prefix``."""
        loose = self._loose_refs(prefix)
        packed = self._packed_refs(prefix)  # after the loose ones: see the module's note
        out = {name[len(prefix):]: oid for name, oid in packed.items()}
        for name, target in loose.items():
            if target is None:
                out.pop(name[len(prefix):], None)  # symbolic: not a branch head
            else:
                out[name[len(prefix):]] = target
        return dict(sorted(out.items()))

    def _loose_refs(self, prefix: str) -> dict[str, Optional[str]]:
        """Loose refs under ``prefix``: their id, or None for a symbolic ref."""
        out: dict[str, Optional[str]] = {}
        top = os.path.join(self.git_dir, *prefix.rstrip("/").split("/"))
        for folder, dirs, files in os.walk(top):
            rel = os.path.relpath(folder, self.git_dir).replace(os.sep, "/")
            for name in files:
                if name.endswith(".lock") or name.startswith("."):
                    continue
                try:
                    with open(os.path.join(folder, name), "rb") as fh:
                        text = fh.read(256).decode("ascii", "replace").strip()
                except (FileNotFoundError, IsADirectoryError):
                    continue  # deleted or packed meanwhile: packed-refs, read next, has it
                if text.startswith("ref:"):
                    out[f"{rel}/{name}"] = None
                elif _HEX40.fullmatch(text):
                    out[f"{rel}/{name}"] = text
        return out

    def _packed_refs(self, prefix: str) -> dict[str, str]:
        try:
            with open(os.path.join(self.git_dir, "packed-refs"), "rb") as fh:
                text = fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return {}
        out = {}
        for line in text.splitlines():
            oid, _, name = line.partition(" ")
            if name.startswith(prefix) and _HEX40.fullmatch(oid):
                out[name] = oid
        return out


def _config_files(git_dir: str) -> list[str]:
    """libgit2's config files, lowest priority first."""
    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return ["/etc/gitconfig", os.path.join(xdg, "git", "config"), os.path.join(home, ".gitconfig"),
            os.path.join(git_dir, "config")]


def _normal_key(key: str) -> str:
    """Section and name fold case; a subsection keeps it."""
    section, _, rest = key.partition(".")
    sub, _, name = rest.rpartition(".")
    return f"{section.lower()}.{sub}.{name.lower()}" if sub else f"{section.lower()}.{name.lower()}"


def parse_config(path: str) -> dict[str, Optional[str]]:
    """``section[.sub].name`` -> last value of one git config file ({} if there is none; None
    for a name without ``=``, as libgit2 has it)."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise NotPlain(f"{path}: {exc}") from None
    out: dict[str, Optional[str]] = {}
    section = None
    for raw in lines:
        line = raw.strip()
        while line.startswith("["):
            m = _SECTION.match(line)
            if m is None:
                raise NotPlain(f"{path}: {raw!r}")
            name, sub = m.group(1).lower(), m.group(2)
            if name in ("include", "includeif"):
                raise NotPlain(f"{path}: includes")
            if sub is None and "." in name:  # [section.sub], the old spelling
                name, _, sub = name.partition(".")
            elif sub is not None:
                sub = _UNESCAPE.sub(r"\1", sub)
            section = name if sub is None else f"{name}.{sub}"
            line = line[m.end():].strip()
        if not line or line[0] in "#;":
            continue
        m = _KEY.match(line)
        if m is None or section is None:
            raise NotPlain(f"{path}: {raw!r}")
        out[f"{section}.{m.group(1).lower()}"] = _value(m.group(2), path) if m.group(2) is not None else None
    return out


def _value(text: str, path: str) -> str:
    """A value's text unquoted and unescaped, its comment and unquoted edge spaces dropped."""
    out: list[tuple[str, bool]] = []  # (character, kept as is: quoted or escaped)
    quoted, i = False, 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text) or text[i + 1] not in _ESCAPES:
                raise NotPlain(f"{path}: a continued line or unknown escape")
            out.append((_ESCAPES[text[i + 1]], True))
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c in "#;" and not quoted:
            break
        else:
            out.append((c, quoted))
        i += 1
    if quoted:
        raise NotPlain(f"{path}: an unterminated quote")
    while out and not out[-1][1] and out[-1][0].isspace():
        out.pop()
    start = 0
    while start < len(out) and not out[start][1] and out[start][0].isspace():
        start += 1
    return "".join(c for c, _ in out[start:])
