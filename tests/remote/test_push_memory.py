"""A push's memory follows its frames, not the store: regression for a 1M-row push of
uint8[117] that held 13.8 GB (each frame's small objects were views that kept every cached
chunk they came from alive)."""
from __future__ import annotations

from pathlib import Path

from tests.subprocesses import python_env, run_python

ROWS = 320_000  # 37 MB: more than the store's 32 MB chunk cache, as a big push is


def test_a_push_of_many_small_rows_stays_in_bounded_memory(tmp_path: Path) -> None:
    code = f"""
    import resource, sys
    import numpy as np
    from hangar_git import Repository
    rows = np.random.default_rng(0).integers(0, 255, ({ROWS}, 117), dtype=np.uint8)
    repo = Repository({str(tmp_path / 'a')!r}, exists=False)
    repo.init("t", "t@x")
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=rows[0])
        with co.columns:
            for start in range(0, {ROWS}, 80_000):  # several commits' worth of packs and chunks
                col.update({{i: rows[i] for i in range(start, start + 80_000)}})
        co.commit("rows")
    server = Repository({str(tmp_path / 'server.git')!r}, exists=False)
    server.init("", "", bare=True)
    repo.remote.add("origin", {str(tmp_path / 'server.git')!r})
    repo.remote.quiet = True
    del rows, col
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    repo.remote.push("origin", "master")
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(f"{{grown:.0f}}", file=sys.stderr)
    """
    proc = run_python(code, python_env(), timeout=600)
    grown = float(proc.stderr.strip().splitlines()[-1])
    assert grown < 150, f"a push of {ROWS:,} rows grew the process by {grown:.0f} MB"
