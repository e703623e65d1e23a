"""Stock Hangar 0.5.2's remotes on loopback, printed as JSON on stdout.

Runs inside bench/.stock-venv (made by bench/stock_hangar/setup.sh):

    bench/.stock-venv/bin/python bench/stock_hangar/remote.py [N] [--port P]

Starts ``hangar server`` (its gRPC server, unencrypted, no authentication)
on 127.0.0.1 in a subprocess, then times, from a client repository of N
rows of 117 uint8 values in one column:

* ``push``: ``repo.remote.push('origin', 'master')`` into the empty server;
* ``clone``: ``Repository.clone`` of that server (records only);
* ``fetch_data``: ``remote.fetch_data('origin', branch='master')`` into the clone.

Stock Hangar's push stalls past about 2,000 samples in one column (its
gRPC stream never finishes), so the default N is 2,000; the caller should
run this under a timeout. Hangar prints to stdout; all of that goes to
stderr so that stdout holds only the JSON document.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

ROW_LEN = 117


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start_server(directory: str, port: int) -> subprocess.Popen:
    hangar = os.path.join(os.path.dirname(sys.executable), 'hangar')
    proc = subprocess.Popen([hangar, 'server', '--ip', '127.0.0.1', '--port', str(port)],
                            cwd=directory, stdout=sys.stderr, stderr=sys.stderr)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f'hangar server exited with {proc.returncode}')
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit('hangar server did not start')


def new_repo(path: str):
    from hangar import Repository
    os.makedirs(path, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        return Repository(path, exists=False)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rate(n: int, seconds: float) -> dict:
    return {'samples': n, 'seconds': round(seconds, 4), 'samples_per_s': round(n / seconds, 1)}


def run(n: int, workdir: str, port: int) -> dict:
    import hangar
    rows = np.random.default_rng(0).integers(0, 256, size=(n, ROW_LEN), dtype=np.uint8)
    repo = new_repo(os.path.join(workdir, 'client'))
    repo.init(user_name='bench', user_email='bench@example.com', remove_old=True)
    co = repo.checkout(write=True)
    col = co.add_ndarray_column('rows', prototype=rows[0])
    with col:
        for i in range(n):
            col[i] = rows[i]
    co.commit(f'{n} rows')
    co.close()

    server_dir = os.path.join(workdir, 'server')
    os.makedirs(server_dir)
    proc = start_server(server_dir, port)
    try:
        address = f'127.0.0.1:{port}'
        repo.remote.add('origin', address)
        push_s = timed(lambda: repo.remote.push('origin', 'master'))
        clone = new_repo(os.path.join(workdir, 'clone'))
        clone_s = timed(lambda: clone.clone('bench', 'bench@example.com', address, remove_old=True))
        fetch_s = timed(lambda: clone.remote.fetch_data('origin', branch='master'))
        co = clone.checkout()
        try:
            if not np.array_equal(co['rows', n - 1], rows[n - 1]):
                raise SystemExit('stock hangar fetched wrong data')
        finally:
            co.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {'tool': 'hangar', 'version': hangar.__version__, 'n': n, 'row_shape': [ROW_LEN],
            'push': rate(n, push_s), 'clone_seconds': round(clone_s, 4), 'fetch_data': rate(n, fetch_s)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('n', nargs='?', type=int, default=2_000)
    parser.add_argument('--port', type=int, default=0, help='server port (default: a free one)')
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix='stock-hangar-remote-')
    stdout = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):
            report = run(args.n, workdir, args.port or free_port())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    json.dump(report, stdout)
    stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
