"""Repositories whose store is an S3 prefix, end to end: init (API and CLI), write, commit,
read, push into and fetch-data out of them over a local-path remote, gc, fsck, drop.

The S3 server is the session's ``rclone serve s3`` (tests/s3.py); its bytes are in a
local folder, which is how these tests see that the data went to S3 and how they damage it.
"""
from __future__ import annotations

import subprocess
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from hangar_git import MissingDataError, Repository
from hangar_git.transport.wire import PART_BYTES

from tests.s3 import S3Server
from tests.subprocesses import python_env

from .conftest import flip

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # partial clones warn on checkout

ROWS = np.random.default_rng(0).integers(0, 256, size=(40, 117), dtype=np.uint8)
BLOCK_ARRAY = np.random.default_rng(1).random((512, 512), dtype=np.float32)      # exactly 1 MiB
BIG = np.random.default_rng(2).random((PART_BYTES // 4 + 1024,), dtype=np.float32)  # over one wire part


def s3_repo(path: Path, uri: str, **kwargs: object) -> Repository:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        repo = Repository(path, exists=False)
    repo.init("tester", "t@x", store_uri=uri, **kwargs)  # type: ignore[arg-type]
    return repo


def commit_samples(repo: Repository, big: bool = True) -> str:
    with repo.checkout(write=True) as co:
        rows = co.add_ndarray_column("rows", prototype=ROWS[0])
        rows.update(dict(enumerate(ROWS)))
        co.add_ndarray_column("block", prototype=BLOCK_ARRAY)["a"] = BLOCK_ARRAY
        if big:
            co.add_ndarray_column("big", prototype=BIG)["b"] = BIG
        return co.commit("samples")


def assert_samples(repo: Repository, big: bool = True) -> None:
    with repo.checkout() as co:
        assert all((co["rows", i] == ROWS[i]).all() for i in range(len(ROWS)))
        assert (co["block", "a"] == BLOCK_ARRAY).all()
        assert not big or (co["big", "b"] == BIG).all()


def files_under(server: S3Server, uri: str) -> int:
    root = server.local_path(uri)
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0


@pytest.fixture
def repo(tmp_path: Path, s3_uri: str) -> Iterator[Repository]:
    yield s3_repo(tmp_path / "repo", s3_uri)


def test_init_write_commit_read(repo: Repository, s3_server: S3Server, s3_uri: str, tmp_path: Path) -> None:
    assert repo.ctx.store_uri == s3_uri
    commit_samples(repo)
    assert files_under(s3_server, s3_uri) > ROWS.nbytes + BLOCK_ARRAY.nbytes + BIG.nbytes // 2
    assert not (tmp_path / "repo" / ".git" / "hangar" / "store").exists()
    assert_samples(Repository(tmp_path / "repo"))
    assert Repository(tmp_path / "repo").fsck().ok


def test_cli_init_with_an_s3_store(tmp_path: Path, s3_server: S3Server) -> None:
    uri = s3_server.new_uri()
    env = python_env()

    def hangar(*args: str) -> str:
        proc = subprocess.run(["git-hangar", "-C", str(tmp_path / "cli"), *args], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    (tmp_path / "cli").mkdir()
    hangar("init", "--name", "cli", "--email", "c@x", "--store", uri)
    repo = Repository(tmp_path / "cli")
    assert repo.ctx.store_uri == uri
    commit_samples(repo, big=False)
    assert "ok" in hangar("fsck")
    hangar("gc", "--grace", "0")
    assert_samples(Repository(tmp_path / "cli"), big=False)
    assert files_under(s3_server, uri) > ROWS.nbytes + BLOCK_ARRAY.nbytes


def test_push_into_and_fetch_data_out_of_an_s3_backed_repository(tmp_path: Path, s3_uri: str) -> None:
    server = s3_repo(tmp_path / "server.git", s3_uri, bare=True)
    client = Repository(tmp_path / "client", exists=False)
    client.init("c", "c@x")
    commit_samples(client)                    # the big sample arrives at the server in parts
    client.remote.add("origin", str(tmp_path / "server.git"))
    client.remote.quiet = True
    assert client.remote.push("origin", "master")
    assert Repository(server.path).fsck().ok
    clone = Repository(tmp_path / "clone", exists=False)
    clone.clone("d", "d@x", str(tmp_path / "server.git"))
    clone.remote.quiet = True
    clone.remote.fetch_data("origin", "master")
    assert_samples(clone)


def test_an_s3_backed_clone_pushes_and_fetches_data(tmp_path: Path, s3_uri: str) -> None:
    Repository(tmp_path / "server.git", exists=False).init("s", "s@x", bare=True)
    repo = s3_repo(tmp_path / "a", s3_uri)
    commit_samples(repo)
    repo.remote.add("origin", str(tmp_path / "server.git"))
    repo.remote.quiet = True
    assert repo.remote.push("origin", "master")
    result = repo.drop("origin", "master")
    assert result.removed > 0
    with pytest.raises(MissingDataError):
        with Repository(tmp_path / "a").checkout() as co:
            co["rows", 0]
    Repository(tmp_path / "a").remote.fetch_data("origin", "master")
    assert_samples(Repository(tmp_path / "a"))
    assert Repository(tmp_path / "a").fsck().ok


def test_gc_frees_unreferenced_data_on_s3(repo: Repository, s3_server: S3Server, s3_uri: str,
                                          tmp_path: Path) -> None:
    commit_samples(repo, big=False)
    with repo.checkout(write=True) as co:     # written, never committed
        co["block"]["b"] = np.random.default_rng(9).random((512, 512), dtype=np.float32)
        co.flush()
        co.reset_staging_area()
    before = files_under(s3_server, s3_uri)
    result = repo.gc(grace_seconds=0)
    assert result.removed == 1
    assert files_under(s3_server, s3_uri) <= before - BLOCK_ARRAY.nbytes
    fresh = Repository(tmp_path / "repo")
    assert_samples(fresh, big=False)
    assert fresh.fsck().ok


def test_fsck_finds_damaged_bytes_on_s3(repo: Repository, s3_server: S3Server, s3_uri: str,
                                        tmp_path: Path) -> None:
    commit_samples(repo, big=False)
    probe = BLOCK_ARRAY.tobytes()[1000:1032]
    for path in s3_server.local_path(s3_uri).rglob("*"):
        blob = path.read_bytes() if path.is_file() else b""
        if probe in blob:
            path.write_bytes(flip(blob, blob.index(probe) + 7))
            break
    else:
        raise AssertionError("the 1 MiB sample is not stored verbatim on the S3 server")
    report = Repository(tmp_path / "repo").fsck()
    assert not report.ok and report.problems


def test_init_remove_old_keeps_the_s3_store(repo: Repository, s3_server: S3Server, s3_uri: str,
                                            tmp_path: Path) -> None:
    """Regression: init(remove_old=True) switched hangar.store back to a local folder without a
    word, and left the old samples on S3 for good."""
    commit_samples(repo, big=False)
    with_old = files_under(s3_server, s3_uri)
    again = Repository(tmp_path / "repo")
    again.init("tester", "t@x", remove_old=True)
    assert again.ctx.store_uri == s3_uri
    again.gc(grace_seconds=0)
    assert files_under(s3_server, s3_uri) < with_old - BLOCK_ARRAY.nbytes
    with again.checkout(write=True) as co:
        co.add_ndarray_column("rows", prototype=ROWS[0])[0] = ROWS[0]
        co.commit("fresh start")
    assert Repository(tmp_path / "repo").fsck().ok


def test_git_config_names_the_s3_server(tmp_path: Path, s3_server: S3Server) -> None:
    """A repository's hangar.s3.* git config reaches TileDB and wins over the environment:
    here the environment names a dead port, and the repository the real server."""
    uri = s3_server.new_uri()
    env = {**python_env(), "TILEDB_VFS_S3_ENDPOINT_OVERRIDE": "127.0.0.1:9", "TILEDB_VFS_S3_SCHEME": "https"}
    work = tmp_path / "cfg"
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    for key, value in (("hangar.s3.endpoint", s3_server.endpoint), ("hangar.s3.scheme", "http"),
                       ("hangar.s3.virtualaddressing", "false"), ("hangar.s3.region", "us-east-1")):
        subprocess.run(["git", "-C", str(work), "config", key, value], check=True)
    np.save(tmp_path / "row.npy", ROWS[0])

    def hangar(*args: str) -> str:
        proc = subprocess.run(["git-hangar", "-C", str(work), *args], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    hangar("init", "--name", "cfg", "--email", "c@x", "--store", uri)
    hangar("add", "rows", str(tmp_path / "row.npy"))
    hangar("commit", "-m", "one row")
    assert "ok" in hangar("fsck")
    assert files_under(s3_server, uri) >= ROWS[0].nbytes
    for key in ("hangar.s3.endpoint", "hangar.s3.scheme"):
        subprocess.run(["git", "-C", str(work), "config", "--unset", key], check=True)
    proc = subprocess.run(["git-hangar", "-C", str(work), "fsck"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "127.0.0.1:9" in proc.stderr or "S3" in proc.stderr  # the dead endpoint: the settings were the config's
