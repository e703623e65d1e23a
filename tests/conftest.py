"""Session-wide test isolation and shared fixtures.

* ``isolated_git_env`` (autouse, session): HOME, git's global config and
  identity point at a temp dir, system config is off, and pygit2's config
  search path is blanked, so no test reads or writes the machine's
  ``~/.gitconfig``, ``~/.ssh`` or ssh-agent.
* ``sshd_server`` (session): a real OpenSSH sshd on 127.0.0.1 with
  throwaway keys, see :mod:`tests.sshd`.
* ``s3_server`` (session) / ``s3_uri``: a real S3 server on 127.0.0.1, see
  :mod:`tests.s3`; the AWS SDK safety variables are set for every session.
* ``make_repo(name)``: a fresh initialised client repository.
* ``--slow``: run the tests marked ``@pytest.mark.slow`` (skipped by default).

Under pytest-xdist every worker is its own session: it gets its own temp
HOME and its own sshd on its own port.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import pygit2
import pytest

if TYPE_CHECKING:
    from hangar_git import Repository
from pygit2.enums import ConfigLevel

from tests.sshd import SSHDUnavailable, SSHServer, start_sshd

# ``s3_server`` (session) and ``s3_uri`` (a fresh S3 prefix per test): a real
# ``rclone serve s3`` on 127.0.0.1, see :mod:`tests.s3`.
pytest_plugins = ["tests.s3"]

GIT_NAME = "Hangar Test"
GIT_EMAIL = "test@hangar-git.invalid"

# Variables from the outer environment that would make git, pygit2 or ssh
# act on something other than the test's own files.
LEAKY_ENV = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE",
    "GIT_CEILING_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT", "GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE",
    "GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSH_VARIANT", "GIT_ASKPASS",
    "SSH_AUTH_SOCK", "SSH_AGENT_PID", "SSH_ASKPASS",
)

PYGIT2_LEVELS = (ConfigLevel.PROGRAMDATA, ConfigLevel.SYSTEM,
                 ConfigLevel.XDG, ConfigLevel.GLOBAL)


# -- --slow -----------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False,
                     help="also run tests marked slow (long fault-injection loops)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# -- git isolation ------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class GitEnv:
    """Where the isolated session keeps its home and git config."""

    home: Path
    gitconfig: Path
    empty_dir: Path    # what pygit2's system/xdg/programdata paths point at
    name: str = GIT_NAME
    email: str = GIT_EMAIL

    @property
    def ssh_dir(self) -> Path:
        return self.home / ".ssh"


def write_gitconfig(path: Path) -> None:
    path.write_text(
        "[user]\n"
        f"\tname = {GIT_NAME}\n"
        f"\temail = {GIT_EMAIL}\n"
        "[init]\n"
        "\tdefaultBranch = master\n"
        "[advice]\n"
        "\tdetachedHead = false\n"
    )


@pytest.fixture(scope="session", autouse=True)
def isolated_git_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitEnv]:
    root = tmp_path_factory.mktemp("isolated")
    env = GitEnv(home=root / "home", gitconfig=root / "home" / ".gitconfig",
                 empty_dir=root / "empty")
    env.home.mkdir()
    env.empty_dir.mkdir()
    write_gitconfig(env.gitconfig)

    saved_search_path = {level: pygit2.settings.search_path[level] for level in PYGIT2_LEVELS}
    with pytest.MonkeyPatch.context() as mp:
        for name in LEAKY_ENV:
            mp.delenv(name, raising=False)
        mp.setenv("HOME", str(env.home))
        mp.setenv("XDG_CONFIG_HOME", str(env.home / ".config"))
        mp.setenv("GIT_CONFIG_GLOBAL", str(env.gitconfig))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("GIT_TERMINAL_PROMPT", "0")
        # TileDB's AWS SDK never probes instance metadata and talks to non-AWS
        # S3 servers, whether or not a test starts one (see tests/s3.py)
        from tests.s3 import SAFETY_ENV  # a plugin (pytest_plugins): imported once registered
        for name, value in SAFETY_ENV.items():
            mp.setenv(name, value)
        for role in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{role}_NAME", GIT_NAME)
            mp.setenv(f"GIT_{role}_EMAIL", GIT_EMAIL)
        # libgit2 ignores GIT_CONFIG_GLOBAL/NOSYSTEM: point its search path
        # at the temp HOME (global) and at an empty dir (everything else).
        for level in PYGIT2_LEVELS:
            pygit2.settings.search_path[level] = str(env.empty_dir)
        pygit2.settings.search_path[ConfigLevel.GLOBAL] = str(env.home)
        try:
            yield env
        finally:
            for level, value in saved_search_path.items():
                pygit2.settings.search_path[level] = value


# -- sshd -------------------------------------------------------------------
def remote_env(git_env: GitEnv) -> dict[str, str]:
    """What commands run over the test sshd see: this interpreter's bin dir
    first on PATH (so `git-hangar` is the one under test) and the same
    isolated HOME and git identity as the test session."""
    bin_dir = os.path.dirname(sys.executable)
    env = {
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", os.defpath)]),
        "HOME": str(git_env.home),
        "XDG_CONFIG_HOME": str(git_env.home / ".config"),
        "GIT_CONFIG_GLOBAL": str(git_env.gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    for role in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{role}_NAME"] = GIT_NAME
        env[f"GIT_{role}_EMAIL"] = GIT_EMAIL
    return env


@pytest.fixture(scope="session")
def sshd_server(isolated_git_env: GitEnv,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """A real sshd on 127.0.0.1:PORT accepting the current user with a
    throwaway key.  Attributes: host, port, user, client_key_path,
    host_key_pub, known_hosts_path, ssh_config_path, log_path;
    ``address(path)`` gives ``ssh://user@127.0.0.1:PORT/abs/path``.  The
    client key, known_hosts and config are also in the isolated ~/.ssh."""
    directory = tmp_path_factory.mktemp("sshd")
    try:
        with start_sshd(directory, remote_env(isolated_git_env),
                        client_dir=isolated_git_env.ssh_dir) as server:
            yield server
    except SSHDUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[[str], Repository]:
    """``make(name)``: a fresh initialised, quiet repository ``tmp_path/name``."""
    from hangar_git import Repository

    def make(name: str) -> Repository:
        repo = Repository(tmp_path / name, exists=False)
        repo.init(name, f"{name}@hangar.invalid")
        repo.remote.quiet = True
        return repo
    return make
