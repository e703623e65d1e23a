"""Store throughput on a local folder and on S3, each beside raw TileDB VFS I/O of the same bytes.

Small rows (uint8[117], written one ``put_new`` each and one flush, read back
with one ``read_many`` from a fresh store object, and with one ``gather`` into one
array, the bulk path of datasets and multi-key reads) and 4 MiB float32 arrays
(the same), against writing and reading the same bytes with ``tiledb.VFS``
directly: the rows as one file, each array as its own file. The S3 server is
``rclone serve s3`` on 127.0.0.1 over a temp folder, started as the tests
start it (tests/s3.py). Each store is measured in a fresh process: TileDB
reads its S3 settings when a context is made.

Run alone: ``python -m bench --only store``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .common import Figure

ROW = 117
ARRAY_MIB = 4
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _secs(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(uri: str, n_rows: int, n_arrays: int) -> dict[str, float]:
    """MB/s of store and raw VFS writes and reads under ``uri`` (run in a fresh process)."""
    import tiledb

    from hangar_git.storage import Digest, digests_to_raw, ndarray_meta, open_store

    rng = np.random.default_rng(0)
    rows = rng.integers(0, 256, size=(n_rows, ROW), dtype=np.uint8)
    arrays = [rng.random(ARRAY_MIB << 18, dtype=np.float32) for _ in range(n_arrays)]
    vfs = tiledb.VFS(ctx=tiledb.Ctx())
    out: dict[str, float] = {}
    for kind, items in (("rows", list(rows)), ("arrays", arrays)):
        nbytes = sum(a.nbytes for a in items) / 1e6
        meta = ndarray_meta(items[0].dtype, items[0].shape)
        store = open_store(f"{uri}/store-{kind}", create=True)
        digests: list[Digest] = []

        def write() -> None:
            digests.extend(store.put_new(meta, a.data) for a in items)
            store.flush()

        def read() -> None:
            fresh = open_store(f"{uri}/store-{kind}")
            assert sum(b.nbytes for _, _, b in fresh.read_many(digests)) == nbytes * 1e6
            fresh.close()
        def gather() -> None:  # the bulk read of same-sized rows (datasets, multi-key reads)
            fresh = open_store(f"{uri}/store-{kind}")
            got, found = fresh.gather(digests_to_raw(digests), ROW)
            assert found.all() and got.nbytes == nbytes * 1e6
            fresh.close()
        out[f"{kind} store write"] = nbytes / _secs(write)
        out[f"{kind} store read"] = nbytes / _secs(read)
        if kind == "rows":
            out["rows store gather"] = nbytes / _secs(gather)
        store.close()
        blobs = [rows.tobytes()] if kind == "rows" else [a.tobytes() for a in items]
        raw = f"{uri}/raw-{kind}"
        if "://" not in uri:
            os.makedirs(raw, exist_ok=True)

        def raw_write() -> None:
            for i, blob in enumerate(blobs):
                with vfs.open(f"{raw}/{i}", "wb") as fh:
                    fh.write(blob)

        def raw_read() -> None:
            got = 0
            for i, blob in enumerate(blobs):
                with vfs.open(f"{raw}/{i}", "rb") as fh:
                    got += len(fh.read(len(blob)))
            assert got == nbytes * 1e6
        out[f"{kind} raw write"] = nbytes / _secs(raw_write)
        out[f"{kind} raw read"] = nbytes / _secs(raw_read)
    return out


def _in_child(uri: str, n_rows: int, n_arrays: int, env: dict[str, str]) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-m", "bench.bench_store", uri, str(n_rows), str(n_arrays)],
                          cwd=HERE, env={**os.environ, **env}, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"store bench at {uri} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _figures(where: str, n_rows: int, n_arrays: int, got: dict[str, float], target: str) -> list[Figure]:
    label = {"rows": f"{n_rows:,} x uint8[{ROW}]", "arrays": f"{n_arrays} x {ARRAY_MIB} MiB float32"}
    figures = [Figure(f"store {op} {label[kind]} ({where})", got[f"{kind} store {op}"], "MB/s",
                      f"raw VFS {op}, same bytes", got[f"{kind} raw {op}"], target)
               for kind in ("rows", "arrays") for op in ("write", "read")]
    figures.insert(2, Figure(f"store gather {label['rows']} into one array ({where})", got["rows store gather"],
                             "MB/s", "raw VFS read, same bytes", got["rows raw read"], target))
    return figures


def run(quick: bool = False) -> list[Figure]:
    from tests.s3 import start_s3_server

    n_rows, n_arrays = (2_000, 4) if quick else (20_000, 16)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        local = _in_child(os.path.join(tmp, "local"), n_rows, n_arrays, {})
        with start_s3_server(Path(tmp) / "s3") as server:
            s3 = _in_child(server.new_uri("bench"), n_rows, n_arrays, server.env())
    return (_figures("local", n_rows, n_arrays, local, "as today's or better")
            + _figures("S3, rclone on 127.0.0.1", n_rows, n_arrays, s3, ">= 0.7x raw VFS"))


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
