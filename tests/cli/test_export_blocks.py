"""Column.blocks and the stacked export built on it: rows at their places in key order."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.api.exporters import export_column
from hangar_git.errors import SchemaError


def test_stacked_export_of_int_keys_in_blocks(tmp_path: Path) -> None:
    """Keys out of order, negative, with gaps; written, then some changed and deleted."""
    repo = Repository(str(tmp_path / "r"), exists=False)
    repo.init("t", "t@x")
    rng = np.random.default_rng(5)
    keys = rng.permutation(np.arange(-30_000, 90_000, 3))
    rows = rng.integers(0, 255, (len(keys), 4), dtype=np.uint8)
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=rows[0])
        col.put_rows(keys, rows)
        co.commit("rows")
        del col[int(keys[0])]
        col[int(keys[1])] = np.full(4, 7, np.uint8)
        want = {int(k): r for k, r in zip(keys[1:], rows[1:])}
        want[int(keys[1])] = np.full(4, 7, np.uint8)
        seen = 0
        for block_keys, block in col.blocks():
            assert block.shape == (len(block_keys), 4)
            seen += len(block_keys)
        assert seen == len(want)
        assert export_column(col, str(tmp_path / "out"), "stacked") == len(want)
    stacked = np.load(tmp_path / "out" / "x.npy")
    order = sorted(want)
    assert (tmp_path / "out" / "x.keys.txt").read_text().split() == [str(k) for k in order]
    assert np.array_equal(stacked, np.stack([want[k] for k in order]))


def test_blocks_of_empty_shapes_and_refusal_of_variable_ones(tmp_path: Path) -> None:
    repo = Repository(str(tmp_path / "r"), exists=False)
    repo.init("t", "t@x")
    with repo.checkout(write=True) as co:
        empty = co.add_ndarray_column("e", shape=(0, 3), dtype=np.float32)
        empty[1] = np.zeros((0, 3), np.float32)
        empty["a"] = np.zeros((0, 3), np.float32)
        (keys, block), = list(empty.blocks())
        assert sorted(map(str, keys)) == ["1", "a"] and block.shape == (2, 0, 3)
        var = co.add_ndarray_column("v", shape=(4,), dtype=np.uint8, variable_shape=True)
        var[0] = np.zeros(2, np.uint8)
        with pytest.raises(SchemaError, match="variable-shape"):
            list(var.blocks())


@pytest.mark.parametrize("shape,keys", [((3,), True), ((3,), False), ((), True)])
def test_csv_export_of_blocks_equals_rows_written_one_by_one(tmp_path: Path, shape: tuple, keys: bool) -> None:
    """Floats (as Python writes them), negative and out-of-order int keys, mixed keys."""
    import csv
    import io
    repo = Repository(str(tmp_path / "r"), exists=False)
    repo.init("t", "t@x")
    rng = np.random.default_rng(9)
    values = {int(k): rng.normal(size=shape) for k in rng.permutation(np.arange(-500, 1500, 7))}
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("f", shape=shape, dtype=np.float64)
        col.update(values)
        if shape:
            col["'1'"] = values["a"] = np.zeros(shape)  # type: ignore[index]
        assert export_column(col, str(tmp_path / "out"), "csv", keys=keys) == len(values)
    want = io.StringIO()
    writer = csv.writer(want, lineterminator="\n")
    writer.writerow((["key"] if keys else []) + ([f"f_{i}" for i in range(shape[0])] if shape else ["f"]))
    ints = sorted(k for k in values if isinstance(k, int))
    for k in ints + [k for k in values if not isinstance(k, int)]:
        text = str(k) if isinstance(k, int) else "''1''"
        writer.writerow(([text] if keys else []) + np.asarray(values[k]).reshape(-1).tolist())
    assert (tmp_path / "out" / "f.csv").read_text() == want.getvalue()
