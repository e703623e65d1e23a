"""Every fetch-data selector: branch, commit=, column_names=, max_num_bytes, retrieve_all_history.

History on the server (branch ``master``)::

    c1  games 0..59 (uint8 rows of 117), heroes 0..59 (uint16 rows of 117)
    c2  games 0..9 overwritten, games 50..59 deleted, heroes 60..79 added

so the data of games 0..9 (old values) and 50..59 exists only in c1.
Branch ``extra`` (pushed, not cloned) adds a column of its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from hangar_git import BranchNotFoundError, MissingDataError, Repository
from hangar_git.errors import ColumnNotFoundError

from .conftest import ServerRepo, add_rows, assert_rows, dota_rows, reader

GAMES = dota_rows(60, np.uint8, seed=31)
NEW_GAMES = dota_rows(10, np.uint8, seed=32)
HEROES = dota_rows(80, np.uint16, seed=33)
EXTRA = dota_rows(5, np.uint8, seed=34)
GAME_BYTES = GAMES[0].nbytes          # 117
HERO_BYTES = HEROES[0].nbytes         # 234


@dataclass
class Remote:
    server: ServerRepo
    c1: str
    c2: str
    extra: str


@pytest.fixture
def remote(server_address: Callable[[str], ServerRepo], make_repo: Callable[[str], Repository]) -> Remote:
    server = server_address("hangarssh")      # in-process server: the selectors are transport-agnostic
    origin = make_repo("origin")
    c1 = add_rows(origin, "master", "games", GAMES, "c1")
    add_rows(origin, "master", "heroes", HEROES[:60], "c1 heroes")
    with origin.checkout(write=True) as co:
        games = co["games"]
        for i, row in enumerate(NEW_GAMES):
            games[i] = row
        for i in range(50, 60):
            del games[i]
        with co["heroes"] as heroes:
            for i in range(60, 80):
                heroes[i] = HEROES[i]
        c2 = co.commit("c2")
    c1 = origin.ctx.git.commit_info(c2).parents[0]     # the commit with both columns
    origin.create_branch("extra")
    extra = add_rows(origin, "extra", "extra", EXTRA, "extra column")
    origin.remote.add("origin", server.address)
    origin.remote.push("origin", "master")
    origin.remote.push("origin", "extra")
    return Remote(server, c1, c2, extra)


@pytest.fixture
def clone(remote: Remote, tmp_path: Path) -> Repository:
    repo = Repository(tmp_path / "clone", exists=False)
    repo.clone("c", "c@x", remote.server.address)
    repo.remote.quiet = True
    return repo


def local_objects(repo: Repository) -> list[Any]:
    return list(repo.ctx.store.iter_objects())


def remote_keys(repo: Repository, column: str, **kwargs: Any) -> list[Any]:
    with reader(repo, **kwargs) as co:
        return sorted(co[column].remote_reference_keys)


def head_games() -> np.ndarray:
    return np.concatenate([NEW_GAMES, GAMES[10:50]])


def test_branch_selector(clone: Repository, remote: Remote) -> None:
    assert clone.remote.fetch_data("origin", "master") == [remote.c2]
    assert len(local_objects(clone)) == 50 + 80          # only the head's samples
    with reader(clone) as co:
        assert co.columns.contains_remote_references == {"games": False, "heroes": False}
        assert_rows(co, "games", head_games())
        assert_rows(co, "heroes", HEROES)
    # the samples only c1 has are still remote references there
    assert remote_keys(clone, "games", commit=remote.c1) == list(range(10)) + list(range(50, 60))
    assert clone.remote.fetch_data("origin", "master") == [remote.c2]     # again: nothing new
    assert len(local_objects(clone)) == 130


def test_branch_selector_for_a_fetched_remote_branch(clone: Repository, remote: Remote) -> None:
    clone.remote.fetch("origin", "extra")
    assert clone.remote.fetch_data("origin", "extra") == [remote.extra]   # no local branch: origin/extra
    with reader(clone, branch="origin/extra") as co:
        assert_rows(co, "extra", EXTRA)
        assert co.columns.contains_remote_references["extra"] is False


def test_branch_selector_accepts_the_name_fetch_returns(clone: Repository, remote: Remote) -> None:
    # regression: fetch returns 'origin/extra' (as log, checkout and merge accept it), but
    # fetch_data('origin', 'origin/extra') raised BranchNotFoundError
    name = clone.remote.fetch("origin", "extra")
    assert name == "origin/extra"
    assert clone.remote.fetch_data("origin", name) == [remote.extra]
    with reader(clone, branch=name) as co:
        assert_rows(co, "extra", EXTRA)
    with pytest.raises(BranchNotFoundError, match="origin/nope"):
        clone.remote.fetch_data("origin", "origin/nope")


def test_commit_selector(clone: Repository, remote: Remote) -> None:
    assert clone.remote.fetch_data("origin", commit=remote.c1) == [remote.c1]
    with reader(clone, commit=remote.c1) as co:
        assert co.columns.contains_remote_references == {"games": False, "heroes": False}
        assert_rows(co, "games", GAMES)
        assert_rows(co, "heroes", HEROES[:60])
    assert remote_keys(clone, "games") == list(range(10))          # the overwritten ones at c2
    assert remote_keys(clone, "heroes") == list(range(60, 80))
    assert clone.remote.fetch_data("origin", commit=remote.c2[:12]) == [remote.c2]   # a prefix works
    assert remote_keys(clone, "games") == [] and remote_keys(clone, "heroes") == []


def test_exactly_one_of_branch_and_commit(clone: Repository, remote: Remote) -> None:
    from hangar_git import HangarError
    with pytest.raises(HangarError, match="exactly one"):
        clone.remote.fetch_data("origin")
    with pytest.raises(HangarError, match="exactly one"):
        clone.remote.fetch_data("origin", "master", commit=remote.c1)


def test_column_selector(clone: Repository, remote: Remote) -> None:
    assert clone.remote.fetch_data("origin", "master", column_names=["games"]) == [remote.c2]
    assert len(local_objects(clone)) == 50
    assert all(o.nbytes == GAME_BYTES for o in local_objects(clone))
    with pytest.warns(UserWarning, match="heroes") as record:
        co = clone.checkout()
    assert "games" not in str(record[0].message)
    with co:
        assert co.columns.contains_remote_references == {"games": False, "heroes": True}
        assert_rows(co, "games", head_games())
        with pytest.raises(MissingDataError, match="heroes"):
            co["heroes"][0]
        assert sorted(co["heroes"].remote_reference_keys) == list(range(80))


def test_unknown_column_is_refused_and_fetches_nothing(clone: Repository, remote: Remote) -> None:
    """Regression: a mistyped column name fetched nothing and said nothing (the CLI refused it)."""
    with pytest.raises(ColumnNotFoundError, match="imagse") as err:
        clone.remote.fetch_data("origin", "master", column_names=["games", "imagse"])
    assert isinstance(err.value, KeyError) and "games" in str(err.value)  # the columns there are named
    assert local_objects(clone) == []


@pytest.mark.parametrize("budget", [0, GAME_BYTES - 1, 10 * GAME_BYTES + 50, 30 * HERO_BYTES + 1])
def test_max_num_bytes_keeps_whole_samples_within_the_budget(clone: Repository, remote: Remote,
                                                             budget: int) -> None:
    assert clone.remote.fetch_data("origin", "master", max_num_bytes=budget) == [remote.c2]
    got = local_objects(clone)
    assert sum(o.nbytes for o in got) <= budget
    assert sum(o.nbytes for o in got) > budget - HERO_BYTES       # it did not stop early
    with reader(clone) as co:                                       # whatever arrived is whole
        local = {name: set(co[name].keys(local=True)) for name in ("games", "heroes")}
        assert sum(len(keys) for keys in local.values()) == len(got)
        for i in local["games"]:
            assert np.array_equal(co["games"][i], head_games()[i])
        for i in local["heroes"]:
            assert np.array_equal(co["heroes"][i], HEROES[i])
        # not complete: some keys remain remote references
        assert co["games"].contains_remote_references or co["heroes"].contains_remote_references
        assert len(co["games"].remote_reference_keys) + len(co["heroes"].remote_reference_keys) == 130 - len(got)


def test_max_num_bytes_continues_where_it_stopped(clone: Repository, remote: Remote) -> None:
    budget = 40 * GAME_BYTES
    for _ in range(2):
        clone.remote.fetch_data("origin", "master", column_names=["games"], max_num_bytes=budget)
    assert len(local_objects(clone)) == 50
    assert remote_keys(clone, "games") == []
    clone.remote.fetch_data("origin", "master", max_num_bytes=10 ** 9)    # a roomy budget: everything
    assert remote_keys(clone, "heroes") == []


def test_retrieve_all_history(clone: Repository, remote: Remote) -> None:
    commits = clone.remote.fetch_data("origin", "master", retrieve_all_history=True)
    assert set(commits) == set(clone.log(branch="master", return_contents=True)["order"])  # type: ignore[index]
    assert commits[0] == remote.c2 and remote.c1 in commits
    assert len(local_objects(clone)) == 60 + 10 + 80
    with reader(clone, commit=remote.c1) as co:       # samples only older commits have arrived
        assert co.columns.contains_remote_references == {"games": False, "heroes": False}
        assert_rows(co, "games", GAMES)
    first_commit = commits[-1]
    with reader(clone, commit=first_commit) as co:
        assert_rows(co, "games", GAMES)


def test_retrieve_all_history_of_one_column(clone: Repository, remote: Remote) -> None:
    clone.remote.fetch_data("origin", "master", column_names=["games"], retrieve_all_history=True)
    assert len(local_objects(clone)) == 70
    assert remote_keys(clone, "games", commit=remote.c1) == []
    assert remote_keys(clone, "heroes", commit=remote.c1) == list(range(60))
