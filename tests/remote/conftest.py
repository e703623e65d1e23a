"""Fixtures for the remote capability tests: bare server repositories behind every transport.

* ``server_address(kind)``: a factory giving a fresh, empty bare hangar
  repository on a server and its address, for ``kind`` in :data:`KINDS`:

  - ``path``: a plain local path (spawns ``git-hangar serve PATH``);
  - ``file``: the same as a ``file://`` URL;
  - ``openssh``: ``ssh://user@127.0.0.1:PORT/abs/path`` through the real
    OpenSSH ``sshd_server`` of tests/conftest.py (which runs
    ``git-hangar serve PATH`` from the test venv);
  - ``hangarssh``: our own :class:`HangarSSHServer` (session scope, root in
    a temp dir, the sshd fixture's client key authorised, its host key in
    the isolated known_hosts), repositories created under its root.

* ``server``: the same, parametrised over every kind (ids are the kinds).
* ``make_repo(name)`` (from tests/conftest.py): a fresh initialised client repository.
* ``run_py(code)`` / ``spawn_py(code)``: Python in another process with the
  isolated environment (the same HOME, ~/.ssh and git identity).
* Dota2-like data helpers: :func:`dota_rows`, :func:`add_rows`, :func:`assert_rows`.
"""
from __future__ import annotations

import itertools
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.storage import open_store
from hangar_git.transport.service import RepositoryService
from hangar_git.transport.sshserver import HangarSSHServer

from .. import subprocesses

KINDS = ("path", "file", "openssh", "hangarssh")
SSH_KINDS = ("openssh", "hangarssh")
DOTA_WIDTH = 117          # the Dota2 games dataset: 117 small integers per game
_counter = itertools.count()


# -- server repositories ------------------------------------------------------------------
@dataclass
class ServerRepo:
    """A bare hangar repository on a "server" and the address clients use for it."""

    kind: str
    path: Path
    address: str

    def open(self) -> Repository:
        """A fresh handle on the server repository (sees what other processes wrote)."""
        return Repository(self.path)

    def heads(self) -> dict[str, str]:
        return dict(self.open().ctx.git.list_refs("refs/hangar/heads/"))

    def head(self, branch: str) -> Optional[str]:
        return self.heads().get(branch)

    def digests(self) -> set[str]:
        """Digests of every sample object durably in the server's store."""
        repo = self.open()
        store = open_store(repo.ctx.store_uri, read_only=True)
        try:
            return {info.digest for info in store.iter_objects()}
        finally:
            store.close()

    def git_objects(self) -> set[str]:
        """Ids of every git object in the server repository (loose and packed)."""
        out = subprocess.run(["git", "--git-dir", str(self.path), "cat-file", "--batch-all-objects",
                              "--batch-check=%(objectname)"], capture_output=True, text=True, check=True)
        return set(out.stdout.split())

    def fsck(self) -> None:
        assert_fsck_clean(self.path)


def assert_fsck_clean(path: str | os.PathLike[str]) -> None:
    """``git fsck --full`` on a repository (bare or not) exits 0."""
    done = subprocess.run(["git", "-C", str(path), "fsck", "--full", "--no-progress"],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"git fsck --full failed in {path}:\n{done.stdout}\n{done.stderr}"


def init_bare(path: Path) -> Path:
    Repository(path, exists=False).init("server", "server@hangar.invalid", bare=True)
    return path


@dataclass
class HangarSSH:
    """The session's HangarSSHServer and the authorized_keys file it reads."""

    server: HangarSSHServer
    authorized_keys: Path


@pytest.fixture(scope="session")
def hangar_ssh(sshd_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HangarSSH]:
    """Our standalone SSH server serving repositories under a temp root.

    The client key of the sshd fixture (what ~/.ssh/config offers for
    127.0.0.1) is authorised; the host key is added to the isolated
    known_hosts for the session and removed afterwards.
    """
    root = tmp_path_factory.mktemp("hangar-server-root")
    state = tmp_path_factory.mktemp("hangar-server-state")
    keys = state / "authorized_keys"
    keys.write_text(Path(sshd_server.client_pub_key_path).read_text())
    server = HangarSSHServer("127.0.0.1", 0, str(root), str(keys),
                             host_key_path=str(state / "host_key"), handler_factory=RepositoryService)
    line = server.known_hosts_line() + "\n"
    known = Path(sshd_server.known_hosts_path)
    with server:
        with known.open("a") as fh:
            fh.write(line)
        try:
            yield HangarSSH(server, keys)
        finally:
            known.write_text(known.read_text().replace(line, ""))


ServerFactory = Callable[[str], ServerRepo]


@pytest.fixture
def server_address(request: pytest.FixtureRequest, tmp_path: Path) -> ServerFactory:
    """``server_address(kind)``: a fresh empty bare repository served over ``kind``."""

    def make(kind: str) -> ServerRepo:
        name = f"server{next(_counter)}.git"
        if kind in ("path", "file", "openssh"):
            path = init_bare(tmp_path / name)
            if kind == "path":
                return ServerRepo(kind, path, str(path))
            if kind == "file":
                return ServerRepo(kind, path, path.as_uri())
            sshd = request.getfixturevalue("sshd_server")
            return ServerRepo(kind, path, sshd.address(path))
        if kind == "hangarssh":
            server = request.getfixturevalue("hangar_ssh").server
            sshd = request.getfixturevalue("sshd_server")
            rel = f"{tmp_path.name}/{name}"
            path = init_bare(Path(server.root) / rel)
            return ServerRepo(kind, path, f"ssh://{sshd.user}@127.0.0.1:{server.port}/{rel}")
        raise ValueError(f"unknown server kind {kind!r}")

    return make


@pytest.fixture(params=KINDS)
def server(request: pytest.FixtureRequest, server_address: ServerFactory) -> ServerRepo:
    """A fresh bare server repository, once per transport kind."""
    return server_address(request.param)


# -- client repositories ----------------------------------------------------------------------
# -- Dota2-like data -----------------------------------------------------------------------------
def dota_rows(n: int, dtype: Any = np.uint8, seed: int = 0) -> np.ndarray:
    """``n`` games of 117 small integers (team, cluster, mode, type, 113 heroes)."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 3, size=(n, DOTA_WIDTH)).astype(dtype)
    rows[:, 1] = rng.integers(100, 250, size=n)          # cluster id: distinct rows
    rows[:, 0] = np.arange(n) % 2
    rows[:, 2] = np.arange(n) // 2 % 251                  # no two rows equal (no dedup)
    return rows


def add_rows(repo: Repository, branch: str, column: str, rows: np.ndarray, message: str,
             start: int = 0) -> str:
    """Commit ``rows`` as samples ``start..`` of ``column`` (created if needed) on ``branch``."""
    with repo.checkout(write=True, branch=branch) as co:
        col = co.columns[column] if column in co.columns else co.add_ndarray_column(
            column, prototype=rows[0])
        with col as c:
            for i, row in enumerate(rows, start):
                c[i] = row
        return co.commit(message)


def reader(repo: Repository, **kwargs: Any) -> Any:
    """A read checkout, whether or not it warns about remote references."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return repo.checkout(**kwargs)


def assert_rows(co: Any, column: str, rows: np.ndarray, start: int = 0) -> None:
    """Every sample of ``column`` reads back exactly as ``rows`` (dtype included)."""
    col = co[column]
    assert len(col) == len(rows)
    for i, row in enumerate(rows, start):
        got = col[i]
        assert got.dtype == row.dtype and got.shape == row.shape, (column, i)
        assert np.array_equal(got, row), (column, i)


# -- other processes ---------------------------------------------------------------------------------
def python_env(extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    return subprocesses.python_env(extra)


@pytest.fixture
def run_py() -> Callable[..., subprocess.CompletedProcess]:
    """``run_py(code)`` runs dedented ``code`` in a new interpreter; must exit 0 unless check=False."""
    return lambda code, check=True, timeout=120: subprocesses.run_python(code, python_env(), check, timeout)


@pytest.fixture
def spawn_py() -> Iterator[Callable[[str], subprocess.Popen]]:
    """Start an interpreter running ``code`` (stdout/stderr piped); killed at teardown."""
    procs: list[subprocess.Popen] = []

    def spawn(code: str) -> subprocess.Popen:
        procs.append(subprocesses.spawn_python(code, python_env(), stdin=subprocess.DEVNULL))
        return procs[-1]

    yield spawn
    subprocesses.reap(procs)
