"""Baseline workloads on stock Hangar 0.5.2, printed as JSON on stdout.

Runs inside bench/.stock-venv (made by bench/stock_hangar/setup.sh), never
inside the hangar-git venv: it imports the original ``hangar`` package.

    bench/.stock-venv/bin/python bench/stock_hangar/workloads.py [N] [--big-count K]

Workloads, with the shapes the hangar-git benchmarks use:

a. ``write``: N rows of 117 uint8 values, ``col[key] = row`` one sample at a
   time (int keys, inside ``with col:`` as Hangar's docs advise) plus the
   commit.  ``write_unbatched`` does the same without ``with col:`` on at
   most 10,000 rows, the way a user who skips the context manager writes.
b. ``read_random``: N single-sample reads ``co[col, key]`` at random keys
   from a read checkout (inside ``with co:``; ``read_random_unbatched``
   without it, on at most 10,000 reads).
c. ``iterate``: ``for k, v in col.items()`` over the whole column.
d. ``large_write``: K (default 64) arrays of 1024x1024 float32 written to a
   column and committed, in MB/s; ``numpy_save`` writes the same arrays
   with ``numpy.save`` to one file each, the floor any store is measured
   against.

Hangar prints to stdout; all of that goes to stderr so that stdout holds
only the JSON document.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings

import numpy as np

ROW_LEN = 117
BIG_SHAPE = (1024, 1024)
UNBATCHED_MAX = 10_000
MB = 1e6


def rate(count: float, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float('inf')


def result(samples: int, seconds: float, nbytes: int | None = None) -> dict:
    out = {'samples': samples, 'seconds': round(seconds, 4),
           'samples_per_s': rate(samples, seconds)}
    if nbytes is not None:
        out['megabytes'] = round(nbytes / MB, 2)
        out['mb_per_s'] = rate(nbytes / MB, seconds)
    return out


def new_repo(path: str):
    from hangar import Repository
    os.makedirs(path, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        repo = Repository(path, exists=False)
    repo.init(user_name='bench', user_email='bench@example.com', remove_old=True)
    return repo


def write_rows(repo, name: str, rows: np.ndarray, batched: bool) -> dict:
    co = repo.checkout(write=True)
    col = co.add_ndarray_column(name, prototype=rows[0])
    start = time.perf_counter()
    ctx = col if batched else contextlib.nullcontext(col)
    with ctx:
        for key in range(len(rows)):
            col[key] = rows[key]
    loop = time.perf_counter() - start
    co.commit(f'add {len(rows)} rows to {name}')
    total = time.perf_counter() - start
    co.close()
    out = result(len(rows), total, rows.nbytes)
    out['loop_seconds'] = round(loop, 4)
    out['commit_seconds'] = round(total - loop, 4)
    return out


def read_random(repo, name: str, keys: np.ndarray, batched: bool) -> dict:
    co = repo.checkout()
    try:
        ctx = co if batched else contextlib.nullcontext(co)
        start = time.perf_counter()
        with ctx:
            for key in keys.tolist():
                co[name, key]
        return result(len(keys), time.perf_counter() - start)
    finally:
        co.close()


def check_rows(repo, name: str, rows: np.ndarray, keys: np.ndarray) -> None:
    """Untimed: the store gives back what was written (a benchmark of a
    store that returns garbage measures nothing)."""
    co = repo.checkout()
    try:
        for key in keys[:100].tolist():
            if not np.array_equal(co[name, key], rows[key]):
                raise SystemExit(f'stock hangar returned wrong data for {name}[{key}]')
    finally:
        co.close()


def iterate(repo, name: str) -> dict:
    co = repo.checkout()
    try:
        col = co.columns[name]
        start = time.perf_counter()
        count = 0
        for _key, _value in col.items():
            count += 1
        return result(count, time.perf_counter() - start)
    finally:
        co.close()


def large_write(repo, arrays: list[np.ndarray]) -> dict:
    nbytes = sum(a.nbytes for a in arrays)
    co = repo.checkout(write=True)
    col = co.add_ndarray_column('large', prototype=arrays[0])
    start = time.perf_counter()
    with col:
        for key, arr in enumerate(arrays):
            col[key] = arr
    co.commit(f'add {len(arrays)} large arrays')
    seconds = time.perf_counter() - start
    co.close()
    return result(len(arrays), seconds, nbytes)


def numpy_save(directory: str, arrays: list[np.ndarray]) -> dict:
    os.makedirs(directory, exist_ok=True)
    nbytes = sum(a.nbytes for a in arrays)
    start = time.perf_counter()
    for key, arr in enumerate(arrays):
        np.save(os.path.join(directory, f'{key}.npy'), arr)
    return result(len(arrays), time.perf_counter() - start, nbytes)


def run(n: int, big_count: int, workdir: str, seed: int) -> dict:
    import hangar

    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 256, size=(n, ROW_LEN), dtype=np.uint8)
    keys = rng.integers(0, n, size=n)
    small = min(n, UNBATCHED_MAX)

    repo = new_repo(os.path.join(workdir, 'rows'))
    report = {
        'tool': 'hangar', 'version': hangar.__version__,
        'python': platform.python_version(), 'numpy': np.__version__,
        'n': n, 'row_shape': [ROW_LEN], 'row_dtype': 'uint8',
        'write': write_rows(repo, 'rows', rows, batched=True),
        'write_unbatched': write_rows(repo, 'rows_unbatched', rows[:small], batched=False),
        'read_random': read_random(repo, 'rows', keys, batched=True),
        'read_random_unbatched': read_random(repo, 'rows', keys[:small], batched=False),
        'iterate': iterate(repo, 'rows'),
    }
    check_rows(repo, 'rows', rows, keys)
    del rows

    arrays = [rng.random(BIG_SHAPE, dtype=np.float32) for _ in range(big_count)]
    report['large_shape'] = list(BIG_SHAPE)
    report['large_dtype'] = 'float32'
    report['large_write'] = large_write(new_repo(os.path.join(workdir, 'large')), arrays)
    report['numpy_save'] = numpy_save(os.path.join(workdir, 'npy'), arrays)
    return report


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('n', nargs='?', type=int, default=100_000,
                        help='rows for the write/read/iterate workloads (default 100000)')
    parser.add_argument('--big-count', type=int, default=64,
                        help='1024x1024 float32 arrays for the large workload (default 64)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--workdir', help='where repositories go (default: a temp dir, removed after)')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.n < 1 or args.big_count < 1:
        raise SystemExit('N and --big-count must be positive')
    workdir = args.workdir or tempfile.mkdtemp(prefix='stock-hangar-bench-')
    stdout = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):
            report = run(args.n, args.big_count, workdir, args.seed)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    json.dump(report, stdout, indent=2)
    stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
