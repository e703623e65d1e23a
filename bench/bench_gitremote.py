"""Remotes on a plain git host plus an object store, beside a hangar server and raw S3 I/O.

The git host is a bare repository made with plain ``git init --bare`` (a
local path: git's own local transport); the data goes to ``rclone serve s3``
on 127.0.0.1 (as the tests start it, tests/s3.py). Figures, each with
baselines measured in the same run:

* push and fetch-data of N rows of 117 uint8 (N = 100,000) and of 64 x
  float32[1024,1024] (256 MiB) through the git host plus S3, against (a) the
  same through ``git hangar server`` (our SSH server on loopback, its store
  on local disk: bench_remote's set-up) and (b) raw TileDB VFS writes and
  reads of the same bytes to the same S3 server (the rows as one file, each
  array as its own file);
* ``repo.clone`` (records only) of a 1,000,000-sample history through plain
  git, against ``git clone --mirror --no-local`` of the same objects.

Everything runs in a child process that has the S3 server's settings in its
environment (TileDB reads them when a context is made). A full run takes the
best of two rounds; ``--quick`` (20,000 rows, 32 MiB, 100,000 records) one.

    python -m bench --only gitremote [--quick]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .common import Figure

ROW = 117
MB = 1e6
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _secs(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _bare(path: str) -> str:
    subprocess.run(["git", "init", "-q", "--bare", path], check=True)
    return path


def _git_round_trip(local: Any, tmp: str, name: str, data_url: str) -> tuple[float, float]:
    """Push ``local``'s master to a new git host + data URL, clone it, fetch its data: seconds of each."""
    from hangar_git import Repository
    host = _bare(os.path.join(tmp, f"{name}.git"))
    local.remote.add(name, host, data_url=data_url)
    os.sync()
    push_s = _secs(lambda: local.remote.push(name, "master"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clone = Repository(os.path.join(tmp, f"{name}-clone"), exists=False)
    clone.clone("bench", "bench@localhost", host)
    clone.remote.quiet = True
    os.sync()
    fetch_s = _secs(lambda: clone.remote.fetch_data("origin", branch="master"))
    return push_s, fetch_s


def _raw_vfs(uri: str, blobs: list[bytes]) -> tuple[float, float]:
    """Seconds to write, then read back, ``blobs`` as files under ``uri`` with tiledb.VFS."""
    import tiledb
    vfs = tiledb.VFS(ctx=tiledb.Ctx())

    def write() -> None:
        for i, blob in enumerate(blobs):
            with vfs.open(f"{uri}/{i}", "wb") as fh:
                fh.write(blob)

    def read() -> None:
        for i, blob in enumerate(blobs):
            with vfs.open(f"{uri}/{i}", "rb") as fh:
                assert len(fh.read(len(blob))) == len(blob)
    return _secs(write), _secs(read)


def measure_transfers(tmp: str, s3: str, n: int, count: int, rounds: int) -> dict[str, float]:
    """Seconds of every transfer (best of ``rounds``), keyed ``<workload> <way> <path>``."""
    from .bench_remote import _make_repo, _round_trip, loopback
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 256, size=(n, ROW), dtype=np.uint8)
    arrays = [rng.random((1024, 1024), dtype=np.float32) for _ in range(count)]
    out: dict[str, float] = {}

    def keep(key: str, secs: float) -> None:
        out[key] = min(out.get(key, secs), secs)

    with loopback() as srv:
        for kind, column, samples in (("rows", "rows", rows), ("arrays", "big", arrays)):
            local = _make_repo(os.path.join(tmp, f"local-{kind}"), column, samples)
            blobs = [rows.tobytes()] if kind == "rows" else [a.tobytes() for a in arrays]
            for r in range(rounds):  # the three ways interleaved: load changes hit all of them
                push_s, fetch_s = _git_round_trip(local, tmp, f"{kind}{r}", f"{s3}/{kind}{r}")
                keep(f"{kind} push git+s3", push_s)
                keep(f"{kind} fetch git+s3", fetch_s)
                push_s, fetch_s = _round_trip(srv, local, f"srv-{kind}{r}")[:2]
                keep(f"{kind} push server", push_s)
                keep(f"{kind} fetch server", fetch_s)
                write_s, read_s = _raw_vfs(f"{s3}/raw-{kind}{r}", blobs)
                keep(f"{kind} push raw", write_s)
                keep(f"{kind} fetch raw", read_s)
    out["rows bytes"], out["arrays bytes"] = float(rows.nbytes), float(sum(a.nbytes for a in arrays))
    return out


def measure_clone(tmp: str, s3: str, million: int) -> dict[str, float]:
    """Seconds of ``repo.clone`` of ``million`` records from a plain git host, and of git's own mirror clone."""
    from hangar_git import Repository
    from hangar_git.bookkeeping.remoteconfig import CONFIG_REF, DataLocation, write_location
    from .bench_remote import build_records
    built = os.path.join(tmp, "million-built.git")
    build_records(built, million)
    source = Repository(built)
    config = write_location(source.ctx.git, DataLocation(f"{s3}/million"))
    host = _bare(os.path.join(tmp, "million.git"))
    subprocess.run(["git", "--git-dir", built, "push", "-q", host, "refs/hangar/heads/master:refs/hangar/heads/master",
                    f"{config}:{CONFIG_REF}"], check=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clone = Repository(os.path.join(tmp, "million-clone"), exists=False)
    clone_s = _secs(lambda: clone.clone("bench", "bench@localhost", host))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no data was fetched: the checkout warns about it
        with clone.checkout() as co:
            assert len(co["rows"]) == million
    mirror_s = _secs(lambda: subprocess.run(["git", "clone", "-q", "--mirror", "--no-local", f"file://{host}",
                                             os.path.join(tmp, "million-mirror")], check=True))
    return {"clone git": clone_s, "clone mirror": mirror_s}


def child(s3: str, n: int, count: int, million: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-gitremote-") as tmp:
        out = measure_transfers(tmp, s3, n, count, rounds)
        out.update(measure_clone(tmp, s3, million))
    return out


def _figures(got: dict[str, float], n: int, count: int, million: int) -> list[Figure]:
    labels = {"rows": f"{n:,} x uint8[{ROW}]", "arrays": f"{count} x float32[1024,1024] ({count * 4} MiB)"}
    figs = []
    for kind in ("rows", "arrays"):
        nbytes = got[f"{kind} bytes"]
        for way, op in (("push", "push"), ("fetch", "fetch-data")):
            ours = nbytes / got[f"{kind} {way} git+s3"] / MB
            name = f"{op} {labels[kind]}, git host + S3"
            figs.append(Figure(name, ours, "MB/s", "git hangar server (local disk)",
                               nbytes / got[f"{kind} {way} server"] / MB, "same-run reference"))
            figs.append(Figure(name, ours, "MB/s", f"raw TileDB VFS {'write' if way == 'push' else 'read'} to S3",
                               nbytes / got[f"{kind} {way} raw"] / MB, "same-run reference"))
    size = "1M" if million == 1_000_000 else f"{million // 1000:,}k"
    figs.append(Figure(f"clone (records only) of {size} samples via plain git (s)", got["clone git"], "s",
                       "git clone --mirror --no-local (s)", got["clone mirror"], "< 10 s", higher_is_better=False))
    return figs


def run(quick: bool = False) -> list[Figure]:
    from tests.s3 import start_s3_server
    n, count, million, rounds = (20_000, 8, 100_000, 1) if quick else (100_000, 64, 1_000_000, 2)
    with tempfile.TemporaryDirectory(prefix="bench-gitremote-s3-") as tmp:
        with start_s3_server(Path(tmp) / "s3") as server:
            proc = subprocess.run([sys.executable, "-m", "bench.bench_gitremote", server.new_uri("bench"), str(n),
                                   str(count), str(million), str(rounds)], cwd=HERE,
                                  env={**os.environ, **server.env()}, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"bench_gitremote failed:\n{proc.stderr[-3000:]}")
    return _figures(json.loads(proc.stdout.strip().splitlines()[-1]), n, count, million)


if __name__ == "__main__":
    uri, *numbers = sys.argv[1:]
    print(json.dumps(child(uri, *map(int, numbers))))
