"""Partial data: records whose sample data is not on this machine."""
from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from hangar_git import HangarError, MissingDataError, Repository

from ..repos import add_bare_origin, one_sample_repo
from .conftest import assert_same_array, new_repo

ARRAYS = {i: np.full((3, 2), i, np.int32) for i in range(6)}
TEXTS = {"a": "alpha", "b": "beta"}


@pytest.fixture
def origin(tmp_path: Path) -> Repository:
    repo = new_repo(tmp_path / "origin")
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("arr", prototype=ARRAYS[0]).update(ARRAYS)
        co.add_str_column("text").update(TEXTS)
        co.add_bytes_column("local")  # empty column: nothing remote
        co.metadata["m"] = "meta is in git, always local"
        co.commit("origin data")
    return repo


@pytest.fixture
def partial(origin: Repository, tmp_path: Path) -> Repository:
    """A repo with origin's git records (fetched with git itself) but an empty store."""
    repo = new_repo(tmp_path / "partial")
    subprocess.run(["git", "-C", repo.path, "fetch", "-q", origin.path,
                    "refs/hangar/heads/*:refs/hangar/heads/*"], check=True)
    return repo


def copy_objects(src: Repository, dst: Repository, column: str, keys: list) -> None:
    """Emulate fetch-data of some samples: copy their objects store to store."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with src.checkout() as co:
            digests = [co[column]._digest(_enc(k)) for k in keys]
    for digest in digests:
        meta, data = src.ctx.store.read(digest)
        dst.ctx.store.put_verified(digest, meta, data)
    dst.ctx.store.flush()


def _enc(key: object) -> str:
    return f"i{key}" if type(key) is int else f"s{key}"


def test_opening_a_reader_warns_naming_the_partial_columns(partial: Repository) -> None:
    with pytest.warns(UserWarning) as record:
        co = partial.checkout()
    messages = [str(w.message) for w in record]
    assert len(messages) == 1
    assert "'arr'" in messages[0] and "'text'" in messages[0] and "'local'" not in messages[0]
    assert "no remote to fetch it from" in messages[0]   # no remote here: not told to fetch-data
    co.close()


def test_reading_missing_data_raises_missing_data_error(partial: Repository) -> None:
    with pytest.warns(UserWarning):
        co = partial.checkout()
    with co:
        assert co.metadata["m"] == "meta is in git, always local"
        assert len(co["arr"]) == 6 and 3 in co["arr"]          # records are all here
        assert sorted(co["arr"].keys()) == list(range(6))
        with pytest.raises(MissingDataError) as info:
            co["arr"][3]
        err = info.value
        assert isinstance(err, FileNotFoundError) and isinstance(err, HangarError)
        assert (err.column, err.key) == ("arr", 3)
        text = str(err)
        assert "'arr'" in text and "3" in text and "no remote to fetch it from" in text
        with pytest.raises(MissingDataError, match="'text'.*no remote"):
            co["text", "a"]
        with pytest.raises(MissingDataError):
            co["arr", [0, 1]]
        with pytest.raises(MissingDataError):
            co["arr"].get(0, "default")          # the key exists; its data is elsewhere
        with pytest.raises(MissingDataError):
            list(co["arr"].values())
        with pytest.raises(MissingDataError):
            dict(co["text"].items())


def test_remote_reference_properties_and_repr(partial: Repository) -> None:
    with pytest.warns(UserWarning):
        co = partial.checkout()
    with co:
        col = co["arr"]
        assert col.contains_remote_references is True
        assert sorted(col.remote_reference_keys) == list(range(6))
        assert co.columns.contains_remote_references == {"arr": True, "local": False, "text": True}
        assert "Partial Remote References : True" in repr(col)
        assert "Partial Remote References : False" in repr(co["local"])
        assert "arr / True" in repr(co.columns) and "local / False" in repr(co.columns)
        assert list(col.keys(local=True)) == [] and list(col.items(local=True)) == []


def test_partly_fetched_columns(origin: Repository, partial: Repository) -> None:
    copy_objects(origin, partial, "arr", [1, 4])
    with pytest.warns(UserWarning, match="'arr'"):
        co = partial.checkout()
    with co:
        col = co["arr"]
        assert_same_array(col[1], ARRAYS[1])
        assert_same_array(col[4], ARRAYS[4])
        assert sorted(col.remote_reference_keys) == [0, 2, 3, 5]
        assert sorted(col.keys(local=True)) == [1, 4]
        assert {k: v.tolist() for k, v in col.items(local=True)} == {
            1: ARRAYS[1].tolist(), 4: ARRAYS[4].tolist()}
        with pytest.raises(MissingDataError):
            col[0]


def test_fully_fetched_columns_stop_warning(origin: Repository, partial: Repository) -> None:
    copy_objects(origin, partial, "arr", list(ARRAYS))
    copy_objects(origin, partial, "text", list(TEXTS))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with partial.checkout() as co:
            assert co.columns.contains_remote_references == {"arr": False, "local": False,
                                                             "text": False}
            assert co["arr"].remote_reference_keys == ()
            assert dict(co["text"].items()) == TEXTS
            assert_same_array(co["arr", 5], ARRAYS[5])


def test_writer_can_commit_on_top_of_remote_references(partial: Repository) -> None:
    with partial.checkout(write=True) as co:
        col = co["arr"]
        assert col.contains_remote_references
        with pytest.raises(MissingDataError):
            col[0]
        col["added-here"] = np.full((3, 2), 42, np.int32)
        del col[5]
        assert col.contains_remote_references
        assert sorted(col.remote_reference_keys, key=str) == [0, 1, 2, 3, 4]
        digest = co.commit("local work on partial data")
    with pytest.warns(UserWarning, match="'arr'"):
        co = partial.checkout(commit=digest)
    with co:
        assert sorted(co["arr"].remote_reference_keys) == [0, 1, 2, 3, 4]
        assert_same_array(co["arr", "added-here"], np.full((3, 2), 42, np.int32))
        assert 5 not in co["arr"]


def test_missing_data_error_names_the_remote_and_branch(tmp_path):
    origin = one_sample_repo(tmp_path / "a", key=7)
    add_bare_origin(origin, tmp_path / "srv")
    origin.remote.push("origin", "master")
    clone = Repository(str(tmp_path / "b"), exists=False)
    clone.clone("c", "c@x", str(tmp_path / "srv"))
    with pytest.warns(UserWarning):
        co = clone.checkout(branch="master")
    with pytest.raises(MissingDataError, match="fetch-data origin master --column x"):
        co["x", 7]
    co.close()
