"""The store registry and store locations, on a real local store through TileDB's VFS."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from hangar_git.errors import IntegrityError, NotFoundError, StoreNotFoundError
from hangar_git.storage import open_store, registry, resolve_store, same_store, store_setting
from hangar_git.storage.registry import RepoEntry


@pytest.fixture
def store(tmp_path: Path) -> str:
    uri = str(tmp_path / "store")
    open_store(uri, create=True).close()
    return uri


def _git_dir(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name / ".git"
    path.mkdir(parents=True)
    return path


def test_register_list_unregister(tmp_path: Path, store: str) -> None:
    one = RepoEntry.here("a" * 32, str(_git_dir(tmp_path, "one")), str(tmp_path / "one"))
    two = RepoEntry.here("b" * 32, str(_git_dir(tmp_path, "two")), str(tmp_path / "two"))
    assert registry.entries(store) == []
    registry.register(store, one)
    registry.register(store, two)
    registry.register(store, one)  # rewriting is idempotent
    assert sorted(e.path for e in registry.entries(store)) == [str(tmp_path / "one"), str(tmp_path / "two")]
    assert registry.unregister(store, one) and not registry.unregister(store, one)
    assert [e.id for e in registry.entries(store)] == ["b" * 32]


def test_entry_names_tell_places_apart(tmp_path: Path) -> None:
    a = RepoEntry("i" * 32, "h", "/x/.git", "/x")
    assert a.name == RepoEntry("i" * 32, "h", "/x/.git", "/x", 1, 2, 3.0).name
    assert a.name != RepoEntry("i" * 32, "h", "/y/.git", "/y").name
    assert a.name != RepoEntry("i" * 32, "g", "/x/.git", "/x").name
    assert RepoEntry.from_dict(a.to_dict()) == a


def test_ensure_registered_writes_once(tmp_path: Path, store: str) -> None:
    marker_dir = tmp_path / "hangar"
    marker_dir.mkdir()
    entry = RepoEntry.here("c" * 32, str(_git_dir(tmp_path, "r")), str(tmp_path / "r"))
    assert registry.ensure_registered(store, entry, str(marker_dir))
    assert not registry.ensure_registered(store, entry, str(marker_dir))
    registry.unregister(store, entry)
    assert not registry.ensure_registered(store, entry, str(marker_dir))  # trusts the marker...
    assert registry.ensure_registered(store, entry, str(marker_dir), check=True)  # ...unless checking
    assert [e.id for e in registry.entries(store)] == ["c" * 32]


def test_registering_never_creates_a_store(tmp_path: Path) -> None:
    entry = RepoEntry.here("d" * 32, str(_git_dir(tmp_path, "r")), str(tmp_path / "r"))
    assert not registry.ensure_registered(str(tmp_path / "nowhere"), entry, str(tmp_path))
    assert not (tmp_path / "nowhere").exists()


def test_registration_after_a_move_replaces_the_old_entry(tmp_path: Path, store: str) -> None:
    before = _git_dir(tmp_path, "before")
    old = RepoEntry.here("e" * 32, str(before), str(tmp_path / "before"))
    registry.register(store, old)
    other = RepoEntry.here("e" * 32, str(_git_dir(tmp_path, "copy")), str(tmp_path / "copy"))
    registry.register(store, other)  # a copy: same id, another directory
    os.rename(tmp_path / "before", tmp_path / "after")
    moved = RepoEntry.here("e" * 32, str(tmp_path / "after" / ".git"), str(tmp_path / "after"))
    assert moved.same_directory(old) and not moved.same_directory(other)
    registry.ensure_registered(store, moved, str(tmp_path))
    assert sorted(e.path for e in registry.entries(store)) == [str(tmp_path / "after"), str(tmp_path / "copy")]


def test_a_damaged_entry_is_reported(tmp_path: Path, store: str) -> None:
    (Path(store) / "repos").mkdir()
    (Path(store) / "repos" / "x.json").write_text("{not json")
    with pytest.raises(IntegrityError, match="x.json.*delete it"):
        registry.entries(store)


def test_open_store_never_creates(tmp_path: Path) -> None:
    uri = str(tmp_path / "missing")
    with pytest.raises(StoreNotFoundError) as err:
        open_store(uri)
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, NotFoundError)
    assert uri in str(err.value) and "hangar.store" in str(err.value)
    assert not os.path.exists(uri)
    open_store(uri, create=True).close()
    open_store(uri).close()


@pytest.mark.parametrize("value, expected", [
    ("hangar/store", "/r/.git/hangar/store"),
    ("../data/store", "/r/data/store"),
    ("/abs/store", "/abs/store"),
    ("s3://bucket/prefix/", "s3://bucket/prefix"),
    ("file:///abs/store", "file:///abs/store"),
], ids=["default", "relative", "absolute", "s3", "file-uri"])
def test_resolve_store(value: str, expected: str) -> None:
    assert resolve_store(value, "/r/.git") == expected


@pytest.mark.parametrize("given, typed_in, expected", [
    ("store", "/r", "../store"),                     # in the work tree: moves with the repository
    ("../shared", "/r", "/shared"),                  # beside it: stays where it is, absolute
    ("x", "/r/sub", "../sub/x"),
    ("/r/.git/s", "/elsewhere", "s"),
    ("/opt/s", "/r", "/opt/s"),
    ("s3://b/p", "/r", "s3://b/p"),
    ("/r2/s", "/r", "/r2/s"),                        # a sibling whose name starts the same
], ids=["worktree", "beside", "subdir", "in-git-dir", "absolute", "s3", "prefix-sibling"])
def test_store_setting(given: str, typed_in: str, expected: str) -> None:
    assert store_setting(given, typed_in, "/r/.git", "/r") == expected


def test_same_store(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    os.symlink(tmp_path / "s", tmp_path / "link")
    assert same_store(str(tmp_path / "s"), str(tmp_path / "link"))
    assert same_store(str(tmp_path / "s"), f"file://{tmp_path / 's'}")
    assert not same_store(str(tmp_path / "s"), str(tmp_path / "t"))
    assert same_store("s3://b/p", "s3://b/p/") and not same_store("s3://b/p", "s3://b/q")
