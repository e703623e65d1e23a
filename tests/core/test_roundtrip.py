"""Arrays come back exactly as written: every supported dtype and shape class."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hangar_git import Repository, SchemaError

from .conftest import assert_same_array, new_repo

DTYPES = ["?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16",
          "M8[s]", "M8[ns]", "m8[ms]", "m8[D]", "S5", "U7", ">i4", ">f8", "<u2"]


def sample(dtype: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Deterministic array of any supported dtype, with extreme values mixed in."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    raw = rng.integers(0, 256, size=n * dt.itemsize, dtype=np.uint8)
    if dt.kind in "SU":   # random text, each item a random length (NUL padded)
        width = dt.itemsize // (4 if dt.kind == "U" else 1)
        alphabet = (np.array([ord(c) for c in "abcxyzÄ€😀"], np.uint32) if dt.kind == "U"
                    else np.frombuffer(b"abcxyz\x01\xff", np.uint8))
        chars = rng.choice(alphabet, size=(n, width))
        chars[np.arange(width) >= rng.integers(0, width + 1, size=(n, 1))] = 0
        return chars.view(dt).reshape(shape)
    if dt.kind == "b":
        return (raw[:n] & 1).astype(dt).reshape(shape)
    return raw.view(dt).reshape(shape).copy()  # any bit pattern: NaN payloads, NaT, inf


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_round_trips_through_a_commit(repo: Repository, dtype: str) -> None:
    arrays = {i: sample(dtype, (3, 4), seed=i) for i in range(3)}
    arrays["str-key"] = sample(dtype, (3, 4), seed=99)
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("c", prototype=arrays[0])
        assert col.dtype == np.dtype(dtype) and col.dtype.str == np.dtype(dtype).str
        col.update(arrays)
        for key, arr in arrays.items():  # staged reads, before any flush
            assert_same_array(col[key], arr)
        digest = co.commit(f"dtype {dtype}")
    with repo.checkout(commit=digest) as co:
        col = co["c"]
        assert col.dtype.str == np.dtype(dtype).str
        for key, arr in arrays.items():
            assert_same_array(col[key], arr)
        assert {k: v.tobytes() for k, v in col.items()} == {k: v.tobytes() for k, v in arrays.items()}


SHAPES = {
    "0-d": (),
    "1-d": (7,),
    "n-d": (2, 3, 4),
    "many-dims": (1, 2, 1, 3, 1, 2),
    "zero-size-first": (0, 5),
    "zero-size-middle": (3, 0, 2),
    "single": (1,),
}


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("dtype", ["f8", "i2", "U7", "M8[s]"])
def test_shape_classes_round_trip(repo: Repository, shape: tuple[int, ...], dtype: str) -> None:
    arr = sample(dtype, shape, seed=3)
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("c", prototype=arr)
        assert col.shape == shape
        col["k"] = arr
        col[0] = sample(dtype, shape, seed=4)
        assert_same_array(col["k"], arr)
        co.commit("shapes")
    fresh = Repository(repo.path)
    with fresh.checkout() as co:
        assert_same_array(co["c", "k"], arr)
        assert_same_array(co["c", 0], sample(dtype, shape, seed=4))


def test_zero_size_samples_alone_in_a_flush(repo: Repository) -> None:
    """Regression: a flush holding only empty objects indexed a chunk never written."""
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("z", shape=(0, 3), dtype=np.float32)["e"] = np.zeros((0, 3), np.float32)
        co.add_str_column("s")["e"] = ""
        co.add_bytes_column("b")["e"] = b""
        digest = co.commit("empties")
    with repo.checkout(commit=digest) as co:
        assert_same_array(co["z", "e"], np.zeros((0, 3), np.float32))
        assert co["s", "e"] == "" and co["b", "e"] == b""


def test_samples_of_mixed_dtypes_in_one_flush(repo: Repository) -> None:
    """Regression: a chunk mixing item sizes (4-byte floats, then a 3-byte str) failed to compress."""
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("f", prototype=np.zeros(3, np.float32))[0] = np.ones(3, np.float32)
        co.add_str_column("s")[0] = "abc"
        co.add_ndarray_column("u", prototype=np.zeros(1, "S5"))[0] = np.array([b"ab"], "S5")
        co.add_bytes_column("b")[0] = b"x" * 7
        digest = co.commit("mixed")
    with repo.checkout(commit=digest) as co:
        assert_same_array(co["f", 0], np.ones(3, np.float32))
        assert co["s", 0] == "abc" and co["b", 0] == b"x" * 7
        assert_same_array(co["u", 0], np.array([b"ab"], "S5"))


# -- variable shape -----------------------------------------------------------------
def test_variable_shape_up_to_the_maximum(repo: Repository) -> None:
    shapes = [(10, 10), (1, 1), (0, 3), (3, 7), (10, 0), (9, 10)]
    arrays = {i: sample("f4", s, seed=i) for i, s in enumerate(shapes)}
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("v", shape=(10, 10), dtype=np.float32, variable_shape=True)
        assert col.schema_type == "variable_shape" and col.shape == (10, 10)
        col.update(arrays)
        digest = co.commit("variable")
    with repo.checkout(commit=digest) as co:
        for key, arr in arrays.items():
            assert_same_array(co["v", key], arr)


@pytest.mark.parametrize("given", [(11, 10), (10, 11), (10,), (2, 2, 2), ()],
                         ids=["dim0-too-big", "dim1-too-big", "too-few-dims", "too-many-dims", "0-d"])
def test_variable_shape_rejects_bigger_or_other_rank(wco: Any, given: tuple[int, ...]) -> None:
    col = wco.add_ndarray_column("v", shape=(10, 10), dtype=np.float32, variable_shape=True)
    with pytest.raises(SchemaError) as info:
        col[0] = np.zeros(given, np.float32)
    assert info.value.expected == (10, 10)
    assert info.value.given == given
    assert "'v'" in str(info.value)
    assert 0 not in col and len(col) == 0


def test_fixed_shape_rejects_any_other_shape(wco: Any) -> None:
    col = wco.add_ndarray_column("f", prototype=np.zeros((2, 3), np.int16))
    assert col.schema_type == "fixed_shape"
    for shape in [(3, 2), (2, 2), (6,), (1, 2, 3)]:
        with pytest.raises(SchemaError) as info:
            col[0] = np.zeros(shape, np.int16)
        assert (info.value.expected, info.value.given) == ((2, 3), shape)


# -- non-contiguous input ---------------------------------------------------------------
def _views() -> dict[str, np.ndarray]:
    base = sample("f8", (6, 8), seed=5)
    cube = sample("i4", (4, 6, 8), seed=6)
    return {
        "transposed": base.T,
        "strided-rows": base[::2],
        "strided-cols": base[:, 1::3],
        "reversed": base[::-1, ::-1],
        "fortran": np.asfortranarray(base),
        "swapped-axes": np.swapaxes(cube, 0, 2),
        "broadcast": np.broadcast_to(base[0], (6, 8)),
        "datetime-T": sample("M8[s]", (6, 8), seed=7).T,
        "unicode-strided": sample("U7", (6, 8), seed=8)[::3, ::2],
    }


@pytest.mark.parametrize("name", list(_views()))
def test_non_contiguous_input_is_stored_in_c_order(repo: Repository, name: str) -> None:
    view = _views()[name]
    assert not view.flags.c_contiguous
    contiguous = np.ascontiguousarray(view)
    with repo.checkout(write=True) as co:
        fixed = co.add_ndarray_column("fixed", prototype=contiguous)
        var = co.add_ndarray_column("var", shape=tuple(s + 2 for s in view.shape), dtype=view.dtype,
                                    variable_shape=True)
        fixed["view"], fixed["copy"] = view, contiguous
        var["view"], var["copy"] = view, contiguous
        digest = co.commit("views")
    with repo.checkout(commit=digest) as co:
        for col in ("fixed", "var"):
            assert_same_array(co[col, "view"], contiguous)
            # same content, same digest: a view and its copy are one object
            records = co[col]._records
            assert records.get("sview") == records.get("scopy")


# -- property-based ------------------------------------------------------------------
HYPO_DTYPES = st.sampled_from([np.dtype(d) for d in DTYPES])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_any_array_round_trips(tmp_path_factory: pytest.TempPathFactory, data: Any) -> None:
    """Random dtype, rank 0-3, sides 0-4, any values: staged read and committed read are exact."""
    dtype = data.draw(HYPO_DTYPES, label="dtype")
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), label="shape")
    arr = data.draw(hnp.arrays(dtype, shape), label="array")
    if data.draw(st.booleans(), label="transpose"):
        arr = arr.T
    repo = new_repo(tmp_path_factory.mktemp("hyp") / "repo")
    with repo.checkout(write=True) as co:
        fixed = co.add_ndarray_column("fixed", prototype=arr.copy(order="C"))
        var = co.add_ndarray_column("var", shape=(4,) * arr.ndim, dtype=dtype, variable_shape=True)
        fixed[1] = arr
        var["1"] = arr
        assert_same_array(fixed[1], arr)
        assert_same_array(var["1"], arr)
        digest = co.commit("hypothesis")
    with repo.checkout(commit=digest) as co:
        assert_same_array(co["fixed", 1], arr)
        assert_same_array(co["var", "1"], arr)


# -- unsupported dtypes and wrong values ------------------------------------------------------
UNSUPPORTED = {
    "object": np.dtype(object),
    "structured": np.dtype([("a", "<i4"), ("b", "<f4")]),
    "void": np.dtype("V8"),
    "subarray-structured": np.dtype([("x", "<f8", (2,))]),
}


@pytest.mark.parametrize("dtype", list(UNSUPPORTED.values()), ids=list(UNSUPPORTED))
def test_unsupported_dtypes_are_schema_errors(wco: Any, dtype: np.dtype) -> None:
    with pytest.raises(SchemaError) as info:
        wco.add_ndarray_column("bad", shape=(2,), dtype=dtype)
    assert info.value.given == str(dtype)
    with pytest.raises(SchemaError):
        wco.add_ndarray_column("bad", prototype=np.zeros(2, dtype=dtype))
    assert "bad" not in wco.columns


WRONG_VALUES = [
    # (column kind, value, expected, given)
    ("f4", np.zeros(3, np.float64), "float32", "float64"),
    ("f4", np.zeros(3, ">f4"), "float32", ">f4"),
    ("f4", np.zeros(3, object), "float32", "object"),
    ("f4", [0.0, 0.0, 0.0], "numpy.ndarray", "list"),
    ("f4", 1.5, "numpy.ndarray", "float"),
    ("f4", "abc", "numpy.ndarray", "str"),
    ("f4", np.zeros(4, np.float32), (3,), (4,)),
    ("str", b"bytes", "str", "bytes"),
    ("str", 5, "str", "int"),
    ("str", np.array(["x"]), "str", "ndarray"),
    ("bytes", "text", "bytes", "str"),
    ("bytes", None, "bytes", "NoneType"),
]


@pytest.mark.parametrize("kind,value,expected,given", WRONG_VALUES,
                         ids=[f"{w[0]}-{i}" for i, w in enumerate(WRONG_VALUES)])
def test_wrong_kind_dtype_or_shape_is_schema_error(wco: Any, kind: str, value: Any,
                                                   expected: Any, given: Any) -> None:
    if kind == "str":
        col = wco.add_str_column("c")
    elif kind == "bytes":
        col = wco.add_bytes_column("c")
    else:
        col = wco.add_ndarray_column("c", shape=(3,), dtype=kind)
    with pytest.raises(SchemaError) as info:
        col["k"] = value
    err = info.value
    assert (err.expected, err.given) == (expected, given)
    assert "'c'" in str(err)
    assert isinstance(err, ValueError)
    assert "k" not in col and len(col) == 0


def test_bad_column_definitions_are_schema_errors(wco: Any) -> None:
    with pytest.raises(SchemaError):
        wco.add_ndarray_column("a")  # neither prototype nor shape+dtype
    with pytest.raises(SchemaError):
        wco.add_ndarray_column("a", shape=(-1, 3), dtype=np.float32)
    with pytest.raises(SchemaError):
        wco.add_ndarray_column("a", prototype=[1, 2, 3])
    with pytest.raises(SchemaError):
        wco.add_ndarray_column("a", shape=(3,), dtype="not-a-dtype")
    assert len(wco.columns) == 0


# -- large samples ------------------------------------------------------------------------
def test_large_samples_round_trip_and_survive_reopen(repo: Repository) -> None:
    rng = np.random.default_rng(11)
    arrays = {i: rng.standard_normal((512, 1024)).astype(np.float32) for i in range(3)}
    arrays[3] = np.zeros((512, 1024), np.float32)          # compressible
    arrays[4] = np.arange(512 * 1024, dtype=np.float32).reshape(512, 1024)
    assert all(a.nbytes > (1 << 20) for a in arrays.values())
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("big", prototype=arrays[0])
        var = co.add_ndarray_column("bigvar", shape=(1024, 1024), dtype=np.float32, variable_shape=True)
        col.update(arrays)
        var["t"] = arrays[0].T
        assert_same_array(col[2], arrays[2])
        digest = co.commit("large")
    fresh = Repository(repo.path)
    with fresh.checkout(commit=digest) as co:
        for key, arr in arrays.items():
            assert_same_array(co["big", key], arr)
        assert_same_array(co["bigvar", "t"], np.ascontiguousarray(arrays[0].T))
        assert sorted(k for k, _ in co["big"].items()) == sorted(arrays)


@pytest.mark.parametrize("dtype", ["c8", "S5", "U7", ">i4", "M8[s]", "?"])
def test_large_samples_of_odd_dtypes(repo: Repository, dtype: str) -> None:
    n = (1 << 20) // np.dtype(dtype).itemsize + 3
    arr = sample(dtype, (n,), seed=1)
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("big", prototype=arr)[0] = arr
        digest = co.commit("large odd")
    with Repository(repo.path).checkout(commit=digest) as co:
        assert_same_array(co["big", 0], arr)
