"""init(remove_old=True) with a store elsewhere: the data goes, the location stays;
a shared store keeps its data and only loses this repository's registration."""
from __future__ import annotations

from pathlib import Path

import pytest

from hangar_git import Repository
from hangar_git.core.layout import repository_id
from hangar_git.storage import registry

from .conftest import assert_samples, close_dropped_stores, commit_samples


def _objects(store: Path) -> int:
    return sum(1 for p in store.rglob("*") if p.is_file() and "repos" not in p.parts)


@pytest.mark.parametrize("where", ["path", "file-uri", "relative-inside"])
def test_remove_old_clears_the_configured_store_and_keeps_using_it(tmp_path: Path, where: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r"
    store = tmp_path / "elsewhere" if where != "relative-inside" else path / "data"
    given = {"path": str(store), "file-uri": f"file://{store}", "relative-inside": "data"}[where]
    path.mkdir()
    monkeypatch.chdir(path)
    repo = Repository(str(path), exists=False)
    repo.init("t", "t@x", store_uri=given)
    setting = repo.ctx.store_setting
    commit_samples(path, range(0, 5))
    big = _objects(store)
    close_dropped_stores()
    repo = Repository(str(path))
    repo.init("t", "t@x", remove_old=True)
    assert repo.ctx.store_setting == setting
    assert _objects(store) < big
    assert repo.list_branches() == ["master"]  # Hangar 0.5: the write branch before any commit
    assert not (path / ".git" / "hangar" / "store").exists()
    commit_samples(path, range(5, 7))
    assert_samples(path, range(5, 7))
    with repo.checkout() as co:
        assert sorted(co.columns["x"].keys()) == ["5", "6"]


def test_remove_old_with_a_new_store_uri(tmp_path: Path) -> None:
    path = tmp_path / "r"
    repo = Repository(str(path), exists=False)
    repo.init("t", "t@x", store_uri=str(tmp_path / "one"))
    commit_samples(path, range(0, 2))
    close_dropped_stores()
    Repository(str(path)).init("t", "t@x", remove_old=True, store_uri=str(tmp_path / "two"))
    assert not (tmp_path / "one").exists()
    assert Repository(str(path)).ctx.store_uri == str(tmp_path / "two")


def test_remove_old_on_a_shared_store_keeps_the_others_data(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    a, b = tmp_path / "a", tmp_path / "b"
    for p in (a, b):
        Repository(str(p), exists=False).init("t", "t@x", store_uri=str(shared))
    commit_samples(a, range(0, 3))
    commit_samples(b, range(10, 13))
    close_dropped_stores()
    old_id = repository_id(Repository(str(a)).ctx.git)
    with pytest.warns(UserWarning, match=f"shared with 1 other repositories .*{b}.*kept"):
        Repository(str(a)).init("t", "t@x", remove_old=True)
    assert_samples(b, range(10, 13))
    entries = registry.entries(str(shared))
    assert old_id not in {e.id for e in entries}
    assert {e.path for e in entries} == {str(a), str(b)}  # a again, as a new repository
    close_dropped_stores()
    Repository(str(b)).gc(grace_seconds=0)  # frees a's old samples, keeps b's
    assert_samples(b, range(10, 13))
