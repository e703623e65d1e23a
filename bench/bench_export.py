"""`export` of a 1,000,000-row column (uint8[16]) to npz, stacked .npy and CSV, each beside numpy
writing the same arrays in the same run (``np.savez`` with one member per row, ``np.save`` of the
stacked array, ``np.savetxt``). Issue 11 measured 59 s for the npz export before this; target:
at least 10x faster than that, i.e. under 5.9 s.

Run alone: ``python -m bench --only export`` (``--quick``: 100,000 rows).
"""
from __future__ import annotations

import os
import tempfile
import time
import zipfile

import numpy as np

from .common import Figure

BEFORE_NPZ_SECONDS_1M = 59.0
"""issue 11: npz export of 1M rows before this change."""


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _savez_rows(path: str, rows: np.ndarray) -> None:
    """What numpy does for a member per row (np.savez with 1M keywords, written the same way)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for i in range(len(rows)):
            with archive.open(f"{i}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, rows[i], allow_pickle=False)


def run(quick: bool = False) -> list[Figure]:
    from hangar_git import Repository
    from hangar_git.api.exporters import export_column
    samples = 100_000 if quick else 1_000_000
    rows = np.random.default_rng(0).integers(0, 255, (samples, 16), dtype=np.uint8)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        repo = Repository(os.path.join(tmp, "repo"), exists=False)
        repo.init("bench", "b@x")
        with repo.checkout(write=True) as co:
            col = co.add_ndarray_column("x", prototype=rows[0])
            with co.columns:
                col.update({i: rows[i] for i in range(samples)})
            co.commit("rows")
        baselines = {
            "npz": ("numpy: a member per row", lambda: _savez_rows(os.path.join(tmp, "np.npz"), rows)),
            "stacked": ("numpy: np.save of the stacked array", lambda: np.save(os.path.join(tmp, "np.npy"), rows)),
            "csv": ("numpy: np.savetxt", lambda: np.savetxt(os.path.join(tmp, "np.csv"), rows, fmt="%d",
                                                           delimiter=",")),
        }
        with repo.checkout() as co:
            for fmt, (label, baseline) in baselines.items():
                ours = _timed(lambda: export_column(co.columns["x"], os.path.join(tmp, fmt), fmt))
                base = _timed(baseline)
                target = (f"<= {BEFORE_NPZ_SECONDS_1M / 10 * samples / 1_000_000:.1f} s (10x faster than the "
                          f"{BEFORE_NPZ_SECONDS_1M:.0f} s of issue 11, scaled)") if fmt == "npz" else ""
                figures.append(Figure(f"export {samples:,} rows as {fmt} (s)", ours, "s", label, base, target,
                                      higher_is_better=False))
    return figures
