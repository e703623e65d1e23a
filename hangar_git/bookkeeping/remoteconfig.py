"""Where a git remote's sample data lives, recorded on the git host beside the bookkeeping.

RECORD FORMAT IS PERMANENT. ``refs/hangar/config`` on a git host names a
commit whose tree holds one blob, ``data.json``::

    {"format": 1, "data_url": "s3://bucket/prefix",
     "s3": {"endpoint": "minio.example:9000", "scheme": "https", ...}}

``s3`` holds only the non-secret settings a repository may keep in git
config (``hangar.s3.*``: endpoint, scheme, region, virtualaddressing), never
credentials. The commit is deterministic (fixed author and time), so two
pushers publishing the same location make the same commit and neither
push is refused for it. This plays the part ``.lfsconfig`` plays for git-lfs:
a clone learns where the data is from the host it cloned.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import DataLocationError
from .gitrepo import GitRepo, Oid

CONFIG_REF = "refs/hangar/config"
FILE = "data.json"
FORMAT = 1
S3_KEYS = ("endpoint", "scheme", "region", "virtualaddressing")
_AUTHOR = ("hangar-git", "hangar-git@localhost")


@dataclass(frozen=True, slots=True)
class DataLocation:
    """A data URL (an S3 prefix or a shared folder) and the S3 settings that reach it."""

    url: str
    s3: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "data_url": self.url, "s3": dict(self.s3)}

    @classmethod
    def from_dict(cls, data: Any) -> "DataLocation":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataLocationError(f"{CONFIG_REF} on the git host is not a format-{FORMAT} data location: "
                                    f"upgrade hangar-git, or fix it with `git hangar remote add ... --data URL` "
                                    f"and a push")
        url, s3 = data.get("data_url"), data.get("s3", {})
        if not isinstance(url, str) or not url or not isinstance(s3, dict):
            raise DataLocationError(f"{CONFIG_REF} on the git host has no usable data_url")
        settings = tuple(sorted((k, v) for k, v in s3.items() if k in S3_KEYS and isinstance(v, str) and v))
        return cls(url, settings)


def write_location(git: GitRepo, location: DataLocation) -> Oid:
    """The commit recording ``location`` (written, no ref moved)."""
    blob = git.write_blob(json.dumps(location.to_dict(), sort_keys=True, indent=1).encode() + b"\n")
    tree = git.write_tree({FILE: blob})
    return git.create_commit(tree, [], "hangar data location\n", *_AUTHOR, when=0)


def read_location(git: GitRepo, commit: str) -> DataLocation:
    """The data location a config commit records (DataLocationError if it is not one)."""
    try:
        blob = git.tree_entries(git.commit_info(commit).tree).get(FILE)
        data = json.loads(git.read_blob(blob[0])) if blob and not blob[1] else None
    except (KeyError, ValueError, UnicodeDecodeError):
        data = None
    return DataLocation.from_dict(data)
