"""CSV files parsed at once (csv_rows) give exactly what the row-by-row reader gives, or
leave the file to it; the CLI stages them through the bulk row path."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pytest

from hangar_git.api.importers import ImportOptions
from hangar_git.api.importers_csv import csv_rows, read_csv
from hangar_git.errors import ImportFormatError
from tests.cli.conftest import Hangar

CASES = [  # (text, options, parsed at once?)
    ("1,2,3\n4,5,6\n", {}, True),
    ("1,2.5\n3,4\n", {}, True),                # a float: every value float64
    ("a,b\n1,2\n\n3,4\n", {"header": True}, True),
    ("1\n2\n3\n", {}, True),                   # one field: rows of shape (1,)
    (" 12,+5\n-7,0\n", {}, True),
    ("1;2\n3;4\n", {"delimiter": ";"}, True),
    ("1,2\r\n3,4\r\n", {}, True),
    ("1,2\n3,4\n", {"dtype": np.dtype(np.uint8)}, True),
    ("1,2\n3,4\n", {"column_dtype": np.dtype(np.float32)}, True),
    ("1.0,2\n3,4\n", {"dtype": np.dtype(np.int64)}, False),  # numpy would take 1.0 as an int, with a warning
    ("1_000,2\n3,4\n", {}, False),
    ('"1","2"\n3,4\n', {}, False),
    ("1,2\n3\n", {}, False),
    ("\na,b\n1,2\n", {"header": True}, False),
    ("300,2\n", {"dtype": np.dtype(np.uint8)}, False),
    ("-0,2\n", {"dtype": np.dtype(np.uint8)}, False),
    ("1,2\n  \n3,4\n", {}, False),
    ("", {}, False),
]


def _slow(path: str, options: ImportOptions) -> Optional[np.ndarray]:
    try:
        values = [s.value for s in read_csv(path, options)]
    except ImportFormatError:
        return None
    return np.stack(values) if values else None


@pytest.mark.parametrize("text,kwargs,fast", CASES)
def test_csv_rows_equal_the_row_reader(tmp_path: Path, text: str, kwargs: dict, fast: bool) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text, newline="")
    options = ImportOptions(**kwargs)
    got = csv_rows([str(path)], options, "auto", False)
    assert (got is not None) == fast
    if got is not None:
        want = _slow(str(path), options)
        assert want is not None and got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got, want, equal_nan=True)


def test_csv_rows_leave_other_imports_to_the_row_reader(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("1,2\n3,4\n")
    p = str(path)
    assert csv_rows([p], ImportOptions(), "row", False) is not None
    assert csv_rows([p], ImportOptions(), "index", False) is not None
    assert csv_rows([p], ImportOptions(), "name", False) is None
    assert csv_rows([p], ImportOptions(key_column="0"), "auto", False) is None
    assert csv_rows([p], ImportOptions(), "auto", True) is None
    assert csv_rows([p, p], ImportOptions(), "auto", False) is None
    assert csv_rows([p], ImportOptions(delimiter=" "), "auto", False) is None


def test_cli_adds_a_csv_through_the_bulk_path(repo_dir: Path, hangar: Hangar, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys from --start, values and dtype as the row reader gives them; the row reader is
    not used (it would fail here), and a second add of the same rows changes nothing."""
    from hangar_git import Repository
    from hangar_git.api import importers_csv
    rows = np.random.default_rng(3).integers(-50, 50, (70_000, 3))
    path = tmp_path / "r.csv"
    np.savetxt(path, rows, fmt="%d", delimiter=",")

    def refuse(*args: object) -> None:
        raise AssertionError("read row by row")
    monkeypatch.setattr(importers_csv, "read_csv", refuse)
    hangar.ok("add", "r", path, "--key-from", "index", "--start", "5")
    assert "already" in hangar.ok("add", "r", path, "--key-from", "index", "--start", "5").output
    hangar.ok("commit", "-m", "rows")
    col = Repository(repo_dir).checkout().columns["r"]
    assert len(col) == len(rows) and col.dtype == np.int64
    for i in (0, 65_535, 65_536, len(rows) - 1):
        np.testing.assert_array_equal(col[i + 5], rows[i])
    assert 4 not in col
