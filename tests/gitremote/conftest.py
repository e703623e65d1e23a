"""Fixtures for remotes that are a plain git host plus an object store (no hangar anywhere there).

* ``git_host(kind)``: a fresh bare repository made with plain ``git init --bare``
  and the address clients use, for ``kind`` in :data:`KINDS`:

  - ``path``: a local path;
  - ``gitssh``: ``ssh://user@127.0.0.1:PORT/abs/path`` through a real OpenSSH
    ``sshd`` whose command PATH has git but no ``git-hangar`` (the test checks
    that it cannot run there); git reaches it with ``GIT_SSH_COMMAND``
    (``ssh -F`` that sshd's client config), as a user's ~/.ssh/config would;
  - ``http``: ``http://127.0.0.1:PORT/name.git`` served by ``git http-backend``
    behind a small HTTP server (:mod:`tests.gitremote.httpgit`).

* ``host``: the same, parametrised over every kind.
* ``data_url``: a fresh S3 prefix on the session's ``rclone serve s3``.
* ``make_repo(name)`` (from tests/conftest.py): a fresh initialised client repository.
"""
from __future__ import annotations

import itertools
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest

from hangar_git import Repository
from hangar_git.storage import open_store

from ..conftest import GIT_EMAIL, GIT_NAME, GitEnv
from ..sshd import SSHServer, SSHDUnavailable, start_sshd
from .httpgit import GitHTTPServer, start_git_http

KINDS = ("path", "gitssh", "http")
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
_counter = itertools.count()


@dataclass
class GitHost:
    """A bare git repository made by plain git, and how clients address it."""

    kind: str
    path: Path
    address: str

    def refs(self) -> dict[str, str]:
        """Every ref of the host: name -> object id."""
        out = subprocess.run(["git", "--git-dir", str(self.path), "for-each-ref", "--format=%(refname) %(objectname)"],
                             capture_output=True, text=True, check=True).stdout
        return dict(line.split(" ", 1) for line in out.splitlines())  # type: ignore[misc]

    def head(self, branch: str) -> Optional[str]:
        return self.refs().get(f"refs/hangar/heads/{branch}")

    def git(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "--git-dir", str(self.path), *args], capture_output=True, text=True)


def bucket_digests(uri: str) -> set[str]:
    """Digests of every sample in the store at ``uri`` (a fresh reader's view)."""
    store = open_store(uri, read_only=True)
    try:
        return {info.digest for info in store.iter_objects()}
    finally:
        store.close()


def plain_bare(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    return path


@pytest.fixture(scope="session")
def git_only_sshd(isolated_git_env: GitEnv, sshd_server: SSHServer,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """A real sshd whose commands see git but not git-hangar (the system PATH only).

    The session's client key (the isolated ~/.ssh/id_ed25519) is authorised there and its
    host key is in the isolated known_hosts, so both OpenSSH (``ssh -F`` the isolated
    config) and hangar's own SSH client reach it as a user's would."""
    env = {"PATH": SYSTEM_PATH, "HOME": str(isolated_git_env.home),
           "GIT_CONFIG_GLOBAL": str(isolated_git_env.gitconfig), "GIT_CONFIG_NOSYSTEM": "1"}
    for role in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{role}_NAME"], env[f"GIT_{role}_EMAIL"] = GIT_NAME, GIT_EMAIL
    try:
        with start_sshd(tmp_path_factory.mktemp("git-only-sshd"), env) as server:
            with server.authorized_keys_path.open("a") as fh:
                fh.write(Path(sshd_server.client_pub_key_path).read_text())
            line = server.known_hosts_path.read_text()
            known = Path(sshd_server.known_hosts_path)
            with known.open("a") as fh:
                fh.write(line)
            try:
                yield server
            finally:
                known.write_text(known.read_text().replace(line, ""))
    except SSHDUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def git_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHTTPServer]:
    """``git http-backend`` behind an HTTP server on 127.0.0.1, serving a temp root."""
    with start_git_http(tmp_path_factory.mktemp("git-http-root")) as server:
        yield server


def git_ssh_command(server: SSHServer) -> str:
    return f"ssh -F {server.ssh_config_path}"


HostFactory = Callable[[str], GitHost]


@pytest.fixture
def git_host(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HostFactory:
    """``git_host(kind)``: a fresh empty bare repository made by plain git, served over ``kind``."""

    def make(kind: str) -> GitHost:
        name = f"host{next(_counter)}.git"
        if kind == "path":
            path = plain_bare(tmp_path / name)
            return GitHost(kind, path, str(path))
        if kind == "gitssh":
            server = request.getfixturevalue("git_only_sshd")
            monkeypatch.setenv("GIT_SSH_COMMAND", git_ssh_command(request.getfixturevalue("sshd_server")))
            path = plain_bare(tmp_path / name)
            return GitHost(kind, path, server.address(path))
        if kind == "http":
            http = request.getfixturevalue("git_http")
            rel = f"{tmp_path.name}-{name}"
            path = plain_bare(http.root / rel)
            return GitHost(kind, path, http.url(rel))
        raise ValueError(f"unknown git host kind {kind!r}")

    return make


@pytest.fixture(params=KINDS)
def host(request: pytest.FixtureRequest, git_host: HostFactory) -> GitHost:
    return git_host(request.param)


@pytest.fixture
def data_url(s3_uri: str) -> str:
    return s3_uri


def only_credentials_env(extra: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """This environment without any TileDB S3 setting: what a user with only credentials has."""
    from ..subprocesses import python_env
    env = python_env(extra)
    for name in list(env):
        if name.startswith("TILEDB_"):
            del env[name]
    return env


def s3_git_config(server: Any) -> dict[str, str]:
    """``hangar.s3.*`` git config reaching the test S3 server (what a MinIO user sets once)."""
    return {"hangar.s3.endpoint": server.endpoint, "hangar.s3.scheme": "http",
            "hangar.s3.virtualaddressing": "false", "hangar.s3.region": "us-east-1"}


def set_git_config(repo: Repository, values: dict[str, str]) -> None:
    for key, value in values.items():
        repo.ctx.git.config_set(key, value)

