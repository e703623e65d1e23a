"""The readers behind `add` (and a few CLI helpers), fuzzed a little: any
bytes give samples or an ImportFormatError, never another exception."""
from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hangar_git.api.importers_csv import parse_key
from hangar_git.api.importers import (ImportOptions, Sample, assign_keys, max_shape,
                                      read_samples)
from hangar_git.cli.remotes import ByteSize, default_dir
from hangar_git.errors import ImportFormatError

from .conftest import Hangar, one_line_error

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def read_all(path: Path, options: ImportOptions = ImportOptions()) -> list[Sample]:
    """All samples of a file, or ImportFormatError: anything else fails the test."""
    try:
        return list(read_samples(str(path), options))
    except ImportFormatError as exc:
        assert str(path) in str(exc) or path.name in str(exc)
        assert "\n" not in str(exc)
        return []


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


# -- fuzz ----------------------------------------------------------------------------
@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".npy", ".npz", ".csv"]))
def test_garbage_bytes(scratch: Path, data: bytes, suffix: str) -> None:
    path = scratch / f"garbage{suffix}"
    path.write_bytes(data)
    for sample in read_all(path, ImportOptions(rows=True)):
        assert isinstance(sample.value, np.ndarray)


@FUZZ
@given(data=st.data())
def test_damaged_npy(scratch: Path, data: st.DataObject) -> None:
    raw = bytearray(npy_bytes(np.arange(12, dtype=np.int16).reshape(3, 4)))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(0, len(raw)))]
    path = scratch / "damaged.npy"
    path.write_bytes(bytes(raw))
    read_all(path)
    read_all(path, ImportOptions(rows=True))


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list("0123456789-.,;e\n \"xé")), max_size=200),
       key_column=st.sampled_from([None, "0", "-1", "3"]), header=st.booleans())
def test_csv_like_text(scratch: Path, text: str, key_column: str | None, header: bool) -> None:
    path = scratch / "fuzz.csv"
    path.write_text(text, encoding="utf-8")
    options = ImportOptions(key_column=key_column, header=header)
    for sample in read_all(path, options):
        assert sample.value.ndim == 1
        assert sample.value.dtype in (np.int64, np.float64)


def test_garbage_through_the_cli_is_one_line(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    Hangar(repo).ok("init")
    (tmp_path / "x.npy").write_bytes(b"\x93NUMPY\x01\x00\xff\xff{garbage")
    (tmp_path / "x.npz").write_bytes(b"PK\x05\x06" + bytes(18))
    one_line_error(Hangar(repo)("add", "c", str(tmp_path / "x.npy")), "x.npy")
    result = Hangar(repo)("add", "c", str(tmp_path / "x.npz"))
    assert result.exit_code == 1 and "Traceback" not in result.output


# -- readers -----------------------------------------------------------------------------
def test_npy_whole_and_rows(tmp_path: Path) -> None:
    arr = np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3))
    np.save(tmp_path / "f.npy", arr)
    (whole,) = read_all(tmp_path / "f.npy")
    np.testing.assert_array_equal(whole.value, arr)
    assert (whole.name, whole.row, whole.key) == ("f", None, None)
    rows = read_all(tmp_path / "f.npy", ImportOptions(rows=True))
    assert [s.row for s in rows] == [0, 1]
    assert rows[1].where.endswith("f.npy row 1")
    np.testing.assert_array_equal(rows[1].value, arr[1])


def test_npy_with_objects_is_refused(tmp_path: Path) -> None:
    """Regression: the message was numpy's "Array can't be memory-mapped: Python objects in dtype"."""
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "o.npz", m=np.array([{"a": 1}], dtype=object))
    for name in ("o.npy", "o.npz"):
        with pytest.raises(ImportFormatError, match=f"{name}.*object arrays are not supported"):
            list(read_samples(str(tmp_path / name), ImportOptions()))
    repo = tmp_path / "repo"
    repo.mkdir()
    Hangar(repo).ok("init")
    for args in (["o.npy"], ["o.npy", "--rows"], ["o.npz"]):
        one_line_error(Hangar(repo)("add", "c", str(tmp_path / args[0]), *args[1:]),
                       "object arrays are not supported (save a numeric array)")


@pytest.mark.parametrize("delimiter,spelt", [(";", ";"), ("\t", "\\t"), ("|", "|")])
def test_csv_with_another_delimiter_hints_at_it(tmp_path: Path, delimiter: str, spelt: str) -> None:
    """Regression: a ';'-separated file got "cannot parse '1;2' as float64 (pass --header ...,
    --dtype str ...)", which never mentioned --delimiter."""
    (tmp_path / "semi.csv").write_text(f"1{delimiter}2\n3{delimiter}4\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    Hangar(repo).ok("init")
    one_line_error(Hangar(repo)("add", "x", str(tmp_path / "semi.csv")), f"pass --delimiter '{spelt}'")
    Hangar(repo).ok("add", "x", str(tmp_path / "semi.csv"), "--delimiter", spelt)
    assert "2 added" in Hangar(repo).ok("status").stdout


def test_npz_members_in_order(tmp_path: Path) -> None:
    np.savez(tmp_path / "z.npz", b=np.zeros(2), a=np.ones(3))
    samples = read_all(tmp_path / "z.npz")
    assert [s.name for s in samples] == ["b", "a"]
    assert samples[1].where.endswith("z.npz:a")


def test_npz_dtype_cast(tmp_path: Path) -> None:
    np.savez(tmp_path / "z.npz", a=np.ones(3, np.float64))
    (sample,) = read_all(tmp_path / "z.npz", ImportOptions(dtype=np.dtype(np.float32)))
    assert sample.value.dtype == np.float32


def test_csv_blank_lines_quotes_and_keys(tmp_path: Path) -> None:
    (tmp_path / "k.csv").write_text('name,v\n\n"a",1\n"b c", 2 \n')
    samples = read_all(tmp_path / "k.csv", ImportOptions(header=True, key_column="name"))
    assert [s.key for s in samples] == ["a", "b c"]
    assert [s.value.tolist() for s in samples] == [[1], [2]]


def test_csv_integer_keys(tmp_path: Path) -> None:
    (tmp_path / "k.csv").write_text("7,1.5\n-8,2\n")
    samples = read_all(tmp_path / "k.csv", ImportOptions(key_column="0"))
    assert [s.key for s in samples] == [7, -8]
    assert samples[0].value.dtype == np.float64


def test_parse_key() -> None:
    assert parse_key(" 12 ", "w") == 12
    assert parse_key("x1", "w") == "x1"
    with pytest.raises(ImportFormatError, match="empty"):
        parse_key(" ", "w")


# -- keys and shapes ---------------------------------------------------------------------------
def sample(name: str, row: int | None = None, key: object = None, shape: tuple = (2,)) -> Sample:
    return Sample(name, np.zeros(shape), f"{name}:{row}", row, key)  # type: ignore[arg-type]


@pytest.mark.parametrize(("key_from", "expected"), [
    ("auto", ["f", 0, 1, "k"]),
    ("name", ["f", "r:0", "r:1", "g:2"]),
    ("index", [5, 6, 7, 8]),
])
def test_assign_keys(key_from: str, expected: list) -> None:
    samples = [sample("f"), sample("r", 0), sample("r", 1), sample("g", 2, key="k")]
    assert [k for k, _ in assign_keys(samples, key_from, start=5)] == expected


def test_assign_keys_refuses_duplicates_and_rowless_row_keys() -> None:
    with pytest.raises(ImportFormatError, match="used twice"):
        list(assign_keys([sample("a", 0), sample("b", 0)], "row"))
    with pytest.raises(ImportFormatError, match="needs row imports"):
        list(assign_keys([sample("a")], "row"))


def test_max_shape() -> None:
    assert max_shape([sample("a", shape=(2, 5)), sample("b", shape=(3, 1))]) == (3, 5)
    assert max_shape([]) is None
    with pytest.raises(ImportFormatError, match="dimensions"):
        max_shape([sample("a", shape=(2,)), sample("b", shape=(2, 2))])


# -- CLI helpers --------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("500", 500), ("64k", 65536), ("10M", 10 << 20), ("2G", 2 << 30), ("1 MiB", 1 << 20)])
def test_byte_sizes(text: str, expected: int) -> None:
    assert ByteSize().convert(text, None, None) == expected


@pytest.mark.parametrize(("address", "expected"), [
    ("ssh://me@host:22/srv/data/repo.git", "repo"), ("host:path/to/set/", "set"),
    ("/abs/local", "local"), ("file:///x/y.git", "y"), ("host:", "host")])
def test_clone_directory_names(address: str, expected: str) -> None:
    assert default_dir(address) == expected
