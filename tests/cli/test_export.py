"""Export without loss (issue 11): int and str keys stay apart, str/bytes columns, one stacked
array, CSV with a header; the files import back to the same samples."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.api.exporters import export_column

from .conftest import Hangar, one_line_error


@pytest.fixture
def mixed(repo_dir: Path) -> Path:
    """Column 'v' with keys 1, '1', -1, '-1', "'q" and 'a'; a str and a bytes column."""
    with Repository(repo_dir).checkout(write=True) as co:
        col = co.add_ndarray_column("v", prototype=np.zeros(3, np.int32))
        for i, key in enumerate([1, "1", -1, "-1", "'q", "a"]):
            col[key] = np.full(3, i, np.int32)
        co.add_str_column("text").update({"a": "hello, world", 2: "two\nlines"})
        co.add_bytes_column("raw").update({"a": b"\x00\xff", 7: b""})
        co.commit("mixed keys")
    return repo_dir


def samples(path: Path, column: str) -> dict:
    with Repository(path).checkout() as co:
        return dict(co.columns[column].items())


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("fmt", ["npy", "npz"])
def test_int_and_str_keys_survive_export_and_import(mixed: Path, hangar: Hangar, tmp_path: Path,
                                                     fmt: str) -> None:
    """Regression: keys 1 and '1' were written as one npz member and a sample was lost."""
    out = tmp_path / "out"
    assert "Exported 6 sample(s)" in hangar.ok("export", "v", out, "--format", fmt).stdout
    sources = sorted(out.glob("*.npy")) if fmt == "npy" else [out / "v.npz"]
    hangar.ok("add", "back", *map(str, sources))
    hangar.ok("commit", "-m", "back")
    assert same(samples(mixed, "back"), samples(mixed, "v"))


def test_csv_keeps_keys_apart_and_has_a_header(mixed: Path, hangar: Hangar, tmp_path: Path) -> None:
    """Regression: CSV could not tell -1 from '-1', and export dropped the header."""
    hangar.ok("export", "v", tmp_path, "--format", "csv")
    lines = (tmp_path / "v.csv").read_text().splitlines()
    assert lines[0] == "key,v_0,v_1,v_2"
    assert [line.split(",")[0] for line in lines[1:]] == ["-1", "1", "''q'", "'-1'", "'1'", "a"]
    hangar.ok("add", "back", tmp_path / "v.csv", "--header", "--key-column", "key", "--dtype", "int32")
    hangar.ok("commit", "-m", "back")
    assert same(samples(mixed, "back"), samples(mixed, "v"))


@pytest.mark.parametrize("keys", ["int", "str"])
def test_csv_export_imports_back_with_just_header(repo_dir: Path, hangar: Hangar, tmp_path: Path, keys: str) -> None:
    """Regression: `add --header` of an exported CSV took the key column for data (int keys:
    shape (4,) holding the key; str keys: "cannot parse 'cat'"). A first header field 'key'
    is the key column, as export writes it."""
    with Repository(repo_dir).checkout(write=True) as co:
        col = co.add_ndarray_column("tab", prototype=np.zeros(3, np.int64))
        for i in range(5):
            col[i if keys == "int" else f"cat{i}"] = np.arange(3) + 10 * i
        co.commit("tab")
    hangar.ok("export", "tab", tmp_path, "--format", "csv")
    hangar.ok("add", "tab2", tmp_path / "tab.csv", "--header")
    hangar.ok("commit", "-m", "back")
    assert same(samples(repo_dir, "tab2"), samples(repo_dir, "tab"))
    with Repository(repo_dir).checkout() as co:
        assert co.columns["tab2"].shape == (3,)


def test_a_header_without_a_key_field_keeps_every_field_as_data(repo_dir: Path, hangar: Hangar,
                                                                tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("keys,a,b\n7,1,2\n8,3,4\n")
    hangar.ok("add", "t", tmp_path / "t.csv", "--header")
    hangar.ok("commit", "-m", "t")
    assert same(samples(repo_dir, "t"), {0: np.array([7, 1, 2]), 1: np.array([8, 3, 4])})


def test_str_and_bytes_columns_export(mixed: Path, hangar: Hangar, tmp_path: Path) -> None:
    hangar.ok("export", "text", tmp_path / "t")
    assert (tmp_path / "t" / "a.txt").read_text() == "hello, world"
    assert (tmp_path / "t" / "2.txt").read_text() == "two\nlines"
    hangar.ok("export", "raw", tmp_path / "r")
    assert (tmp_path / "r" / "a.bin").read_bytes() == b"\x00\xff" and (tmp_path / "r" / "7.bin").read_bytes() == b""
    hangar.ok("export", "text", tmp_path / "c", "--format", "csv")
    assert (tmp_path / "c" / "text.csv").read_text() == 'key,text\n2,"two\nlines"\na,"hello, world"\n'
    hangar.ok("export", "raw", tmp_path / "z", "--format", "npz")
    with np.load(tmp_path / "z" / "raw.npz") as z:
        assert z["a"].tobytes() == b"\x00\xff"
    one_line_error(hangar("export", "raw", tmp_path / "c", "--format", "csv"), "bytes")


def test_stacked_export(mixed: Path, hangar: Hangar, tmp_path: Path) -> None:
    hangar.ok("export", "v", tmp_path, "--format", "stacked")
    stacked = np.load(tmp_path / "v.npy")
    keys = (tmp_path / "v.keys.txt").read_text().splitlines()
    assert stacked.shape == (6, 3) and keys == ["-1", "1", "''q'", "'-1'", "'1'", "a"]
    by_key = samples(mixed, "v")
    assert np.array_equal(stacked[keys.index("'1'")], by_key["1"])
    hangar.ok("export", "text", tmp_path, "--format", "stacked")
    assert np.load(tmp_path / "text.npy").tolist() == ["two\nlines", "hello, world"]


@pytest.mark.parametrize("column", ["v", "text"])
@pytest.mark.parametrize("given", ["dir", "files", "rows"])
def test_stacked_export_adds_back_with_its_keys(mixed: Path, hangar: Hangar, tmp_path: Path, column: str,
                                                given: str) -> None:
    """Regression: `add vec2 st/` after `export vec st --format stacked` failed with "column 'vec2'
    holds str values; got ndarray" (its type guessed from vec.keys.txt)."""
    st = tmp_path / "st"
    hangar.ok("export", column, st, "--format", "stacked")
    sources = {"dir": [st], "files": [st / f"{column}.keys.txt", st / f"{column}.npy"],
               "rows": [st, "--rows"]}[given]
    count = len(samples(mixed, column))
    assert f"Staged {count} sample(s)" in hangar.ok("add", "back", *map(str, sources)).stdout
    hangar.ok("commit", "-m", "back")
    back, original = samples(mixed, "back"), samples(mixed, column)
    assert same(back, original) and all(type(v) is type(original[k]) for k, v in back.items())


def test_stacked_import_checks_its_keys_file(mixed: Path, hangar: Hangar, tmp_path: Path) -> None:
    st = tmp_path / "st"
    hangar.ok("export", "v", st, "--format", "stacked")
    (st / "v.keys.txt").write_text("1\n2\n")
    one_line_error(hangar("add", "back", st), "6 row(s) but 2 key(s)", "v.keys.txt")
    assert "Staged 1 sample(s)" in hangar.ok("add", "whole", st / "v.npy").stdout  # one file alone: as before


def test_stacked_export_refuses_mixed_shapes(repo_dir: Path, hangar: Hangar, tmp_path: Path) -> None:
    with Repository(repo_dir).checkout(write=True) as co:
        col = co.add_ndarray_column("var", shape=(4,), dtype=np.float32, variable_shape=True)
        col[0], col[1] = np.zeros(4, np.float32), np.zeros(2, np.float32)
        co.commit("variable")
    one_line_error(hangar("export", "var", tmp_path, "--format", "stacked"), "another shape", "npz")
    assert not list(tmp_path.glob("var.npy*"))


def test_export_is_an_api_function(mixed: Path, tmp_path: Path) -> None:
    with Repository(mixed).checkout() as co:
        assert export_column(co.columns["v"], str(tmp_path), "npz") == 6


def test_export_of_a_staged_column_says_it_needs_a_commit(mixed: Path, hangar: Hangar, tmp_path: Path) -> None:
    """Regression: it said "column 'grid2' does not exist on branch 'master'", though status listed it."""
    np.save(tmp_path / "g.npy", np.zeros((2, 2), np.float32))
    hangar.ok("add", "grid2", tmp_path / "g.npy")
    one_line_error(hangar("export", "grid2", tmp_path / "out"), "'grid2'", "only in the staging area",
                   "`git hangar commit -m MESSAGE`")
    hangar.ok("branch", "side")
    one_line_error(hangar("export", "grid2", tmp_path / "out", "--branch", "side"), "'grid2' does not exist",
                   "(its columns:")  # side's staging area does not hold it
    hangar.ok("commit", "-m", "grid2")
    assert "Exported 1 sample(s)" in hangar.ok("export", "grid2", tmp_path / "out").stdout
