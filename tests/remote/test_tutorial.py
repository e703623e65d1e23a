"""The seed tutorial's remote workflow, step by step, over every transport.

Dota2-shaped data (rows of 117 small integers): ``master`` holds the test
games, ``add-train`` adds the training games. Both are pushed; a clone
gets master's records without data, fetches ``add-train``'s records,
fetches master's data, merges ``origin/add-train`` without its data and
pushes the merge; the first repository fetches it and fast-forwards.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import pytest

from hangar_git import HangarError, MissingDataError, Repository

from .conftest import ServerRepo, add_rows, assert_fsck_clean, assert_rows, dota_rows, reader

TEST_ROWS = dota_rows(1200, np.uint8, seed=1)
TRAIN_ROWS = dota_rows(2400, np.uint16, seed=2)
MORE_TEST = dota_rows(100, np.uint8, seed=3)


def needs_merge() -> None:
    if not hasattr(Repository, "merge"):
        pytest.skip("Repository.merge is not implemented yet (another engineer's feature)")


def local_digest_count(repo: Repository) -> int:
    return sum(1 for _ in repo.ctx.store.iter_objects())


def test_tutorial_workflow(server: ServerRepo, make_repo: Callable[[str], Repository],
                           capsys: pytest.CaptureFixture[str]) -> None:
    # -- 1. data on two branches -------------------------------------------------------------
    first = make_repo("first")
    master1 = add_rows(first, "master", "dota_test", TEST_ROWS, "test games")
    first.create_branch("add-train")
    train1 = add_rows(first, "add-train", "dota_train", TRAIN_ROWS, "training games")
    assert first.list_branches() == ["add-train", "master"]

    # -- 2. push both branches -------------------------------------------------------------------
    info = first.remote.add("origin", server.address)
    assert (info.name, info.address) == ("origin", server.address)
    assert first.remote.list_all() == [info]
    assert first.remote.push("origin", "master") == "master"
    assert first.remote.push("origin", "add-train") == "add-train"
    assert server.heads() == {"master": master1, "add-train": train1}
    assert len(server.digests()) == len(TEST_ROWS) + len(TRAIN_ROWS)
    # pushing again is a no-op, and warns as Hangar does
    with pytest.warns(UserWarning, match="nothing to push"):
        assert first.remote.push("origin", "add-train") == "add-train"
    assert server.head("add-train") == train1

    # -- 3. clone: records of the default branch only, no data ----------------------------------
    clone = Repository(server.path.parent / f"clone-{server.kind}", exists=False)
    assert clone.clone("cloner", "cloner@hangar.invalid", server.address) == "master"
    clone.remote.quiet = True
    assert clone.list_branches() == ["master", "origin/master"]      # as Hangar lists them
    assert clone.list_branches(remotes=False) == ["master"]
    assert clone.branch_head("master") == master1
    assert [r.name for r in clone.remote.list_all()] == ["origin"]
    assert local_digest_count(clone) == 0

    with pytest.warns(UserWarning, match="dota_test") as record:
        co = clone.checkout()
    assert "fetch-data" in str(record[0].message)
    with co:
        col = co["dota_test"]
        assert len(col) == len(TEST_ROWS)
        assert "Partial Remote References : True" in repr(col)
        assert col.contains_remote_references is True
        assert co.columns.contains_remote_references == {"dota_test": True}
        assert "dota_test / True" in repr(co.columns)
        assert sorted(col.remote_reference_keys) == list(range(len(TEST_ROWS)))
        assert "dota_train" not in co.columns
        with pytest.raises(MissingDataError) as err:
            col[7]
        assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, HangarError)
        assert (err.value.column, err.value.key) == ("dota_test", 7)
        assert "'dota_test'" in str(err.value) and "7" in str(err.value)
        assert "fetch-data" in str(err.value)

    # -- 4. fetch the other branch: records only, shown as origin/add-train ---------------------
    assert clone.remote.fetch("origin", "add-train") == "origin/add-train"
    assert clone.list_branches() == ["master", "origin/add-train", "origin/master"]
    assert clone.branch_head("origin/add-train") == train1
    capsys.readouterr()
    clone.log(branch="origin/add-train")
    out = capsys.readouterr().out
    assert "origin/add-train" in out and train1 in out and master1 in out
    contents = clone.log(branch="origin/add-train", return_contents=True)
    assert contents is not None and contents["order"] == [train1, master1]
    assert local_digest_count(clone) == 0

    # -- 5. fetch-data of master: reads succeed and equal the originals -------------------------
    assert clone.remote.fetch_data("origin", "master") == [master1]
    assert local_digest_count(clone) == len(TEST_ROWS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # no partial-data warning any more
        co = clone.checkout()
    with co:
        assert co["dota_test"].contains_remote_references is False
        assert list(co["dota_test"].remote_reference_keys) == []
        assert "Partial Remote References : False" in repr(co["dota_test"])
        assert_rows(co, "dota_test", TEST_ROWS)

    # -- 6. merge origin/add-train without its data, push the merge -----------------------------
    needs_merge()
    more = add_rows(clone, "master", "dota_test", MORE_TEST, "more test games", start=len(TEST_ROWS))
    capsys.readouterr()
    merged = clone.merge("merge in the training games", "master", "origin/add-train")
    assert "3-Way" in capsys.readouterr().out
    assert clone.branch_head("master") == merged
    with pytest.warns(UserWarning, match="dota_train"):
        co = clone.checkout()
    with co:
        assert co.columns.contains_remote_references == {"dota_test": False, "dota_train": True}
        assert len(co["dota_train"]) == len(TRAIN_ROWS)
        assert np.array_equal(co["dota_test"][len(TEST_ROWS)], MORE_TEST[0])
        with pytest.raises(MissingDataError, match="dota_train"):
            co["dota_train"][0]
    assert clone.remote.push("origin", "master") == "master"
    assert server.head("master") == merged
    assert len(server.digests()) == len(TEST_ROWS) + len(TRAIN_ROWS) + len(MORE_TEST)

    # -- 7. the first repository fetches and fast-forwards ---------------------------------------
    assert first.remote.fetch("origin", "master") == "origin/master"
    assert first.branch_head("origin/master") == merged
    capsys.readouterr()
    assert first.merge("take the clone's merge", "master", "origin/master") == merged
    assert "Fast-Forward" in capsys.readouterr().out
    assert first.branch_head("master") == merged
    contents = first.log(branch="master", return_contents=True)
    assert contents is not None and contents["order"][0] == merged
    assert set(contents["order"]) == {merged, more, train1, master1}
    with pytest.warns(UserWarning, match="dota_test"):   # the clone's new games are remote here
        co = first.checkout(branch="master")
    with co:
        assert sorted(co["dota_test"].remote_reference_keys) == list(
            range(len(TEST_ROWS), len(TEST_ROWS) + len(MORE_TEST)))
    assert first.remote.fetch_data("origin", "master") == [merged]
    co = reader(first, branch="master")
    with co:
        assert co.columns.contains_remote_references == {"dota_test": False, "dota_train": False}
        assert_rows(co, "dota_test", np.concatenate([TEST_ROWS, MORE_TEST]))
        assert_rows(co, "dota_train", TRAIN_ROWS)

    # -- 8. git is happy everywhere ----------------------------------------------------------------
    for path in (server.path, first.path, clone.path):
        assert_fsck_clean(path)


def test_clone_of_a_branch_other_than_default(server_address: Callable[[str], ServerRepo],
                                              make_repo: Callable[[str], Repository],
                                              tmp_path: Any) -> None:
    server = server_address("path")
    first = make_repo("first")
    add_rows(first, "master", "dota_test", TEST_ROWS[:10], "test games")
    first.create_branch("add-train")
    train = add_rows(first, "add-train", "dota_train", TRAIN_ROWS[:10], "training")
    first.remote.add("origin", server.address)
    first.remote.push("origin", "add-train")      # the server has no master at all
    clone = Repository(tmp_path / "clone", exists=False)
    assert clone.clone("c", "c@x", server.address) == "add-train"
    assert clone.list_branches() == ["add-train", "origin/add-train"]
    assert clone.branch_head("add-train") == train


def test_clone_of_an_empty_server(server_address: Callable[[str], ServerRepo], tmp_path: Any) -> None:
    server = server_address("path")
    clone = Repository(tmp_path / "clone", exists=False)
    assert clone.clone("c", "c@x", server.address) == "master"
    assert clone.list_branches() == ["master"]  # the write branch, before its first commit


def test_push_of_a_new_branch_at_a_commit_the_server_has(server_address: Callable[[str], ServerRepo],
                                                          make_repo: Callable[[str], Repository]) -> None:
    server = server_address("hangarssh")
    first = make_repo("first")
    head = add_rows(first, "master", "dota_test", TEST_ROWS[:10], "test games")
    first.remote.add("origin", server.address)
    first.remote.push("origin", "master")
    before = server.git_objects()
    first.create_branch("release")
    assert first.remote.push("origin", "release") == "release"
    assert server.heads() == {"master": head, "release": head}
    assert server.git_objects() == before
    assert first.branch_head("origin/release") == head


def test_every_column_kind_and_metadata_round_trip(server_address: Callable[[str], ServerRepo],
                                                   make_repo: Callable[[str], Repository],
                                                   tmp_path: Any) -> None:
    server = server_address("hangarssh")
    first = make_repo("first")
    texts = {"hero": "Anti-Mage", 7: "Axe", "unicode": "Ω≈ç√ – 英雄"}
    blobs = {"empty": b"", "bin": bytes(range(256)) * 3, 0: b"\x00"}
    shaped = {i: np.arange(i * 3, dtype=np.float32).reshape(i, 3) for i in range(1, 6)}
    big = {"volume": np.random.default_rng(5).random((3, 256, 512))}        # 3 MiB: a large object
    with first.checkout(write=True) as co:
        co.add_str_column("names").update(texts)
        co.add_bytes_column("raw").update(blobs)
        co.add_ndarray_column("shaped", shape=(8, 3), dtype=np.float32, variable_shape=True).update(shaped)
        co.add_ndarray_column("big", prototype=big["volume"]).update(big)
        co.metadata["source"] = "dota2 games, UCI"
        head = co.commit("every kind")
    first.remote.add("origin", server.address)
    first.remote.push("origin", "master")
    clone = Repository(tmp_path / "clone", exists=False)
    clone.clone("c", "c@x", server.address)
    clone.remote.quiet = True
    with pytest.warns(UserWarning):
        co = clone.checkout()
    with co:
        assert co.metadata["source"] == "dota2 games, UCI"          # metadata is bookkeeping: no fetch needed
        assert co.columns.contains_remote_references == {"big": True, "names": True, "raw": True, "shaped": True}
    assert clone.remote.fetch_data("origin", "master") == [head]
    with reader(clone) as co:
        assert {k: co["names"][k] for k in texts} == texts
        assert {k: co["raw"][k] for k in blobs} == blobs
        for k, v in shaped.items():
            assert co["shaped"][k].shape == v.shape and np.array_equal(co["shaped"][k], v)
        assert np.array_equal(co["big"]["volume"], big["volume"])
    assert_fsck_clean(clone.path)


def test_scp_like_address_uses_the_ssh_config(sshd_server: Any, make_repo: Callable[[str], Repository],
                                              tmp_path: Any) -> None:
    """``user@127.0.0.1:/path`` has no port: ~/.ssh/config supplies the sshd fixture's port and key."""
    from .conftest import init_bare
    bare = init_bare(tmp_path / "scp.git")
    address = sshd_server.scp_address(bare)
    first = make_repo("first")
    head = add_rows(first, "master", "dota_test", TEST_ROWS[:10], "test games")
    first.remote.add("origin", address)
    first.remote.push("origin", "master")
    clone = Repository(tmp_path / "clone", exists=False)
    assert clone.clone("c", "c@x", address) == "master"
    assert clone.branch_head("master") == head
    assert clone.remote.list_all()[0].address == address
