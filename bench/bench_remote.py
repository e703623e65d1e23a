"""Remotes over SSH on loopback: push, fetch-data, clone, and no-op round trips.

The server is our own ``HangarSSHServer`` (paramiko, the code behind ``git
hangar server``) in a subprocess, so client and server do not share a GIL.
The client uses the real ``ssh://`` path: ``~/.ssh/config`` and
``known_hosts`` in a throwaway HOME (the machine's own are not touched),
key authentication, host key checked. Every operation opens its own
connection, as the API does, and its time includes that.

Figures, each with a baseline measured in the same run:

* push and fetch-data of N rows of 117 uint8 (N = 100,000): baseline stock
  Hangar 0.5.2's push/fetch-data over its gRPC server on 2,000 rows (its
  push fails or stalls past about 2,000 samples per column), and the framed
  ``discard`` stream of the same bytes in our protocol;
* push and fetch-data of 64 x 1024x1024 float32 (256 MiB): baseline a raw
  paramiko exec channel piping the same number of bytes (upload into a sink,
  download from a source; connection set-up excluded), interleaved with ours,
  read and written both through our channel streams and through paramiko's
  own ``Channel.sendall``/``recv`` (the faster of all runs is the baseline);
  the same raw channel with the receiver hashing each 4 MiB it reads as a
  digest check does (the bound transfer plus verification alone set on this
  machine); and, as a reference, the same raw channel with the receiver
  writing what it reads into new 4 MiB files through the page cache (no fsync);
* clone (records only) of a repository of 1,000,000 samples: baseline
  ``git clone --mirror --no-local`` of the same git objects from a local path;
* push and fetch with nothing to send: baseline a ``list_refs`` round trip
  (connect, authenticate, hello, list refs; git's ``ls-remote``).

A full run takes the best of two rounds of each (stock Hangar's too); the
quick run (20,000 rows, 32 MiB, 100,000 records) one round, in ~10 s.

    python -m bench --only remote [--quick]
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np
import paramiko

from hangar_git import Repository
from hangar_git.bookkeeping.gitrepo import branch_ref
from hangar_git.bookkeeping.records import ColumnSchema
from hangar_git.bookkeeping.writer import write_column, write_root
from hangar_git.storage import digest_of
from hangar_git.transport import connect, ssh

from .common import HERE, STOCK_PY, Figure

ROW = 117
STOCK_ROWS = 2_000
MB = 1e6

SERVER = r"""
import os, sys
from hangar_git.transport.rpc import ServiceHandler
from hangar_git.transport.service import RepositoryService
from hangar_git.transport.sshserver import HangarSSHServer

class RawSink(ServiceHandler):
    '''Reads the channel to EOF: the upload baseline.'''
    def run(self, reader, writer):
        buf = bytearray(1 << 20)
        while reader.readinto(buf):
            pass

class RawSource(ServiceHandler):
    '''Once the client says go (one byte), writes N zero bytes and ends: the download baseline.'''
    def __init__(self, n):
        self.n = n
    def run(self, reader, writer):
        reader.read(1)
        block, left = memoryview(bytes(1 << 20)), self.n
        while left > 0:
            writer.write(block[:min(left, len(block))])
            left -= len(block)
        writer.flush()

def fill(reader, buf):
    '''Read into all of buf unless the channel ends first; returns how many bytes came.'''
    got = reader.readinto(buf)
    while got and got < len(buf):
        more = reader.readinto(memoryview(buf)[got:])
        if not more:
            break
        got += more
    return got

class RawFileSink(ServiceHandler):
    '''Reads the channel to EOF into new 4 MiB files (no fsync): the page-cache write reference.'''
    def __init__(self, folder):
        self.folder = folder
    def run(self, reader, writer):
        os.makedirs(self.folder, exist_ok=True)
        buf, n = bytearray(4 << 20), 0
        while got := fill(reader, buf):
            with open(os.path.join(self.folder, f"{os.getpid()}-{id(self)}-{n}"), "wb") as fh:
                fh.write(memoryview(buf)[:got])
            n += 1

class RawHashSink(ServiceHandler):
    '''Reads the channel to EOF in 4 MiB pieces, each hashed (as a digest is checked) on a
    thread while the next is read: the bound that transfer plus verification alone set.
    With a folder, each piece is also written to a new file there, after it is hashed
    (no fsync): the bound that transfer, verification and keeping the bytes set.'''
    def __init__(self, folder=None):
        self.folder = folder
    def keep(self, piece, n):
        from hangar_git.storage import digest_of
        digest_of("bytes", piece)
        if self.folder:
            with open(os.path.join(self.folder, f"{os.getpid()}-{id(self)}-{n}"), "wb") as fh:
                fh.write(piece)
    def run(self, reader, writer):
        from concurrent.futures import ThreadPoolExecutor
        if self.folder:
            os.makedirs(self.folder, exist_ok=True)
        bufs, k, hashing = [bytearray(4 << 20), bytearray(4 << 20)], 0, None
        with ThreadPoolExecutor(1) as pool:
            while True:
                got = fill(reader, bufs[k % 2])
                if hashing is not None:
                    hashing.result()
                if not got:
                    return
                hashing = pool.submit(self.keep, memoryview(bufs[k % 2])[:got], k)
                k += 1

def factory(path):
    name = os.path.basename(path)
    if name == "raw-sink":
        return RawSink()
    if name == "raw-hash-sink":
        return RawHashSink()
    if name == "raw-hash-file-sink":
        return RawHashSink(path + "-files")
    if name == "raw-file-sink":
        return RawFileSink(os.path.join(root, "raw-files"))
    if name.startswith("raw-source-"):
        return RawSource(int(name[len("raw-source-"):]))
    return RepositoryService(path)

root, keys, host_key = sys.argv[1:4]
srv = HangarSSHServer("127.0.0.1", 0, root, keys, host_key, handler_factory=factory)
print(srv.port, flush=True)
srv.serve_forever()
"""


# -- the loopback server and a throwaway ~/.ssh --------------------------------------
class Loopback:
    """Our SSH server in a subprocess, and a client HOME that trusts its host key."""

    def __init__(self, tmp: str) -> None:
        self.tmp = tmp
        self.root = os.path.join(tmp, "server")
        home = os.path.join(tmp, "home")
        ssh_dir = os.path.join(home, ".ssh")
        os.makedirs(ssh_dir, mode=0o700)
        os.makedirs(self.root)
        client, host = paramiko.ECDSAKey.generate(), paramiko.ECDSAKey.generate()
        client.write_private_key_file(os.path.join(ssh_dir, "id_ecdsa"))
        host_key = os.path.join(tmp, "host_key")
        host.write_private_key_file(host_key)
        keys = os.path.join(tmp, "authorized_keys")
        with open(keys, "w") as fh:
            fh.write(f"{client.get_name()} {client.get_base64()}\n")
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, self.root, keys, host_key],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        with open(os.path.join(ssh_dir, "known_hosts"), "w") as fh:
            fh.write(f"[127.0.0.1]:{self.port} {host.get_name()} {host.get_base64()}\n")
        with open(os.path.join(ssh_dir, "config"), "w") as fh:
            fh.write(f"Host 127.0.0.1\n    IdentityFile {ssh_dir}/id_ecdsa\n"
                     "    IdentitiesOnly yes\n    IdentityAgent none\n")
        self.home = home

    def address(self, name: str) -> str:
        return f"ssh://bench@127.0.0.1:{self.port}/{name}"

    def new_remote(self, name: str) -> str:
        """An empty bare hangar repository on the server; returns its address."""
        _repo(os.path.join(self.root, name), bare=True)
        return self.address(name)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def loopback() -> Iterator[Loopback]:
    tmp = tempfile.mkdtemp(prefix="hangar-bench-remote-")
    saved = {k: os.environ.get(k) for k in ("HOME", "SSH_AUTH_SOCK")}
    server = None
    try:
        server = Loopback(tmp)
        os.environ["HOME"] = server.home
        os.environ.pop("SSH_AUTH_SOCK", None)
        yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if server is not None:
            server.close()
        shutil.rmtree(tmp, ignore_errors=True)


# -- helpers -------------------------------------------------------------------------------
def _repo(path: str, bare: bool = False) -> Repository:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        repo = Repository(path, exists=False)
    repo.init("bench", "bench@localhost", remove_old=True, bare=bare)
    repo.remote.quiet = True
    return repo


def _timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        fn()
    return time.perf_counter() - t


def _clone(srv: Loopback, path: str, address: str) -> Repository:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        repo = Repository(path, exists=False)
    repo.clone("bench", "bench@localhost", address)
    repo.remote.quiet = True
    return repo


def raw_upload(srv: Loopback, nbytes: int) -> float:
    """Bytes/s of a raw exec channel into a sink (no framing, no store)."""
    return connect.measure_raw_channel_throughput(srv.address("raw-sink"), nbytes,
                                                  command="git-hangar serve /raw-sink")


def raw_upload_to_files(srv: Loopback, nbytes: int) -> float:
    """Bytes/s of a raw exec channel whose server writes what it reads into new 4 MiB files."""
    return connect.measure_raw_channel_throughput(srv.address("raw-file-sink"), nbytes,
                                                  command="git-hangar serve /raw-file-sink")


def raw_upload_hashed(srv: Loopback, nbytes: int) -> float:
    """Bytes/s of a raw exec channel whose server hashes each 4 MiB it reads, as a digest check does."""
    return connect.measure_raw_channel_throughput(srv.address("raw-hash-sink"), nbytes,
                                                  command="git-hangar serve /raw-hash-sink")


def raw_upload_hashed_to_files(srv: Loopback, nbytes: int) -> float:
    """Bytes/s of a raw exec channel whose server hashes each 4 MiB it reads and writes it to a new file."""
    return connect.measure_raw_channel_throughput(srv.address("raw-hash-file-sink"), nbytes,
                                                  command="git-hangar serve /raw-hash-file-sink")


def raw_download(srv: Loopback, nbytes: int, folder: str | None = None, hashed: bool = False) -> float:
    """Bytes/s of a raw exec channel from a source of ``nbytes`` zero bytes (connection
    excluded); with ``folder``, each 4 MiB read is written to a new file there (no fsync);
    ``hashed``, each is hashed as a digest check does."""
    pipe = connect.ssh_vendor.run_command("127.0.0.1", srv.port, "bench",
                                          f"git-hangar serve /raw-source-{nbytes}")
    if folder:
        os.makedirs(folder, exist_ok=True)
    try:
        pipe.writer.write(b"g")
        pipe.writer.flush()
        start, got, bufs, k = time.perf_counter(), 0, [bytearray(4 << 20), bytearray(4 << 20)], 0
        with ThreadPoolExecutor(1) as pool:  # hashing one piece while the next is read
            hashing: Any = None
            while n := pipe.reader.readinto(buf := bufs[k % 2]):
                got, k = got + n, k + 1
                if hashed:
                    if hashing is not None:
                        hashing.result()
                    hashing = pool.submit(_keep, memoryview(buf)[:n], folder, str(got))
                elif folder:
                    _keep(memoryview(buf)[:n], folder, str(got), hashed=False)
            if hashing is not None:
                hashing.result()
        assert got == nbytes, (got, nbytes)
        return nbytes / (time.perf_counter() - start)
    finally:
        pipe.close()


def _keep(piece: memoryview, folder: str | None, name: str, hashed: bool = True) -> None:
    """Hash a received piece as a digest check does and, with a folder, write it to a new file."""
    if hashed:
        digest_of("bytes", piece)
    if folder:
        with open(os.path.join(folder, name), "wb") as fh:
            fh.write(piece)


@contextlib.contextmanager
def _paramiko_channel(srv: Loopback, command: str) -> Iterator[paramiko.Channel]:
    """A channel opened with paramiko's own client API (its own receive buffer, not our
    ChunkPipe and streams), with the transport settings our client uses."""
    client = paramiko.SSHClient()
    client.load_host_keys(os.path.join(srv.home, ".ssh", "known_hosts"))
    client.connect("127.0.0.1", srv.port, "bench", key_filename=os.path.join(srv.home, ".ssh", "id_ecdsa"),
                   look_for_keys=False, allow_agent=False, transport_factory=ssh.fast_transport)
    try:
        transport = client.get_transport()
        assert transport is not None
        chan = transport.open_session(window_size=ssh.WINDOW_SIZE, max_packet_size=ssh.MAX_PACKET_SIZE)
        chan.exec_command(command)
        yield chan
    finally:
        client.close()


def paramiko_upload(srv: Loopback, nbytes: int, chunk: int = 1 << 20) -> float:
    """Bytes/s of ``Channel.sendall`` into the raw sink (connection excluded)."""
    block = memoryview(bytes(chunk))
    with _paramiko_channel(srv, "git-hangar serve /raw-sink") as chan:
        start = time.perf_counter()
        for done in range(0, nbytes, chunk):
            chan.sendall(block[:min(chunk, nbytes - done)])
        chan.shutdown_write()
        chan.recv_exit_status()  # the sink has read everything
        return nbytes / (time.perf_counter() - start)


def paramiko_download(srv: Loopback, nbytes: int) -> float:
    """Bytes/s of ``Channel.recv`` from the raw source (connection excluded)."""
    with _paramiko_channel(srv, f"git-hangar serve /raw-source-{nbytes}") as chan:
        chan.sendall(b"g")
        start, got = time.perf_counter(), 0
        while data := chan.recv(1 << 20):
            got += len(data)
        assert got == nbytes, (got, nbytes)
        return nbytes / (time.perf_counter() - start)


def framed_discard(address: str, nbytes: int, frame: int = 8 << 20) -> float:
    """Bytes/s of our framed protocol streaming ``nbytes`` to ``discard`` (connection included)."""
    block = memoryview(bytes(frame))
    start = time.perf_counter()
    with connect.open_session(address) as s:
        s.send("discard", {"stream": True})
        for done in range(0, nbytes, frame):
            s.send("data", {}, block[:min(frame, nbytes - done)])
        s.send("end", {})
        assert s.recv().header["bytes"] == nbytes
    return nbytes / (time.perf_counter() - start)


def ls_remote(address: str) -> None:
    """Connect, authenticate, say hello, list the refs, hang up: git ls-remote's work."""
    with connect.open_session(address) as s:
        s.call("list_refs")


# -- stock Hangar 0.5.2 over its gRPC server -------------------------------------------------
def stock_remote(n: int = STOCK_ROWS) -> dict:
    if os.environ.get("HANGAR_BENCH_NO_STOCK") or not os.path.exists(STOCK_PY):
        return {}
    script = os.path.join(HERE, "stock_hangar", "remote.py")
    try:
        proc = subprocess.run([STOCK_PY, script, str(n)], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        print("stock hangar remote run timed out", file=sys.stderr)
        return {}
    if proc.returncode != 0:
        print(f"stock hangar remote run failed: {proc.stderr[-500:]}", file=sys.stderr)
        return {}
    return json.loads(proc.stdout)


# -- workloads -----------------------------------------------------------------------------
def _make_repo(path: str, column: str, samples: list[np.ndarray] | np.ndarray) -> Repository:
    repo = _repo(path)
    co = repo.checkout(write=True)
    with co.add_ndarray_column(column, prototype=samples[0]) as col:
        for i in range(len(samples)):
            col[i] = samples[i]
    co.commit(f"{len(samples)} samples")
    co.close()
    return repo


class RoundTrip(NamedTuple):
    """One push, clone and fetch-data: wall seconds, (client, server) CPU seconds, the clone."""

    push_s: float
    fetch_s: float
    clone: Repository
    push_cpu: tuple[float, float]
    fetch_cpu: tuple[float, float]


def _cpu(srv: Loopback) -> tuple[float, float]:
    """CPU seconds used so far by this (client) process and by the server process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(f"/proc/{srv.proc.pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return usage.ru_utime + usage.ru_stime, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed_cpu(srv: Loopback, fn: Callable[[], Any]) -> tuple[float, tuple[float, float]]:
    """(wall s, (client, server) CPU s) of ``fn``."""
    before = _cpu(srv)
    secs = _timed(fn)
    after = _cpu(srv)
    return secs, (after[0] - before[0], after[1] - before[1])


def _round_trip(srv: Loopback, local: Repository, name: str,
                between: Callable[[], None] = lambda: None) -> RoundTrip:
    """Push ``local``'s master to a new server repo, clone it, fetch its data."""
    local.remote.add(name, srv.new_remote(f"{name}.git"))
    os.sync()  # start from a clean page cache: earlier runs' write-back must not land on this one
    push_s, push_cpu = _timed_cpu(srv, lambda: local.remote.push(name, "master"))
    clone = _clone(srv, os.path.join(srv.tmp, f"{name}-clone"), srv.address(f"{name}.git"))
    between()
    os.sync()
    fetch_s, fetch_cpu = _timed_cpu(srv, lambda: clone.remote.fetch_data("origin", branch="master"))
    return RoundTrip(push_s, fetch_s, clone, push_cpu, fetch_cpu)


def _cpu_note(cpu: tuple[float, float], discard: tuple[float, float]) -> str:
    return (f"CPU client {cpu[0]:.2f} s, server {cpu[1]:.2f} s (discard: {discard[0]:.2f}, {discard[1]:.2f}); "
            f"load {os.getloadavg()[0]:.1f}")


def bench_rows(srv: Loopback, n: int, rounds: int, stock: dict) -> list[Figure]:
    rows = np.random.default_rng(0).integers(0, 256, size=(n, ROW), dtype=np.uint8)
    local = _make_repo(os.path.join(srv.tmp, "rows"), "rows", rows)
    runs = [_round_trip(srv, local, f"rows{r}") for r in range(rounds)]
    fastest_push, fastest_fetch = min(runs, key=lambda r: r.push_s), min(runs, key=lambda r: r.fetch_s)
    push_s, fetch_s = fastest_push.push_s, fastest_fetch.fetch_s
    clone = runs[-1][2]
    with clone.checkout() as rco:
        for k in (0, n // 2, n - 1):
            assert (rco["rows", k] == rows[k]).all()
    discards = [_timed_cpu(srv, lambda: framed_discard(srv.address("rows0.git"), rows.nbytes))
                for _ in range(rounds)]
    discard_s, discard_cpu = min(discards, key=lambda d: d[0])
    discard = n / discard_s  # its wall time includes the connection, as ours do
    label = f"{n:,} x uint8[{ROW}]"
    figs = []
    for op, secs, key, cpu in (("push", push_s, "push", fastest_push.push_cpu),
                               ("fetch-data", fetch_s, "fetch_data", fastest_fetch.fetch_cpu)):
        if stock.get(key):
            figs.append(Figure(f"{op} {label} over ssh", n / secs, "/s",
                               f"stock hangar gRPC, {stock['n']:,} rows", stock[key]["samples_per_s"],
                               ">= 500,000/s", note="stock push fails past ~2,000 samples/column"))
        figs.append(Figure(f"{op} {label} vs framed discard", n / secs, "/s",
                           "discard same bytes (rows/s)", discard, ">= 500,000/s", note=_cpu_note(cpu, discard_cpu)))
    def best(fn: Callable[[], Any]) -> float:  # connection set-up alone varies 5-100 ms here
        return min(_timed(fn) for _ in range(5))
    round_trip = best(lambda: ls_remote(srv.address("rows0.git")))
    no_push = best(lambda: local.remote.push("rows0", "master"))
    no_fetch = best(lambda: clone.remote.fetch("origin", "master"))
    figs += [
        Figure("push with nothing to send (s)", no_push, "s", "list_refs round trip", round_trip, "< 1 s",
               higher_is_better=False),
        Figure("fetch with nothing to send (s)", no_fetch, "s", "list_refs round trip", round_trip, "< 1 s",
               higher_is_better=False),
    ]
    return figs


def bench_large(srv: Loopback, count: int, rounds: int) -> list[Figure]:
    rng = np.random.default_rng(2)
    arrays = [rng.random((1024, 1024), dtype=np.float32) for _ in range(count)]
    nbytes = sum(a.nbytes for a in arrays)
    local = _make_repo(os.path.join(srv.tmp, "large"), "big", arrays)
    up: list[float] = []
    down: list[float] = []
    up_files: list[float] = []
    down_files: list[float] = []
    runs = []

    plain_up: list[float] = []
    plain_down: list[float] = []
    up_hashed: list[float] = []
    down_hashed: list[float] = []
    up_kept: list[float] = []
    down_kept: list[float] = []

    def downloads(r: int) -> None:
        down.append(raw_download(srv, nbytes))
        plain_down.append(paramiko_download(srv, nbytes))
        down_hashed.append(raw_download(srv, nbytes, hashed=True))
        os.sync()
        down_files.append(raw_download(srv, nbytes, os.path.join(srv.tmp, f"raw-down-{r}")))
        os.sync()
        down_kept.append(raw_download(srv, nbytes, os.path.join(srv.tmp, f"raw-kept-{r}"), hashed=True))

    for r in range(rounds):  # raw channel runs interleaved with ours: load changes hit both
        up.append(raw_upload(srv, nbytes))
        plain_up.append(paramiko_upload(srv, nbytes))
        up_hashed.append(raw_upload_hashed(srv, nbytes))
        os.sync()
        up_files.append(raw_upload_to_files(srv, nbytes))
        os.sync()
        up_kept.append(raw_upload_hashed_to_files(srv, nbytes))
        runs.append(_round_trip(srv, local, f"large{r}", lambda: downloads(r)))
    push_s, fetch_s = min(r[0] for r in runs), min(r[1] for r in runs)
    with runs[-1][2].checkout() as rco:
        assert (rco["big", count - 1] == arrays[-1]).all()
    mib = nbytes >> 20
    push, fetch = nbytes / push_s / MB, nbytes / fetch_s / MB
    name = f"{count} x float32[1024,1024] ({mib} MiB)"
    return (_transfer_figures(f"push {name}", push, "upload", up, plain_up, up_hashed, up_files, up_kept)
            + _transfer_figures(f"fetch-data {name}", fetch, "download", down, plain_down, down_hashed,
                                down_files, down_kept))


def _transfer_figures(name: str, value: float, way: str, ours: list[float], plain: list[float],
                      hashed: list[float], files: list[float], kept: list[float]) -> list[Figure]:
    """One large transfer against its three same-run references (raw runs in bytes/s)."""
    note = ("raw runs, our channel streams: " + ", ".join(f"{v / MB:.0f}" for v in ours)
            + "; paramiko's Channel API: " + ", ".join(f"{v / MB:.0f}" for v in plain) + " MB/s")
    return [  # the baseline is the fastest raw run of either client API
        Figure(name, value, "MB/s", f"raw paramiko channel {way}", max(ours + plain) / MB,
               ">= 0.7x raw channel", note=note),
        Figure(name, value, "MB/s", f"raw {way}, receiver hashing it", max(hashed) / MB, "transfer + verify bound"),
        Figure(name, value, "MB/s", f"raw channel {way} into new files", max(files) / MB,
               "page-cache write reference"),
        Figure(name, value, "MB/s", f"raw {way}, receiver hashing + writing", max(kept) / MB,
               ">= 0.8x (storage issue)"),
    ]


def build_records(path: str, n: int) -> float:
    """A bare repository whose master holds ``n`` sample records (digests only); returns seconds."""
    repo = _repo(path, bare=True)
    git, user = repo.ctx.git, repo.ctx.user
    start = time.perf_counter()
    schema = ColumnSchema("ndarray", dtype=np.dtype(np.uint8).str, shape=(ROW,))
    tree, _ = write_column(git, None, schema, {f"i{i}": f"{i:064x}" for i in range(n)})
    commit = git.create_commit(write_root(git, None, {"rows": tree}, {}), [], f"{n} samples\n", *user)
    git.set_ref(branch_ref("master"), commit)
    return time.perf_counter() - start


def bench_clone(srv: Loopback, n: int) -> list[Figure]:
    path = os.path.join(srv.root, "million.git")
    build_s = build_records(path, n)
    address = srv.address("million.git")
    clone_s = _timed(lambda: _clone(srv, os.path.join(srv.tmp, "million-clone"), address))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no data was fetched: the checkout warns about it
        with _clone(srv, os.path.join(srv.tmp, "million-clone-2"), address).checkout() as co:
            assert len(co["rows"]) == n
    dest = os.path.join(srv.tmp, "million-git-mirror")
    git_s = _timed(lambda: subprocess.run(["git", "clone", "-q", "--mirror", "--no-local", f"file://{path}",
                                           dest], check=True, capture_output=True))
    size = "1M" if n == 1_000_000 else f"{n // 1000:,}k"
    return [Figure(f"clone (records only) of {size} samples (s)", clone_s, "s",
                   "git clone --mirror --no-local (s)", git_s, "< 10 s", higher_is_better=False,
                   note=f"writing those records took {build_s:.1f} s")]


def run(quick: bool = False) -> list[Figure]:
    """Quick: 20,000 rows, 32 MiB, 100k records, one round. Full: 100,000 rows, 256 MiB, 1M, best of two."""
    n = 20_000 if quick else 100_000
    count = 8 if quick else 64
    million = 100_000 if quick else 1_000_000
    rounds = 1 if quick else 2
    stock = max((stock_remote() for _ in range(rounds)),
                key=lambda r: r.get("push", {}).get("samples_per_s", 0))  # its best round, like ours
    with loopback() as srv:
        figs = bench_rows(srv, n, rounds, stock)
        figs += bench_large(srv, count, rounds)
        figs += bench_clone(srv, million)
    return figs


if __name__ == "__main__":
    from .common import print_table
    print_table(run(quick="--quick" in sys.argv))
