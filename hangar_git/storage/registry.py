"""Which repositories use a store, recorded in the store itself.

Each repository that opens a store for writing leaves one small JSON file,
``<store>/repos/<id>-<place>.json``, written through TileDB's VFS (so it
works on S3 as on a local disk). An entry names the repository's id (git
config ``hangar.id``, shared by copies made with ``cp -a``), the host and
absolute git common dir it lives in, and the identity (device, inode) of
that directory: a move keeps the inode, a copy gets a new one.

``gc`` reads these entries to keep what every registered repository
references; see :mod:`hangar_git.api.sharing`.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import time
import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Optional

from ..errors import IntegrityError
from ..fileio import write_file
from .location import store_exists

if TYPE_CHECKING:
    from .files import StoreFiles

REPOS_DIR = "repos"
MARKER = "store-registration"
"""File in a repository's hangar dir: the entry it last wrote, so opening a store does
not rewrite it each time."""


@dataclass(frozen=True)
class RepoEntry:
    """One repository registered as a user of a store."""

    id: str
    host: str
    git_dir: str        # absolute git common dir
    path: str           # what to call it: the work tree, or the git dir of a bare repository
    dev: int = 0        # st_dev, st_ino of git_dir: unchanged by a move, new for a copy
    ino: int = 0
    registered: float = 0.0

    @classmethod
    def here(cls, repo_id: str, git_dir: str, path: str) -> "RepoEntry":
        """The entry of a repository on this host."""
        st = os.stat(git_dir)
        return cls(repo_id, socket.gethostname(), os.path.abspath(git_dir), os.path.abspath(path),
                   st.st_dev, st.st_ino, time.time())

    @property
    def name(self) -> str:
        """File name of the entry: one per repository id and place."""
        place = hashlib.sha256(f"{self.host}\0{self.git_dir}".encode()).hexdigest()[:16]
        return f"{self.id}-{place}.json"

    @property
    def local(self) -> bool:
        return self.host == socket.gethostname()

    @property
    def label(self) -> str:
        """How messages (and ``gc --forget``) name it: the path, ``host:path`` elsewhere."""
        return self.path if self.local else f"{self.host}:{self.path}"

    def same_place(self, other: "RepoEntry") -> bool:
        return (self.host, self.git_dir) == (other.host, other.git_dir)

    def same_directory(self, other: "RepoEntry") -> bool:
        """The same directory object (so one was moved into the other's place)."""
        return self.host == other.host and (self.dev, self.ino) == (other.dev, other.ino) != (0, 0)

    def to_dict(self) -> dict:
        return {"version": 1, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "RepoEntry":
        return cls(str(data["id"]), str(data["host"]), str(data["git_dir"]), str(data["path"]),
                   int(data.get("dev", 0)), int(data.get("ino", 0)), float(data.get("registered", 0)))


def _files(uri: str) -> "StoreFiles":
    from .files import StoreFiles  # TileDB loads only when the registry is read or written
    return StoreFiles(uri)


def _dir(uri: str) -> str:
    return f"{uri.rstrip('/')}/{REPOS_DIR}"


def register(uri: str, entry: RepoEntry) -> None:
    """Write (or rewrite) ``entry`` in the store at ``uri``."""
    data = json.dumps(entry.to_dict(), sort_keys=True).encode()
    _files(uri).write_small(f"{_dir(uri)}/{entry.name}", data)


def unregister(uri: str, entry: RepoEntry) -> bool:
    """Remove ``entry`` from the store; False if it was not there."""
    files, path = _files(uri), f"{_dir(uri)}/{entry.name}"
    if not files.exists(path):
        return False
    files.remove(path)
    return True


def entries(uri: str) -> list[RepoEntry]:
    """Every repository registered in the store at ``uri``."""
    files = _files(uri)
    return [_read(files, path) for path in sorted(files.list(REPOS_DIR)) if path.endswith(".json")]


def _read(files: StoreFiles, path: str) -> RepoEntry:
    try:
        return RepoEntry.from_dict(json.loads(files.read(path)))
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"store registry entry {path} is damaged ({exc}): delete it, then run "
                             f"any `git hangar` command in each repository using the store") from None


def ensure_registered(uri: str, entry: RepoEntry, marker_dir: str, *, check: bool = False) -> bool:
    """Register ``entry`` unless ``marker_dir`` records it was already (or there is no
    store at ``uri``); True if written.

    ``check`` also looks in the store (one existence test) for the entry. A first
    registration at a new place also removes this repository's entries from before
    a move (same id and directory, another path).
    """
    marker = os.path.join(marker_dir, MARKER)
    expected = json.dumps({"store": uri, "entry": entry.name})
    if _marker(marker) == expected and (not check or _files(uri).exists(f"{_dir(uri)}/{entry.name}")):
        return False
    if not store_exists(uri):
        return False  # never make a store by registering in it
    try:
        register(uri, entry)
        for old in entries(uri):
            if old.id == entry.id and old.same_directory(entry) and not old.same_place(entry):
                unregister(uri, old)  # this repository, before it was moved here
    except OSError as exc:  # StoreUnreachableError included
        if exc.errno == errno.EROFS:  # a read-only store: no gc can free anything in it from here
            return False
        warnings.warn(f"could not record this repository in the registry of the store at {uri} "
                      f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}): gc in "
                      f"other repositories sharing it will not know what this one needs",
                      UserWarning, stacklevel=3)
        return False
    write_file(marker, expected.encode())
    return True


def forget_marker(marker_dir: str) -> None:
    """Drop the record of having registered (the next open registers again)."""
    try:
        os.remove(os.path.join(marker_dir, MARKER))
    except FileNotFoundError:
        pass


def _marker(path: str) -> Optional[str]:
    try:
        with open(path) as fh:
            return fh.read()
    except FileNotFoundError:
        return None
