"""The S3 test server and the S3 settings a store takes from the environment and git config."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import tiledb

from hangar_git.errors import InvalidNameError
from hangar_git.storage.s3config import s3_config_from_env

from tests.s3 import SAFETY_ENV, S3Server, start_s3_server
from tests.subprocesses import python_env, run_python

ENV = {"TILEDB_VFS_S3_ENDPOINT_OVERRIDE": "127.0.0.1:9", "TILEDB_VFS_S3_SCHEME": "http",
       "TILEDB_VFS_S3_REGION": "us-east-1", "TILEDB_VFS_S3_USE_VIRTUAL_ADDRESSING": "false"}


def test_every_session_has_the_aws_safety_variables() -> None:
    assert {k: os.environ.get(k) for k in SAFETY_ENV} == SAFETY_ENV


def test_the_server_is_on_loopback_and_tiledb_reaches_it(s3_server: S3Server, s3_uri: str) -> None:
    assert s3_server.host == "127.0.0.1"
    assert os.environ["TILEDB_VFS_S3_ENDPOINT_OVERRIDE"] == s3_server.endpoint
    config = tiledb.Ctx().config()             # TileDB reads TILEDB_VFS_S3_* itself
    assert config["vfs.s3.endpoint_override"] == s3_server.endpoint
    assert config["vfs.s3.use_virtual_addressing"] == "false"
    vfs = tiledb.VFS()
    with vfs.open(f"{s3_uri}/hello", "wb") as fh:
        fh.write(b"hello")
    assert (s3_server.local_path(s3_uri) / "hello").read_bytes() == b"hello"


def test_each_test_gets_a_fresh_prefix(s3_server: S3Server, s3_uri: str) -> None:
    assert s3_uri != s3_server.new_uri()
    assert not s3_server.local_path(s3_uri).exists()


def test_other_processes_inherit_the_settings(s3_server: S3Server, s3_uri: str) -> None:
    code = f"""
    import tiledb
    with tiledb.VFS().open({s3_uri + '/child'!r}, "wb") as fh:
        fh.write(b"from a child")
    """
    run_python(code, python_env(), timeout=60)
    assert (s3_server.local_path(s3_uri) / "child").read_bytes() == b"from a child"


def test_a_server_is_stopped_when_its_block_ends(tmp_path: Path) -> None:
    with start_s3_server(tmp_path) as server:
        pid = server.pid
        os.kill(pid, 0)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_s3_settings_from_the_environment() -> None:
    assert s3_config_from_env(environ=ENV) == {
        "vfs.s3.endpoint_override": "127.0.0.1:9", "vfs.s3.scheme": "http",
        "vfs.s3.region": "us-east-1", "vfs.s3.use_virtual_addressing": "false"}
    assert s3_config_from_env(environ={}) == {}


def test_repository_git_config_wins_and_never_gives_credentials() -> None:
    git = {"hangar.s3.endpoint": "minio.local:9000", "hangar.s3.scheme": "https",
           "hangar.s3.virtualaddressing": "yes", "hangar.s3.aws_secret_access_key": "leak",
           "hangar.s3.region": ""}
    config = s3_config_from_env(git, environ=ENV)
    assert config == {"vfs.s3.endpoint_override": "minio.local:9000", "vfs.s3.scheme": "https",
                      "vfs.s3.region": "us-east-1", "vfs.s3.use_virtual_addressing": "true"}
    assert not any("secret" in k or "key" in k for k in config)


@pytest.mark.parametrize("key, value, hint", [
    ("hangar.s3.scheme", "ftp", "http or https"),
    ("hangar.s3.virtualaddressing", "maybe", "true or false")])
def test_bad_git_config_values_say_what_to_set(key: str, value: str, hint: str) -> None:
    with pytest.raises(InvalidNameError, match=f"{key}.*{hint}"):
        s3_config_from_env({key: value}, environ={})
