"""Living beside code on one git host: git gc never drops hangar records; drop and fsck --remote
ask the bucket; the CLI's remote add --data, list, clone, push and fsck --remote."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from hangar_git import HangarError, Repository
from hangar_git.storage.runtime import tiledb_vfs as vfs

from ..faults.world import git_hangar
from ..remote.conftest import add_rows, assert_fsck_clean, assert_rows, dota_rows, reader
from .conftest import GitHost

ROWS = dota_rows(400, np.uint8, seed=21)


def git(*args: Any, cwd: Any) -> str:
    done = subprocess.run(["git", *map(str, args)], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_git_gc_never_drops_hangar_records(git_host: Callable[[str], GitHost], data_url: str,
                                           make_repo: Callable[[str], Repository], tmp_path: Path) -> None:
    host = git_host("path")
    first = make_repo("first")
    head = add_rows(first, "master", "rows", ROWS, "rows")
    first.create_branch("dev")
    dev = add_rows(first, "dev", "rows", ROWS[:10] + 1, "dev rows")
    first.remote.add("origin", host.address, data_url=data_url)
    first.remote.push("origin", "master")
    first.remote.push("origin", "dev")
    clone = Repository(tmp_path / "clone", exists=False)
    clone.clone("c", "c@x", host.address)
    clone.remote.quiet = True
    clone.remote.fetch("origin", "dev")
    refs_before = host.refs()
    for where in (host.path, first.path, clone.path):
        git("gc", "--quiet", "--aggressive", "--prune=now", cwd=where)
        git("reflog", "expire", "--expire=now", "--all", cwd=where)
        git("prune", "--expire=now", cwd=where)
        assert_fsck_clean(where)
    assert host.refs() == refs_before
    assert first.fsck().ok and clone.fsck().ok
    assert clone.branch_head("origin/dev") == dev and clone.branch_head("master") == head
    clone.remote.fetch_data("origin", "dev")
    with reader(clone, branch="origin/dev") as co:
        assert np.array_equal(co["rows"][3], ROWS[3] + 1)


def test_drop_frees_only_what_the_bucket_holds(git_host: Callable[[str], GitHost], data_url: str, s3_server: Any,
                                               make_repo: Callable[[str], Repository]) -> None:
    host = git_host("path")
    first = make_repo("first")
    head = add_rows(first, "master", "rows", ROWS, "rows")
    first.remote.add("origin", host.address, data_url=data_url)
    first.remote.push("origin", "master")
    unpushed = add_rows(first, "master", "more", ROWS[:20] + 7, "not pushed")
    with pytest.raises(HangarError, match="nothing dropped"):
        first.drop("origin", commit=unpushed, column_names=["more"])
    result = first.drop("origin", commit=head)
    assert result.removed == len(ROWS)
    with pytest.warns(UserWarning, match="rows"):
        co = first.checkout()
    with co:
        assert co["rows"].contains_remote_references is True
        assert co["more"].contains_remote_references is False
    first.remote.fetch_data("origin", commit=head)
    with reader(first) as co:
        assert_rows(co, "rows", ROWS)


def test_fsck_remote_checks_the_bucket(git_host: Callable[[str], GitHost], data_url: str, s3_server: Any,
                                       make_repo: Callable[[str], Repository]) -> None:
    host = git_host("path")
    first = make_repo("first")
    add_rows(first, "master", "rows", ROWS, "rows")
    first.remote.add("origin", host.address, data_url=data_url)
    first.remote.push("origin", "master")
    report = first.fsck(remote="origin")
    assert report.ok and report.samples == len(ROWS), str(report)
    # the bucket loses its data (someone emptied it): fsck --remote says so, drop frees nothing
    for sub in ("data", "index"):        # through the S3 server, as any S3 client would
        for name in vfs(data_url).ls(f"{data_url}/{sub}"):
            vfs(data_url).remove_file(name)
    report = first.fsck(remote="origin")
    assert not report.ok
    assert "of origin/master is not in the remote's data store" in str(report)
    done = git_hangar("fsck", "--remote", "origin", cwd=Path(first.path))
    assert done.returncode == 1 and "problem" in done.stdout
    with pytest.raises(HangarError, match="nothing dropped"):
        first.drop("origin")
    assert first.fsck().ok


def test_cli_remote_add_list_clone_push(git_host: Callable[[str], GitHost], data_url: str,
                                        make_repo: Callable[[str], Repository], tmp_path: Path) -> None:
    host = git_host("path")
    first = make_repo("first")
    head = add_rows(first, "master", "rows", ROWS[:30], "rows")
    where = Path(first.path)
    done = git_hangar("remote", "add", "origin", host.address, "--data", data_url, cwd=where)
    assert done.returncode == 0, done.stderr
    listed = git_hangar("remote", "list", cwd=where).stdout
    assert listed == f"origin\t{host.address}\t{data_url}\n"
    assert git_hangar("push", "origin", "master", cwd=where).returncode == 0
    done = git_hangar("clone", host.address, tmp_path / "clone", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert git_hangar("fetch-data", "origin", cwd=tmp_path / "clone").returncode == 0
    clone = Repository(tmp_path / "clone")
    assert clone.branch_head("master") == head
    with reader(clone) as co:
        assert_rows(co, "rows", ROWS[:30])
    assert git_hangar("fsck", "--remote", "origin", cwd=tmp_path / "clone").returncode == 0
    # an address git cannot use is one line, before anything is saved
    done = git_hangar("remote", "add", "bad", "ftp://x/y", "--data", data_url, cwd=where)
    assert done.returncode == 1 and "unsupported scheme" in done.stderr and "Traceback" not in done.stderr


def test_fetch_in_a_git_repository_without_a_hangar_location(tmp_path: Path, git_host: Callable[[str], GitHost]) -> None:
    """A plain git clone of a host nobody pushed hangar data to: one clear line."""
    host = git_host("path")
    subprocess.run(["git", "clone", "-q", host.address, str(tmp_path / "code")], check=True, capture_output=True)
    done = git_hangar("fetch", "origin", "master", cwd=tmp_path / "code")
    assert done.returncode == 1 and "no hangar data location" in done.stderr, done.stderr
    assert Repository(tmp_path / "code", exists=False).initialized is False


def test_an_https_remote_learns_its_data_url_from_the_host(git_host: Callable[[str], GitHost], data_url: str,
                                                          make_repo: Callable[[str], Repository]) -> None:
    """An http(s) address can only be a git host: without --data, the URL the host publishes is used."""
    host = git_host("http")
    first = make_repo("first")
    head = add_rows(first, "master", "rows", ROWS[:40], "rows")
    first.remote.add("origin", host.address, data_url=data_url)
    first.remote.push("origin", "master")
    second = make_repo("second")
    info = second.remote.add("web", host.address)
    assert info.data_url is None
    assert second.remote.fetch("web", "master") == "web/master"
    assert second.remote.fetch_data("web", "master") == [head]
    with reader(second, branch="web/master") as co:
        assert_rows(co, "rows", ROWS[:40])


def test_fetch_data_selectors_read_the_bucket(git_host: Callable[[str], GitHost], data_url: str,
                                              make_repo: Callable[[str], Repository], tmp_path: Path) -> None:
    """--column, --max-bytes, --commit and --all-history work against the bucket as against a server."""
    host = git_host("path")
    first = make_repo("first")
    old = add_rows(first, "master", "a", ROWS[:50], "a")
    head = add_rows(first, "master", "b", ROWS[50:100] + 3, "b")
    add_rows(first, "master", "a", ROWS[100:110] + 5, "more a", start=50)
    tip = first.branch_head("master")
    first.remote.add("origin", host.address, data_url=data_url)
    first.remote.push("origin", "master")
    clone = Repository(tmp_path / "clone", exists=False)
    clone.clone("c", "c@x", host.address)
    clone.remote.quiet = True
    clone.remote.fetch_data("origin", "master", column_names=["b"])
    assert sum(1 for _ in clone.ctx.store.iter_objects()) == 50
    clone.remote.fetch_data("origin", commit=old, max_num_bytes=10 * ROWS[0].nbytes)
    assert sum(1 for _ in clone.ctx.store.iter_objects()) == 60
    assert clone.remote.fetch_data("origin", "master", retrieve_all_history=True) == [tip, head, old]
    assert sum(1 for _ in clone.ctx.store.iter_objects()) == 110
    with reader(clone) as co:
        assert co.columns.contains_remote_references == {"a": False, "b": False}


def test_refetch_from_a_git_host_repairs_a_damaged_record_blob(git_host: Callable[[str], GitHost], data_url: str,
                                                                make_repo: Callable[[str], Repository]) -> None:
    """Regression: a damaged git object's advice was `git fetch`, which brings nothing back
    (git has the object's file, and the refs are up to date): fsck names the file to remove and
    `git hangar fetch --refetch origin`, which restores it from the git host."""
    host = git_host("path")
    first = make_repo("first")
    add_rows(first, "master", "rows", ROWS, "rows")
    first.remote.add("origin", host.address, data_url=data_url)
    first.remote.push("origin", "master")
    oid = git("rev-parse", "refs/hangar/heads/master:columns/rows/samples/_", cwd=first.path).strip()
    victim = Path(first.ctx.git.git_dir) / "objects" / oid[:2] / oid[2:]
    victim.chmod(0o644)
    victim.write_bytes(b"garbage")
    report = first.fsck(quick=True)
    assert [p for p in report.problems if oid in p] == report.problems and len(report.problems) == 1
    assert report.repair == (f"remove the damaged file (`rm -f {victim}`), then fetch the records again from a "
                             f"remote that has them: `git hangar fetch --refetch origin`")
    victim.unlink()
    first.remote.quiet = True
    first.remote.fetch_result("origin", "master")  # a plain fetch finds nothing to bring
    assert not first.fsck(quick=True).ok
    first.remote.fetch_result("origin", "master", refetch=True)
    assert first.fsck(quick=True).ok
    assert_fsck_clean(first.path)
