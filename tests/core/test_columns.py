"""Columns: str/bytes kinds, keys, names, the mapping API, metadata, repr, closed checkouts."""
from __future__ import annotations

import enum
from typing import Any

import numpy as np
import pytest

from hangar_git import (AlreadyExistsError, ColumnNotFoundError, HangarError, InvalidNameError,
                        NotFoundError, PermissionDeniedError, Repository, SampleNotFoundError)
from hangar_git.storage import open_store

from .conftest import assert_same_array

TEXTS = {"plain": "hello", "empty": "", "unicode": "ключ → 値 😀", "newlines": "a\nb\r\nc\x00d",
         "long": "x" * 100_000, 0: "zero"}
BLOBS = {"plain": b"hello", "empty": b"", "binary": bytes(range(256)) * 3, "nul": b"\x00" * 10,
         0: b"zero"}


@pytest.mark.parametrize("kind,values", [("str", TEXTS), ("bytes", BLOBS)])
def test_str_and_bytes_columns_round_trip(repo: Repository, kind: str, values: dict) -> None:
    with repo.checkout(write=True) as co:
        col = co.add_str_column("c") if kind == "str" else co.add_bytes_column("c")
        assert col.column_type == kind
        assert col.dtype is (str if kind == "str" else bytes)
        assert col.schema_type == "variable_shape" and col.column_layout == "flat"
        col.update(values)
        assert dict(col.items()) == values
        digest = co.commit(kind)
    with repo.checkout(commit=digest) as co:
        col = co["c"]
        assert {k: col[k] for k in values} == values
        assert all(type(col[k]) is (str if kind == "str" else bytes) for k in values)
        assert dict(col.items()) == values


def test_bytearray_is_stored_as_bytes(wco: Any) -> None:
    col = wco.add_bytes_column("b")
    col[0] = bytearray(b"abc")
    assert col[0] == b"abc" and type(col[0]) is bytes


def test_ndarray_column_attributes(wco: Any) -> None:
    col = wco.add_ndarray_column("a", shape=(3, 4), dtype=np.int16)
    assert (col.name, col.column_type, col.column_layout) == ("a", "ndarray", "flat")
    assert col.shape == (3, 4) and col.dtype == np.dtype(np.int16)
    assert col.schema_type == "fixed_shape"
    var = wco.add_ndarray_column("v", shape=5, dtype="f8", variable_shape=True)
    assert var.shape == (5,) and var.schema_type == "variable_shape"
    proto = wco.add_ndarray_column("p", prototype=np.zeros((2, 2), ">u4"))
    assert proto.dtype.str == ">u4" and proto.shape == (2, 2)


# -- keys -------------------------------------------------------------------------
def test_int_and_str_keys_are_distinct(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        col = co.add_str_column("c")
        col[1] = "int one"
        col["1"] = "str one"
        col[-5] = "minus five"
        assert len(col) == 3
        assert col[1] == "int one" and col["1"] == "str one"
        digest = co.commit("keys")
    with repo.checkout(commit=digest) as co:
        col = co["c"]
        assert col[1] == "int one" and col["1"] == "str one" and col[-5] == "minus five"
        assert sorted(col.keys(), key=repr) == sorted([1, "1", -5], key=repr)
        assert {type(k) for k in col.keys()} == {int, str}
        assert 1 in col and "1" in col and 2 not in col and "-5" not in col


class Color(enum.IntEnum):
    RED = 3


def test_integer_like_keys_are_ints(wco: Any) -> None:
    col = wco.add_str_column("c")
    col[np.int64(7)] = "numpy int"
    col[Color.RED] = "int enum"
    assert col[7] == "numpy int" and col[3] == "int enum"
    assert sorted(col.keys()) == [3, 7] and all(type(k) is int for k in col.keys())
    assert np.uint8(7) in col


VALID_KEYS = [0, -1, 2**63 - 1, -(2**63), "a", "x" * 256, "with space", "ключ", "a.b-c_d:e", "..",
              " "]
INVALID_KEYS = {
    "slash": "a/b", "backslash": "a\\b", "newline": "a\nb", "nul": "a\x00", "tab": "\t",
    "del": "a\x7f", "empty": "", "too-long": "x" * 257, "bool-true": True, "bool-false": False,
    "float": 1.0, "float-frac": 1.5, "none": None, "bytes": b"k", "tuple": (1,), "int-too-big": 2**63,
    "int-too-small": -(2**63) - 1, "numpy-bool": np.bool_(True), "numpy-float": np.float32(1),
    "surrogate": "a\ud800",   # not UTF-8 encodable: used to poison every later commit
}


@pytest.mark.parametrize("key", VALID_KEYS, ids=[repr(k)[:20] for k in VALID_KEYS])
def test_valid_keys(repo: Repository, key: Any) -> None:
    with repo.checkout(write=True) as co:
        co.add_bytes_column("c")[key] = b"v"
        digest = co.commit("key")
    with repo.checkout(commit=digest) as co:
        assert co["c", key] == b"v" and list(co["c"].keys()) == [key]


@pytest.mark.parametrize("key", list(INVALID_KEYS.values()), ids=list(INVALID_KEYS))
def test_invalid_keys_are_invalid_name_errors(wco: Any, key: Any) -> None:
    col = wco.add_bytes_column("c")
    with pytest.raises(InvalidNameError) as info:
        col[key] = b"v"
    assert isinstance(info.value, ValueError)
    assert "invalid sample key" in str(info.value)
    with pytest.raises(InvalidNameError):
        col[key]
    with pytest.raises(InvalidNameError):
        del col[key]
    assert key not in col and len(col) == 0


VALID_NAMES = ["a", "A_1.b-c", "x" * 64, "0", "_private", "train.images"]
INVALID_NAMES = {"empty": "", "slash": "a/b", "dot-first": ".hidden", "dash-first": "-x",
                 "too-long": "x" * 65, "space": "a b", "int": 1, "none": None, "unicode": "é",
                 "newline": "a\n", "colon": "a:b"}


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_column_names(wco: Any, name: str) -> None:
    wco.add_str_column(name)["k"] = "v"
    assert wco[name, "k"] == "v"


@pytest.mark.parametrize("name", list(INVALID_NAMES.values()), ids=list(INVALID_NAMES))
def test_invalid_column_names(wco: Any, name: Any) -> None:
    for add in (wco.add_str_column, wco.add_bytes_column,
                lambda n: wco.add_ndarray_column(n, shape=(1,), dtype="f4")):
        with pytest.raises(InvalidNameError, match="invalid column name"):
            add(name)
    assert len(wco.columns) == 0


def test_duplicate_and_unknown_columns(wco: Any) -> None:
    wco.add_str_column("c")
    with pytest.raises(AlreadyExistsError):
        wco.add_bytes_column("c")
    with pytest.raises(ColumnNotFoundError) as info:
        wco.columns["nope"]
    assert isinstance(info.value, KeyError) and "'nope'" in str(info.value)
    with pytest.raises(ColumnNotFoundError):
        wco["nope", 1]
    assert wco.get(("nope", 1), "dflt") == "dflt"


# -- the mapping API --------------------------------------------------------------------
def test_mapping_operations(wco: Any) -> None:
    col = wco.add_ndarray_column("a", prototype=np.zeros(2, np.int64))
    arr = lambda v: np.array([v, -v], np.int64)  # noqa: E731
    col[0] = arr(0)
    col.update({1: arr(1), "two": arr(2)})
    col.update([(3, arr(3))])
    col.update(kw=arr(4))
    key = col.append(arr(5))
    assert isinstance(key, str) and key in col
    assert len(col) == 6
    assert set(col.keys()) == {0, 1, "two", 3, "kw", key}
    assert sorted(int(v[0]) for v in col.values()) == [0, 1, 2, 3, 4, 5]
    assert {k: int(v[0]) for k, v in col.items()} == {0: 0, 1: 1, "two": 2, 3: 3, "kw": 4, key: 5}
    assert set(col) == set(col.keys())
    assert_same_array(col.get(1), arr(1))
    assert col.get(99) is None and col.get(99, "d") == "d"
    with pytest.raises(SampleNotFoundError) as info:
        col[99]
    assert isinstance(info.value, KeyError) and "99" in str(info.value) and "'a'" in str(info.value)

    col[1] = arr(11)                       # overwrite
    assert_same_array(col[1], arr(11)) and len(col) == 6
    assert_same_array(col.pop("two"), arr(2))
    assert "two" not in col and len(col) == 5
    del col[0]
    assert 0 not in col and len(col) == 4
    with pytest.raises(SampleNotFoundError):
        del col[0]
    with pytest.raises(SampleNotFoundError):
        col.pop(0)
    assert len(col) == 4

    assert_same_array(wco["a", 1], arr(11))
    got = wco["a", [1, 3, "kw"]]
    assert isinstance(got, list) and [int(g[0]) for g in got] == [11, 3, 4]
    assert [int(g[0]) for g in wco["a", (3, 1)]] == [3, 11]
    wco["a", "set-via-checkout"] = arr(9)
    assert_same_array(col["set-via-checkout"], arr(9))
    assert wco["a"] is wco.columns["a"] is col
    assert "a" in wco.columns and list(wco.columns) == ["a"] and len(wco.columns) == 1


def test_delete_and_readd_in_one_staging_keeps_count_right(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        col = co.add_str_column("c")
        col.update({i: str(i) for i in range(10)})
        co.commit("ten")
    with repo.checkout(write=True) as co:
        col = co["c"]
        del col[3]
        col[3] = "three"            # re-added
        col[10] = "ten"; del col[10]  # added then dropped before commit
        del col[4]
        assert len(col) == 9
        digest = co.commit("edit")
    with repo.checkout(commit=digest) as co:
        col = co["c"]
        assert len(col) == 9 == len(list(col.keys()))
        assert col[3] == "three" and 4 not in col and 10 not in col


def test_updates_survive_many_commits_in_one_checkout(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        col = co.add_str_column("c")
        digests = []
        for i in range(4):
            col[i] = f"v{i}"
            col[0] = f"zero@{i}"
            digests.append(co.commit(f"round {i}"))
    for i, digest in enumerate(digests):
        with repo.checkout(commit=digest) as co:
            assert dict(co["c"].items()) == {0: f"zero@{i}", **{j: f"v{j}" for j in range(1, i + 1)}}


def test_dedup_identical_samples_are_stored_once(repo: Repository) -> None:
    store = repo.ctx.store
    before = len(list(store.iter_objects()))
    same = np.arange(1000, dtype=np.float64)
    with repo.checkout(write=True) as co:
        a = co.add_ndarray_column("a", prototype=same)
        b = co.add_ndarray_column("b", prototype=same)
        for i in range(20):
            a[i] = same.copy()
            b[i] = same[::-1][::-1]      # a view, same content
        a["other"] = same + 1
        co.add_str_column("s").update({i: "same text" for i in range(10)})
        co.commit("dedup")
    with repo.checkout(write=True) as co:     # the same content again, in a later commit
        co["a"]["again"] = same.copy()
        co.commit("again")
    assert len(list(repo.ctx.store.iter_objects())) - before == 3  # same, same + 1, "same text"


def test_column_context_manager_batches_and_flushes(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("a", prototype=np.zeros(4, np.float32))
        with col as c:
            assert c is col
            for i in range(50):
                c[i] = np.full(4, i, np.float32)
            with col:                           # nested: still batching
                c["nested"] = np.ones(4, np.float32)
            assert co._store.pending_count > 0
        assert co._store.pending_count == 0     # flushed at the outermost exit
        # the data is durable: another store instance on the same URI sees it
        other = open_store(repo.ctx.store_uri)
        digests = [col._digest(f"i{i}") for i in range(50)]
        assert other.missing(digests) == []
        other.close()
        assert_same_array(col[49], np.full(4, 49, np.float32))
        co.commit("batched")
    with repo.checkout() as co:
        assert len(co["a"]) == 51


def test_delete_column(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        co.add_str_column("keep")["k"] = "v"
        co.add_str_column("drop")["k"] = "v"
        first = co.commit("two columns")
        del co.columns["drop"]
        with pytest.raises(ColumnNotFoundError):
            co.columns.delete("drop")
        assert list(co.columns) == ["keep"]
        second = co.commit("one column")
        co.add_bytes_column("drop")["k"] = b"new kind"   # same name, new schema
        third = co.commit("readded")
    with repo.checkout(commit=first) as co:
        assert co.columns.keys() == ["drop", "keep"] and co["drop", "k"] == "v"
    with repo.checkout(commit=second) as co:
        assert co.columns.keys() == ["keep"]
    with repo.checkout(commit=third) as co:
        assert co["drop", "k"] == b"new kind" and co["drop"].column_type == "bytes"


# -- metadata -----------------------------------------------------------------------
def test_metadata_set_get_delete_and_persist(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        co.metadata["a"] = "1"
        co.metadata["unicode"] = "ключ → 値"
        co.metadata.update({"b": "2", "c": "3"})
        assert co.metadata["a"] == "1" and len(co.metadata) == 4
        del co.metadata["c"]
        with pytest.raises(NotFoundError):
            del co.metadata["c"]
        with pytest.raises(NotFoundError) as info:
            co.metadata["c"]
        assert isinstance(info.value, KeyError)
        assert co.metadata.get("c", "d") == "d"
        first = co.commit("metadata only")
        co.metadata["a"] = "changed"
        second = co.commit("metadata changed")
    with repo.checkout(commit=first) as co:
        assert dict(co.metadata.items()) == {"a": "1", "b": "2", "unicode": "ключ → 値"}
        assert list(co.metadata) == ["a", "b", "unicode"] and "b" in co.metadata
    with repo.checkout(commit=second) as co:
        assert co.metadata["a"] == "changed"


def test_metadata_is_read_only_in_reader_checkouts(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        co.metadata["a"] = "1"
        co.commit("m")
    with repo.checkout() as co:
        with pytest.raises(PermissionDeniedError):
            co.metadata["a"] = "2"
        with pytest.raises(PermissionDeniedError):
            del co.metadata["a"]
        with pytest.raises(PermissionDeniedError):
            co.metadata.update({"b": "1"})
        assert co.metadata["a"] == "1"


@pytest.mark.parametrize("key,value", [("", "v"), ("a/b", "v"), ("a\n", "v"), ("x" * 257, "v"),
                                       (1, "v"), ("k", 1), ("k", b"bytes"), ("k", None),
                                       ("k\udc80", "v"), ("k", "v\ud800")])
def test_bad_metadata_is_rejected(wco: Any, key: Any, value: Any) -> None:
    wco.metadata["good"] = "v"
    with pytest.raises(HangarError):
        wco.metadata[key] = value
    assert len(wco.metadata) == 1
    wco.commit("the rejected entry does not spoil the commit")


def test_a_rejected_key_does_not_spoil_the_staging_area(repo: Repository) -> None:
    """Regression: an unencodable key was accepted, then every flush failed with
    UnicodeEncodeError, so commit and close failed and the session's work was lost."""
    with repo.checkout(write=True) as co:
        col = co.add_str_column("c")
        col["ok"] = "v"
        with pytest.raises(InvalidNameError):
            col["bad\ud800"] = "v"
        co.commit("fine")
    with repo.checkout() as co:
        assert dict(co["c"].items()) == {"ok": "v"}


def test_reader_columns_are_read_only(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        co.add_str_column("c")["k"] = "v"
        co.commit("c")
    with repo.checkout() as co:
        col = co["c"]
        assert not col.iswriteable and not co.columns.iswriteable
        for attempt in (lambda: col.__setitem__("k", "w"), lambda: col.__delitem__("k"),
                        lambda: col.update({"x": "y"}), lambda: col.append("z"), lambda: col.pop("k")):
            with pytest.raises(PermissionDeniedError):
                attempt()
        assert dict(col.items()) == {"k": "v"}


# -- repr ----------------------------------------------------------------------------------
def test_reprs_show_writer_flag_counts_and_remote_references(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("img", prototype=np.zeros((2, 2), np.uint8))
        col.update({i: np.zeros((2, 2), np.uint8) for i in range(3)})
        co.metadata["m"] = "x"
        text = repr(co)
        assert "Writer" in text and "True" in text and "Num Columns  : 1" in text
        assert "Num Metadata : 1" in text
        crepr = repr(co.columns)
        assert "Writeable         : True" in crepr and "img / False" in crepr
        r = repr(col)
        assert "FlatSampleWriter" in r and "Number of Samples" in r and ": 3" in r
        assert "Partial Remote References : False" in r and "uint8" in r and "(2, 2)" in r
        digest = co.commit("repr")
    with repo.checkout() as co:
        text = repr(co)
        assert "Writer       : False" in text and digest in text
        assert "FlatSampleReader" in repr(co["img"]) and "Writeable                 : False" in repr(co["img"])
    assert "initialized" in repr(repo)


# -- closed checkouts --------------------------------------------------------------------
@pytest.mark.parametrize("write", [True, False], ids=["writer", "reader"])
def test_closed_checkout_use_is_permission_denied(repo: Repository, write: bool) -> None:
    with repo.checkout(write=True) as co:
        co.add_str_column("c")["k"] = "v"
        co.metadata["m"] = "x"
        co.commit("c")
    co = repo.checkout(write=write)
    col = co["c"]
    co.close()
    co.close()                                   # closing twice is harmless
    attempts = [lambda: co.columns["c"], lambda: co["c"], lambda: co["c", "k"], lambda: col["k"],
                lambda: col.get("k"), lambda: list(col.keys()), lambda: list(col.items()),
                lambda: co.metadata["m"]]
    if write:
        attempts += [lambda: col.__setitem__("k", "w"), lambda: co.commit("closed"),
                     lambda: co.add_str_column("d"), lambda: co.reset_staging_area(),
                     lambda: col.__delitem__("k"), lambda: co.metadata.__setitem__("m", "y")]
    for attempt in attempts:
        with pytest.raises(PermissionDeniedError, match="closed"):
            attempt()


def test_column_handles_stay_live_across_commits_and_flushes(repo: Repository) -> None:
    """Regression: commit/flush replaced the column objects, so a handle kept from before
    wrote where co[...] could not see it, and mixing old and new handles lost samples."""
    with repo.checkout(write=True) as co:
        col = co.add_str_column("c")
        col[0] = "a"
        co.commit("one")
        col[1] = "via the handle kept across a commit"
        assert 1 in co["c"] and len(co["c"]) == 2 and co["c"] is col
        co["c"][2] = "via a fresh lookup"
        col[3] = "via the old handle again"
        assert len(col) == 4
        co.flush()
        col[4] = "after a flush"
        assert co["c", 4] == "after a flush"
        digest = co.commit("two")
    with repo.checkout(commit=digest) as co:
        assert sorted(co["c"].keys()) == [0, 1, 2, 3, 4]


def test_str_value_with_lone_surrogate_is_a_schema_error(tmp_path):
    from hangar_git import Repository, SchemaError
    repo = Repository(str(tmp_path / "r"), exists=False)
    repo.init("t", "t@x")
    with repo.checkout(write=True) as co:
        col = co.add_str_column("s")
        with pytest.raises(SchemaError, match="surrogate"):
            col["k"] = "bad \ud800 text"
        col["k"] = "fine"
        co.commit("ok")
