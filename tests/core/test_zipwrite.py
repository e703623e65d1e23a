"""The stored-zip writer behind .npz export: what it writes is read back by zipfile and
numpy.load, with and without zip64 records (member count past 65,535; offsets past LIMIT,
lowered here)."""
from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from hangar_git.api import zipwrite
from hangar_git.api.zipwrite import StoredZip


def _write(path: Path, rows: np.ndarray, names: list[str]) -> None:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.zeros(rows.shape[1:], rows.dtype))
    head = buf.getvalue()[:len(buf.getvalue()) - np.zeros(rows.shape[1:], rows.dtype).nbytes]
    with open(path, "wb") as fh:
        archive = StoredZip(fh)
        for name, row in zip(names, rows):
            archive.add(name, head, zlib.crc32(head), row.tobytes())
        archive.close()


@pytest.mark.parametrize("count", [0, 1, 65534, 65535, 65536])
def test_member_counts_around_the_zip64_edge(tmp_path: Path, count: int) -> None:
    rows = (np.arange(count * 2, dtype=np.int64) % 251).astype(np.uint8).reshape(count, 2)
    names = [f"{i}.npy" for i in range(count)]
    _write(tmp_path / "a.npz", rows, names)
    with zipfile.ZipFile(tmp_path / "a.npz") as archive:
        assert archive.testzip() is None and len(archive.namelist()) == count
    if count:
        loaded = np.load(tmp_path / "a.npz")
        for i in (0, count // 2, count - 1):
            assert np.array_equal(loaded[str(i)], rows[i])


def test_offsets_past_the_limit_use_zip64_extra_fields(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipwrite, "LIMIT", 500)
    rows = np.random.default_rng(0).integers(0, 255, (40, 7), dtype=np.uint8)
    names = [f"κ{i}.npy" for i in range(40)]  # non-ASCII names: flagged UTF-8
    _write(tmp_path / "b.npz", rows, names)
    with zipfile.ZipFile(tmp_path / "b.npz") as archive:
        assert archive.testzip() is None and archive.namelist() == names
        assert archive.getinfo(names[-1]).header_offset > 500
    loaded = np.load(tmp_path / "b.npz")
    assert all(np.array_equal(loaded[f"κ{i}"], rows[i]) for i in range(40))
