"""Thin, typed wrapper over pygit2: blobs, nested trees, commits and refs.

Trees are built in :mod:`.gittrees`, refs written in :mod:`.gitrefs`. This is the only
module family that imports pygit2. Object ids cross the boundary as 40-hex strings
(``Oid``).
"""
from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Container, Iterator, Mapping, Optional, Sequence

import pygit2
from pygit2.enums import SortMode

from ..errors import AmbiguousRevisionError, CommitNotFoundError, InvalidNameError, RefMovedError
from ..locks import exclusive
from . import gitrefs, gittrees
from .damage import damaged_object, loose_file
from .derivedfiles import DerivedFiles
from .refnames import (DURABLE_KEY, HANGAR_NS, HEADS, REMOTES, Oid, RefName,
                       branch_ref, remote_ref)

__all__ = ["BLOB", "DURABLE_KEY", "HANGAR_NS", "HEADS", "REMOTES", "GitRepo",
           "Oid", "RefChangedError", "RefName", "branch_ref", "remote_ref"]

if TYPE_CHECKING:
    from .keyindex import KeyIndexes
    from .recordcache import RecordCache

BLOB = int(pygit2.enums.ObjectType.BLOB)

# libgit2 maps pack files in 1 GiB windows, up to 8 GiB per process (sized for source
# trees, whose packs are read whole); we read a few shards at a time out of packs that
# can hold a million records' worth, and every page a window touches stays in the
# process's resident size. Small windows keep it to what is in use: a random read of
# 1,000 samples of 1,000,000 peaked at 328 MB with the defaults, 287 MB with these.
PACK_WINDOW = 1 << 20
PACK_WINDOWS_MAPPED = 8 << 20
pygit2.settings.mwindow_size = PACK_WINDOW
pygit2.settings.mwindow_mapped_limit = PACK_WINDOWS_MAPPED


class RefChangedError(RefMovedError):
    """A compare-and-swap ref update lost a race."""


def _config_true(repo: pygit2.Repository, key: str) -> bool:
    try:
        return bool(repo.config.get_bool(key))
    except (KeyError, pygit2.GitError, ValueError):
        return False


LOOSE_COMPRESSION = 1
"""zlib level of the loose objects we write. Shards are hex digests, which
level 1 packs within 3% of level 6 at 2.5x the speed; ``git gc`` repacks
them as usual."""


def _use_fast_loose_objects(repo: pygit2.Repository, git_dir: str, durable: bool) -> None:
    """Write loose objects at :data:`LOOSE_COMPRESSION` (libgit2 defaults to level 6),
    fsynced when ``durable``.

    The object database gets the same two backends libgit2 sets up (packs
    first for reads, loose objects for writes). A repository that borrows
    objects through ``objects/info/alternates`` keeps libgit2's own set-up.
    """
    objects = os.path.join(git_dir, "objects")
    if os.path.exists(os.path.join(objects, "info", "alternates")):
        return
    odb = pygit2.Odb()
    odb.add_backend(pygit2.OdbBackendPack(objects), 2)
    odb.add_backend(pygit2.OdbBackendLoose(objects, LOOSE_COMPRESSION, durable), 1)
    repo.set_odb(odb)


def common_dir(git_dir: str) -> str:
    """The git common dir of a repository whose own git dir is ``git_dir``: what its
    ``commondir`` file names (a linked worktree), else ``git_dir`` itself."""
    try:
        with open(os.path.join(git_dir, "commondir")) as fh:
            named = fh.read().strip()
    except (FileNotFoundError, NotADirectoryError):
        return git_dir
    return os.path.normpath(os.path.join(git_dir, named)) if named else git_dir


class GitRepo:
    """A git repository holding hangar bookkeeping."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self._repo = repo
        self.private_dir = os.path.abspath(repo.path)
        """The git dir of this work tree (``.git/worktrees/<name>`` in a linked worktree)."""
        self.git_dir = common_dir(self.private_dir)
        """The git common dir: objects, refs, config and hangar state, shared by all worktrees."""
        self.durable = _config_true(repo, DURABLE_KEY)
        """``hangar.fsync``: objects, packs, refs and large-object files are fsynced as written."""
        if self.durable:
            pygit2.settings.enable_fsync_gitdir(True)  # libgit2's refs and index files: process-wide
        _use_fast_loose_objects(repo, self.git_dir, self.durable)
        self.work_dir = os.path.abspath(repo.workdir) if repo.workdir else None
        self._blob_cache: dict[str, bytes] = {}
        self._record_cache: Optional["RecordCache"] = None
        self._key_indexes: Optional["KeyIndexes"] = None
        self._locations: Optional[DerivedFiles] = None

    @property
    def pygit2_repo(self) -> pygit2.Repository:
        """The pygit2 repository, for bookkeeping's bulk walks over the object graph (transfer)."""
        return self._repo

    @property
    def record_cache(self) -> "RecordCache":
        """Shard records as arrays, for whole-column scans (derived, local; loads numpy)."""
        if self._record_cache is None:
            from .recordcache import RecordCache
            self._record_cache = RecordCache(os.path.join(self.git_dir, "hangar", "records"),
                                             os.path.join(self.git_dir, "hangar", "record-bundles"))
        return self._record_cache

    @property
    def key_indexes(self) -> "KeyIndexes":
        """Sorted key -> digest files of large columns, for random reads (derived, local;
        loads numpy)."""
        if self._key_indexes is None:
            from .keyindex import KeyIndexes
            self._key_indexes = KeyIndexes(os.path.join(self.git_dir, "hangar", "keys"))
        return self._key_indexes

    @property
    def locations(self) -> DerivedFiles:
        """Where the objects of a large column's rows lie in the store, per samples tree
        (derived, local hints for random reads: see :mod:`hangar_git.storage.locations`)."""
        if self._locations is None:
            self._locations = DerivedFiles(os.path.join(self.git_dir, "hangar", "locations"))
        return self._locations

    # -- opening ---------------------------------------------------------------
    @classmethod
    def discover(cls, path: str) -> Optional["GitRepo"]:
        """The repository at exactly ``path`` (work tree or git dir), or None."""
        try:
            return cls(pygit2.Repository(path, pygit2.enums.RepositoryOpenFlag.NO_SEARCH))
        except (pygit2.GitError, KeyError):
            return None

    @classmethod
    def find(cls, path: str) -> Optional["GitRepo"]:
        """The repository containing ``path``, like git: ``path`` itself or its nearest
        parent that is a work tree (linked worktrees included) or a git dir; or None."""
        if not os.path.isdir(path):
            return None
        try:
            found = pygit2.discover_repository(os.path.abspath(path))
        except (pygit2.GitError, KeyError):
            return None
        return cls.discover(found) if found else None

    @property
    def root(self) -> str:
        """This work tree's top directory, or the git dir of a bare repository."""
        return self.work_dir or self.git_dir

    @property
    def main_root(self) -> str:
        """The top directory of the repository as a whole: the main work tree (the common
        dir's parent when that is a ``.git`` folder), else the common dir."""
        if os.path.basename(self.git_dir) == ".git" and not self.is_bare:
            return os.path.dirname(self.git_dir)
        return self.git_dir

    @classmethod
    def init(cls, path: str, bare: bool = False) -> "GitRepo":
        return cls(pygit2.init_repository(path, bare=bare))

    @property
    def is_bare(self) -> bool:
        return bool(self._repo.is_bare)

    # -- objects ---------------------------------------------------------------
    def read_blob(self, oid: str) -> bytes:
        # Straight from the object database: half the cost of building a Blob
        # object first (which inflates and verifies the object, then copies it).
        return self._repo.odb.read(oid)[1]

    @staticmethod
    def blob_id(data: bytes) -> Oid:
        """The id git gives a blob of ``data`` (nothing is written)."""
        return Oid(str(pygit2.hash(data)))

    def write_blob(self, data: bytes) -> Oid:
        return Oid(str(self._repo.create_blob(data)))

    def write_object(self, obj_type: int, data: bytes) -> Oid:
        """Store an object of any type as a loose object."""
        return Oid(str(self._repo.odb.write(obj_type, data)))

    def has_object(self, oid: str) -> bool:
        try:
            return pygit2.Oid(hex=oid) in self._repo.odb
        except ValueError:
            return False

    def tree_entries(self, tree_oid: Optional[str]) -> dict[str, tuple[Oid, bool]]:
        """name -> (oid, is_tree) of a tree's direct entries."""
        return {name: (Oid(oid), is_tree) for name, (oid, is_tree) in gittrees.tree_entries(self._repo, tree_oid).items()}

    def tree_lookup(self, tree_oid: Optional[str], path: tuple[str, ...]) -> Optional[Oid]:
        """Oid at ``path`` inside a tree, or None."""
        found = gittrees.tree_lookup(self._repo, tree_oid, path)
        return Oid(found) if found is not None else None

    def update_tree(self, tree_oid: Optional[str], changes: Mapping[tuple[str, ...], Optional[str]],
                    blobs: Container[str] = frozenset()) -> Optional[Oid]:
        """A tree equal to ``tree_oid`` with paths set to blob/tree oids (None removes);
        None when empty. Entries named in ``blobs`` are taken as blobs without a lookup
        (see :func:`.gittrees.update_tree`)."""
        tree = gittrees.update_tree(self._repo, tree_oid, changes, blobs)
        return Oid(tree) if tree is not None else None

    def write_tree(self, entries: dict[str, str]) -> Optional[Oid]:
        return self.update_tree(None, {(k,): v for k, v in entries.items()})

    # -- commits -----------------------------------------------------------------
    def create_commit(self, tree: Optional[str], parents: Sequence[str], message: str,
                      name: str, email: str, when: Optional[int] = None) -> Oid:
        if tree is None:
            tree = gittrees.empty_tree(self._repo)
        ts = int(time.time()) if when is None else when
        sig = pygit2.Signature(name, email, ts, 0)
        oid = self._repo.create_commit(None, sig, sig, message, pygit2.Oid(hex=tree),
                                       [pygit2.Oid(hex=p) for p in parents])
        return Oid(str(oid))

    def commit_info(self, oid: str) -> "CommitInfo":
        try:
            c = self._repo[oid]
        except (KeyError, ValueError):
            raise CommitNotFoundError(oid) from None
        except pygit2.GitError as exc:
            raise damaged_object(exc, self, oid, "commit") or exc from None
        if c.type_str != "commit":
            raise CommitNotFoundError(oid)
        assert isinstance(c, pygit2.Commit)
        return CommitInfo(
            oid=Oid(str(c.id)), tree=Oid(str(c.tree_id)), parents=[Oid(str(p)) for p in c.parent_ids],
            message=c.message, author=c.author.name, email=c.author.email, time=c.commit_time)

    def resolve_commit(self, spec: str) -> Oid:
        """Full commit id from a full id, ``a=`` form or unique prefix (of 4 or more hex
        digits; AmbiguousRevisionError when it matches several objects)."""
        text = spec[2:] if isinstance(spec, str) and spec.startswith("a=") else spec
        if (not isinstance(text, str) or not 4 <= len(text) <= 40
                or not all(c in "0123456789abcdef" for c in text.lower())):
            raise CommitNotFoundError(spec)
        try:
            obj = self._repo[text] if len(text) == 40 else self._repo.revparse_single(text)
        except pygit2.AmbiguousError:
            raise AmbiguousRevisionError(spec) from None
        except pygit2.GitError as exc:
            if loose_file(self.git_dir, text):
                raise damaged_object(exc, self, text, "commit") or exc from None
            raise CommitNotFoundError(spec) from None
        except (KeyError, ValueError):
            raise CommitNotFoundError(spec) from None
        if obj.type_str != "commit":
            raise CommitNotFoundError(spec)
        return Oid(str(obj.id))

    def merge_base(self, a: str, b: str) -> Optional[Oid]:
        base = self._repo.merge_base(pygit2.Oid(hex=a), pygit2.Oid(hex=b))
        return Oid(str(base)) if base else None

    def ahead_behind(self, local: str, upstream: str) -> tuple[int, int]:
        """(commits of ``local`` not in ``upstream``, commits of ``upstream`` not in ``local``)."""
        ahead, behind = self._repo.ahead_behind(pygit2.Oid(hex=local), pygit2.Oid(hex=upstream))
        return int(ahead), int(behind)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        if ancestor == descendant:
            return True
        return bool(self._repo.descendant_of(pygit2.Oid(hex=descendant), pygit2.Oid(hex=ancestor)))

    def walk(self, heads: Sequence[str]) -> Iterator["CommitInfo"]:
        """Commits reachable from ``heads``, newest first (topological)."""
        if not heads:
            return
        try:
            walker = self._repo.walk(pygit2.Oid(hex=heads[0]), SortMode.TOPOLOGICAL | SortMode.TIME)
            for h in heads[1:]:
                walker.push(pygit2.Oid(hex=h))
            for c in walker:
                yield CommitInfo(
                    oid=Oid(str(c.id)), tree=Oid(str(c.tree_id)), parents=[Oid(str(p)) for p in c.parent_ids],
                    message=c.message, author=c.author.name, email=c.author.email, time=c.commit_time)
        except pygit2.GitError as exc:  # libgit2's walker does not say which commit it could not read
            self._damaged_commit(heads)
            raise damaged_object(exc, self) or exc from None

    def _damaged_commit(self, heads: Sequence[str]) -> None:
        """Raise DamagedObjectError for the first commit of ``heads``' history that cannot be read."""
        stack, seen = list(heads), set()
        while stack:
            oid = stack.pop()
            if oid not in seen:
                seen.add(oid)
                stack.extend(self.commit_info(oid).parents)

    # -- refs ----------------------------------------------------------------------
    def get_ref(self, name: str) -> Optional[Oid]:
        found = gitrefs.get_ref(self._repo, name)
        return Oid(found) if found is not None else None

    def list_refs(self, prefix: str) -> dict[str, Oid]:
        return {name: Oid(oid) for name, oid in gitrefs.list_refs(self._repo, prefix).items()}

    def set_ref(self, name: str, new: Optional[str], expected: Optional[str] = "any") -> None:
        """Move (or delete, with ``new=None``) a ref if it still points at ``expected``.

        ``expected=None`` means the ref must not exist; ``"any"`` skips the check.
        Serialised between processes by a lock file, so concurrent movers of
        one ref see exactly one winner.
        """
        if not gitrefs.valid_ref_name(name):
            raise InvalidNameError(f"invalid ref name {name!r}")
        with exclusive(os.path.join(self.git_dir, "hangar-refs.lock")):
            current = self.get_ref(name)
            if expected != "any" and current != expected:
                raise RefChangedError(f"ref {name} moved to {current} (expected {expected})")
            gitrefs.write_ref(self._repo, self.git_dir, name, new, current)

    # -- config ----------------------------------------------------------------------
    def config_get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        cfg = self._repo.config
        return cfg[key] if key in cfg else default

    def config_set(self, key: str, value: str) -> None:
        self._repo.config[key] = value

    def config_delete(self, key: str) -> None:
        cfg = self._repo.config
        if key in cfg:
            del cfg[key]

    def config_items(self, prefix: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for entry in self._repo.config:
            if entry.name.startswith(prefix) and entry.value is not None:
                out[entry.name] = entry.value
        return out


class CommitInfo:
    """Facts of one commit."""

    __slots__ = ("oid", "tree", "parents", "message", "author", "email", "time")

    def __init__(self, oid: Oid, tree: Oid, parents: list[Oid], message: str,
                 author: str, email: str, time: int) -> None:
        self.oid, self.tree, self.parents = oid, tree, parents
        self.message, self.author, self.email, self.time = message, author, email, time
