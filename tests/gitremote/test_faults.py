"""A push to a git host plus a bucket killed between the data upload and the ref move (the kill
points of hangar_git/faults.py), and a fetch-data killed half-way: nothing points at missing data,
and running the command again finishes the job."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from hangar_git import Repository

from ..faults.world import fault_hits, git_hangar
from ..remote.conftest import add_rows, assert_fsck_clean, assert_rows, dota_rows, reader
from .conftest import GitHost, bucket_digests

ROWS = dota_rows(3000, np.uint16, seed=11)   # about 700 kB: several data batches when batches are small
PUSH_POINTS = ("push.between_data_frames", "push.after_data", "push.before_update_ref")


@pytest.mark.parametrize("point", PUSH_POINTS)
def test_push_killed_before_the_ref_moves(point: str, git_host: Callable[[str], GitHost], data_url: str,
                                          make_repo: Callable[[str], Repository], tmp_path: Path) -> None:
    host = git_host("path")
    client = make_repo("client")
    base = add_rows(client, "master", "rows", ROWS[:10], "base")
    client.remote.add("origin", host.address, data_url=data_url)
    client.remote.push("origin", "master")
    head = add_rows(client, "master", "rows", ROWS[10:], "the rest", start=10)
    log = tmp_path / "faults.log"
    done = git_hangar("push", "origin", "master", cwd=Path(client.path), fault=point, log=log)
    assert done.returncode != 0 and [name for name, _ in fault_hits(log)] == [point], done.stderr
    # the branch still names the old, complete commit; whatever data arrived is harmless
    assert host.head("master") == base
    assert client.fsck(remote="origin").ok
    assert_fsck_clean(host.path)
    # running it again finishes the job
    done = git_hangar("push", "origin", "master", cwd=Path(client.path))
    assert done.returncode == 0, done.stderr
    assert host.head("master") == head
    assert len(bucket_digests(data_url)) == len(ROWS)
    clone = Repository(tmp_path / "clone", exists=False)
    clone.clone("c", "c@x", host.address)
    clone.remote.quiet = True
    clone.remote.fetch_data("origin", "master")
    with reader(clone) as co:
        assert_rows(co, "rows", ROWS)


def test_fetch_data_killed_half_way_resumes(git_host: Callable[[str], GitHost], data_url: str,
                                            make_repo: Callable[[str], Repository], tmp_path: Path) -> None:
    host = git_host("path")
    client = make_repo("client")
    add_rows(client, "master", "rows", ROWS, "rows")
    client.remote.add("origin", host.address, data_url=data_url)
    client.remote.push("origin", "master")
    clone_dir = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", host.address, str(clone_dir)], check=True, capture_output=True)
    assert git_hangar("fetch", "origin", "master", cwd=clone_dir).returncode == 0
    log = tmp_path / "faults.log"
    done = git_hangar("fetch-data", "origin", "master", cwd=clone_dir, fault="fetch_data.between_frames", log=log)
    assert done.returncode != 0 and fault_hits(log), done.stderr
    clone = Repository(clone_dir)
    assert clone.fsck().ok
    done = git_hangar("fetch-data", "origin", "master", cwd=clone_dir)
    assert done.returncode == 0, done.stderr
    with reader(Repository(clone_dir), branch="origin/master") as co:
        assert_rows(co, "rows", ROWS)
