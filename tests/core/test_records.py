"""Record formats (permanent): keys, names, shards, schema; resharding as columns grow and shrink."""
from __future__ import annotations

import json
import zlib
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hangar_git import InvalidNameError, Repository
from hangar_git.bookkeeping import records
from hangar_git.bookkeeping.records import (ColumnSchema, ColumnStats, check_key, check_name,
                                           decode_key, decode_shard, encode_key, encode_shard,
                                           key_sort, shard_digits_for, shard_path, shard_prefix)

from .conftest import new_repo

D1, D2, D3 = "1" * 64, "2" * 64, "a" * 64


def test_shard_text_format() -> None:
    blob = encode_shard({"sb": D1, "i10": D2, "i2": D3, "swith space": D1})
    assert blob == (f"{D2} i10\n{D3} i2\n{D1} sb\n{D1} swith space\n").encode()
    assert decode_shard(blob) == {"sb": D1, "i10": D2, "i2": D3, "swith space": D1}
    assert encode_shard({}) == b"" and decode_shard(b"") == {}
    unicode = encode_shard({"sключ": D1})
    assert unicode.decode("utf-8") == f"{D1} sключ\n" and decode_shard(unicode) == {"sключ": D1}


@pytest.mark.parametrize("key,encoded", [(0, "i0"), (-12, "i-12"), (2**63 - 1, "i9223372036854775807"),
                                         ("0", "s0"), ("a b", "sa b"), ("i5", "si5"), ("ключ", "sключ")])
def test_key_encoding(key: Any, encoded: str) -> None:
    assert encode_key(key) == encoded
    assert decode_key(encoded) == key and type(decode_key(encoded)) is type(key)


def test_key_validation_table() -> None:
    for good in (0, -(2**63), 2**63 - 1, "x", "x" * 256, np.int32(5), np.uint64(7)):
        assert check_key(good) == good and type(check_key(good)) in (int, str)
    for bad in ("", "x" * 257, "a/b", "a\\b", "\x00", "\x1f", "\x7f", True, 1.0, None, b"b", 2**63,
                -(2**63) - 1, np.uint64(2**63), [1]):
        with pytest.raises(InvalidNameError):
            check_key(bad)


def test_name_validation_table() -> None:
    for good in ("a", "Z9", "a.b", "a-b", "a_b", "_", "0", "x" * 64):
        assert check_name(good) == good
    for bad in ("", ".a", "-a", "a/b", "a b", "x" * 65, "a\n", "\na", "é", None, 1):
        with pytest.raises(InvalidNameError):
            check_name(bad)


@pytest.mark.parametrize("count,current,level", [
    (0, 0, 0), (1024, 0, 0), (1025, 0, 1), (16384, 0, 1), (16385, 0, 2), (16385, 1, 2),
    (1024 * 16**2 + 1, 0, 3),
    # shrinking is lazy: only below a quarter of the previous level's capacity
    (1024, 1, 1), (256, 1, 1), (255, 1, 0), (0, 1, 0), (4096, 2, 2), (4095, 2, 1), (255, 2, 0),
    (10**12, 0, 8),
])
def test_shard_level_grows_eagerly_and_shrinks_lazily(count: int, current: int, level: int) -> None:
    assert shard_digits_for(count, current) == level


def test_shard_prefix_and_path() -> None:
    crc = f"{zlib.crc32(b'i42'):08x}"
    assert shard_prefix("i42", 0) == "" and shard_prefix("i42", 3) == crc[:3]
    assert shard_path("") == ("_",)
    assert shard_path("a") == ("a",) and shard_path("ab") == ("ab",)
    assert shard_path("abc") == ("ab", "c") and shard_path("abcde") == ("ab", "cd", "e")
    assert list(records.all_prefixes(1)) == list("0123456789abcdef")


def test_schema_and_stats_encoding_is_stable() -> None:
    schema = ColumnSchema("ndarray", dtype="<f4", shape=(3, 4), variable_shape=True)
    blob = schema.encode()
    assert json.loads(blob) == {"column_type": "ndarray", "dtype": "<f4", "shape": [3, 4],
                                "variable_shape": True}
    assert ColumnSchema.decode(blob) == schema and schema.encode() == blob
    assert ColumnSchema.decode(ColumnSchema("str").encode()) == ColumnSchema("str")
    assert ColumnStats.decode(ColumnStats(5, 1).encode()) == ColumnStats(5, 1)
    assert records.decode_metadata(records.encode_metadata({"b": "ü", "a": "1"})) == {"a": "1", "b": "ü"}


def test_key_sort_puts_ints_first() -> None:
    assert key_sort(["b", 10, "a", -1, 2]) == [-1, 2, 10, "a", "b"]


# -- shards in real commits ----------------------------------------------------------------------
def column_tree(repo: Repository, commit: str, column: str) -> tuple[dict, dict[str, str]]:
    """(stats, {shard path: blob oid}) of a column in a commit."""
    git = repo.ctx.git
    root = git.commit_info(commit).tree
    col = git.tree_lookup(root, ("columns", column))
    stats = json.loads(git.read_blob(git.tree_lookup(col, ("stats.json",))))
    shards: dict[str, str] = {}

    def walk(tree: str, prefix: str) -> None:
        for name, (oid, is_tree) in git.tree_entries(tree).items():
            if is_tree:
                walk(oid, prefix + name + "/")
            else:
                shards[prefix + name] = oid

    samples = git.tree_lookup(col, ("samples",))
    if samples:
        walk(samples, "")
    return stats, shards


def all_records(repo: Repository, shards: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for path, oid in shards.items():
        shard = decode_shard(repo.ctx.git.read_blob(oid))
        prefix = path.replace("/", "").replace("_", "")
        assert all(shard_prefix(k, len(prefix)) == prefix for k in shard), path
        out.update(shard)
    return out


def test_columns_reshard_as_they_grow_past_1024_and_shrink(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        col = co.add_str_column("c")
        col.update({i: f"v{i % 7}" for i in range(1000)})
        c0 = co.commit("1000")
        col.update({i: f"v{i % 7}" for i in range(1000, 1100)})
        c1 = co.commit("1100")
        col["one-more"] = "x"
        c2 = co.commit("1101")
        for i in range(0, 850):
            del col[i]
        c3 = co.commit("251 left")

    stats, shards = column_tree(repo, c0, "c")
    assert stats == {"count": 1000, "shard_digits": 0} and list(shards) == ["_"]
    stats, shards = column_tree(repo, c1, "c")
    assert stats == {"count": 1100, "shard_digits": 1}
    assert sorted(shards) == list("0123456789abcdef")
    assert len(all_records(repo, shards)) == 1100
    _, shards2 = column_tree(repo, c2, "c")            # one new key rewrites one shard only
    assert sum(shards[p] != shards2[p] for p in shards) == 1
    stats, shards = column_tree(repo, c3, "c")
    assert stats == {"count": 251, "shard_digits": 0} and list(shards) == ["_"]
    assert set(all_records(repo, shards)) == {f"i{i}" for i in range(850, 1100)} | {"sone-more"}

    for commit, keys in ((c0, range(1000)), (c1, range(1100)), (c3, range(850, 1100))):
        with repo.checkout(commit=commit) as co:
            col = co["c"]
            extra = 1 if commit == c3 else 0
            assert len(col) == len(keys) + extra == len(list(col.keys()))
            assert all(col[i] == f"v{i % 7}" for i in keys)
            assert (0 in col) == (commit != c3)


def test_equal_content_gives_identical_trees(tmp_path: Any) -> None:
    trees = []
    for name, order in (("fwd", range(1500)), ("rev", reversed(range(1500)))):
        repo = new_repo(tmp_path / name)
        with repo.checkout(write=True) as co:
            col = co.add_bytes_column("b")
            for i in order:
                col[i] = str(i).encode()
            if name == "rev":
                col["tmp"] = b"x"
                co.commit("with extra")
                del col["tmp"]
            digest = co.commit("content")
        git = repo.ctx.git
        trees.append(git.tree_lookup(git.commit_info(digest).tree, ("columns", "b")))
    assert trees[0] == trees[1]


def test_columns_reshard_past_16384_and_back(repo: Repository) -> None:
    value = np.zeros(2, np.uint8)
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("a", prototype=value)
        with col:
            for i in range(16_000):
                col[i] = value
        c0 = co.commit("16000")
        with col:
            for i in range(16_000, 16_500):
                col[i] = value
        c1 = co.commit("16500")
        with col:
            for i in range(12_500):
                del col[i]
        c2 = co.commit("4000 left")
    expected = ((c0, 16_000, 1, 16, 15_999), (c1, 16_500, 2, 256, 16_499), (c2, 4_000, 1, 16, 16_499))
    for commit, count, digits, n_shards, last in expected:
        stats, shards = column_tree(repo, commit, "a")
        assert stats == {"count": count, "shard_digits": digits} and len(shards) == n_shards
        assert all(len(p.replace("/", "")) == digits for p in shards)
        assert len(all_records(repo, shards)) == count
        with repo.checkout(commit=commit) as co:
            keys = list(co["a"].keys())
            assert len(keys) == count == len(co["a"]) and (co["a", last] == value).all()


# -- property-based ------------------------------------------------------------------------------

KEYS = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
            min_size=1, max_size=12),
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEYS, st.binary(min_size=32, max_size=32).map(bytes.hex), max_size=40))
def test_property_shards_round_trip(records_: dict) -> None:
    encoded = {encode_key(check_key(k)): d for k, d in records_.items()}
    blob = encode_shard(encoded)
    assert decode_shard(blob) == encoded
    assert {decode_key(e) for e in decode_shard(blob)} == set(records_)
    assert encode_shard(dict(reversed(list(encoded.items())))) == blob   # order-free


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(KEYS, st.binary(max_size=6), min_size=1, max_size=25))
def test_property_any_valid_keys_round_trip_through_commits(
        tmp_path_factory: pytest.TempPathFactory, data: dict) -> None:
    repo = new_repo(tmp_path_factory.mktemp("keys") / "repo")
    with repo.checkout(write=True) as co:
        co.add_bytes_column("b").update(data)
        digest = co.commit("keys")
    with repo.checkout(commit=digest) as co:
        col = co["b"]
        assert dict(col.items()) == data and len(col) == len(data)
        assert all(col[k] == v and k in col for k, v in data.items())


def test_shard_cache_is_bounded_and_shared(tmp_path):
    from hangar_git.bookkeeping import snapshot
    from hangar_git.bookkeeping.gitrepo import GitRepo
    from hangar_git.bookkeeping.records import encode_shard
    git = GitRepo.init(str(tmp_path / "g"))
    cache = snapshot.ShardCache(max_records=5)
    oids = [git.write_blob(encode_shard({f"i{i}{j}": f"{i:064x}" for j in range(2)})) for i in range(4)]
    first = cache.get(git, oids[0])
    assert cache.get(git, oids[0]) is first            # shared, parsed once
    for oid in oids[1:]:
        cache.get(git, oid)
    assert cache._records <= 5 and oids[0] not in cache._shards   # least recently used went first


@pytest.mark.parametrize("key", ["a\x85b", "line\u2028sep", "para\u2029", "c1\x9f"],
                         ids=["NEL", "line-separator", "paragraph-separator", "C1"])
def test_keys_refuse_c1_controls_and_unicode_line_breaks(key: str) -> None:
    from hangar_git.bookkeeping.records import check_key, check_metadata_key
    from hangar_git.errors import InvalidNameError
    with pytest.raises(InvalidNameError):
        check_key(key)
    with pytest.raises(InvalidNameError):
        check_metadata_key(key)
