"""S3 settings of a store: TileDB ``vfs.s3.*`` config from the environment and per-repository git config.

TileDB reads ``TILEDB_VFS_S3_ENDPOINT_OVERRIDE``, ``TILEDB_VFS_S3_SCHEME``,
``TILEDB_VFS_S3_REGION``, ``TILEDB_VFS_S3_USE_VIRTUAL_ADDRESSING`` (any
``TILEDB_<PARAM>``) by itself when a context is made, and the AWS SDK reads
its credentials (``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``, ...). A repository
may also name its S3 server in git config; those settings win over the
environment, being the more specific. Credentials never come from git config:
it is copied with the repository and shown by ``git config -l``.

    hangar.s3.endpoint            host[:port] of an S3-compatible server (MinIO, Ceph, ...)
    hangar.s3.scheme              http or https
    hangar.s3.region              e.g. us-east-1
    hangar.s3.virtualaddressing   true (bucket.host) or false (host/bucket: most local servers)
"""
from __future__ import annotations

import os
from typing import Mapping, Optional

from ..errors import InvalidNameError

S3_PREFIX = "hangar.s3."
"""The git config section of a repository's S3 settings (listed in hangar_git.core.layout)."""
S3_NAMES = ("endpoint", "scheme", "region", "virtualaddressing")
SETTINGS = {S3_PREFIX + name: param for name, param in zip(S3_NAMES, (
    "vfs.s3.endpoint_override", "vfs.s3.scheme", "vfs.s3.region", "vfs.s3.use_virtual_addressing"))}
"""git config key -> TileDB config parameter; nothing else is taken from git config."""

_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def _env_name(param: str) -> str:
    return "TILEDB_" + param.upper().replace(".", "_")


def _checked(key: str, value: str) -> str:
    """A git config value as TileDB takes it (git booleans as true/false)."""
    value = value.strip()
    if key == S3_PREFIX + "virtualaddressing":
        if value.lower() not in _TRUE | _FALSE:
            raise InvalidNameError(f"git config {key} is {value!r}: set it to true or false")
        return "true" if value.lower() in _TRUE else "false"
    if key == S3_PREFIX + "scheme" and value not in ("http", "https"):
        raise InvalidNameError(f"git config {key} is {value!r}: set it to http or https")
    return value


def s3_config_from_env(git_config: Optional[Mapping[str, str]] = None,
                       environ: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """TileDB ``vfs.s3.*`` parameters for a store: the environment's ``TILEDB_VFS_S3_*``
    values, overridden by the repository's ``hangar.s3.*`` git config (``git_config``:
    key -> value of the keys that are set). Empty when neither sets anything."""
    env = os.environ if environ is None else environ
    config = {param: env[_env_name(param)] for param in SETTINGS.values() if env.get(_env_name(param))}
    for key, value in (git_config or {}).items():
        if key in SETTINGS and value:
            config[SETTINGS[key]] = _checked(key, value)
    return config
