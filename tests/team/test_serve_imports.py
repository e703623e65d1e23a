"""`git hangar serve` imports only what each request needs (issue 15, "serve starts fast"):
over OpenSSH every push, fetch and fetch-data starts a new serve process, and a no-op one asks
only for ``hello`` and ``list_refs``.

Regression: serve imported numpy, tiledb (through the storage package) and paramiko (the
standalone server's) before reading its first request: ~0.2 s of a 0.28 s no-op fetch.
"""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from hangar_git.transport.framing import FrameReader, FrameWriter
from hangar_git.transport.rpc import PROTOCOL_VERSION
from hangar_git.storage.identity import DIGEST_ALGORITHM
from tests.remote.conftest import init_bare
from tests.subprocesses import python_env

HEAVY = ("numpy", "tiledb", "blosc2", "paramiko", "tqdm", "pygit2")
# standard modules that cost serve a third of its start-up (about 15 ms; `python -c pass` is 10-20)
SLOW_STDLIB = ("logging", "dataclasses", "inspect", "uuid", "hashlib")
PROBE = """
import atexit, sys
atexit.register(lambda: sys.stderr.write("LOADED " + " ".join(m for m in {heavy!r} if m in sys.modules) + "\\n"))
from hangar_git.cli import main
sys.argv = ["git-hangar", "serve", {path!r}]
main()
"""


def _requests(*frames: tuple[str, dict]) -> bytes:
    out = io.BytesIO()
    writer = FrameWriter(out)
    for kind, header in frames:
        writer.send(kind, header)
    writer.flush()
    return out.getvalue()


def _serve(path: Path, *frames: tuple[str, dict], watch: tuple[str, ...] = HEAVY) -> tuple[list, str]:
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=watch, path=str(path))],
                          input=_requests(*frames), capture_output=True, env=python_env(), timeout=120)
    reader = FrameReader(io.BytesIO(proc.stdout))
    replies = [reader.recv() for _ in frames]
    loaded = [line for line in proc.stderr.decode().splitlines() if line.startswith("LOADED")]
    assert proc.returncode == 0 and loaded, proc.stderr.decode()
    return replies, loaded[-1][len("LOADED"):].strip()


def test_a_noop_request_loads_neither_numpy_nor_the_store_nor_paramiko_nor_pygit2(tmp_path: Path) -> None:
    path = init_bare(tmp_path / "r.git")
    hello = ("hello", {"protocol": PROTOCOL_VERSION, "digest": DIGEST_ALGORITHM})
    replies, loaded = _serve(path, hello, ("list_refs", {}), ("bye", {}))
    assert [r.kind for r in replies] == ["ok", "ok", "ok"] and replies[1].header == {"heads": {}}
    assert loaded == "", f"serve loaded {loaded} to answer hello and list_refs"


def test_a_noop_request_loads_no_slow_standard_module(tmp_path: Path) -> None:
    """Regression: logging, dataclasses (which loads inspect, ast and dis), uuid and hashlib
    were imported at serve's start for a log line, four records, an id and a key fingerprint
    that a no-op request never uses: 15 of serve's 35 ms of imports."""
    path = init_bare(tmp_path / "r.git")
    hello = ("hello", {"protocol": PROTOCOL_VERSION, "digest": DIGEST_ALGORITHM})
    replies, loaded = _serve(path, hello, ("list_refs", {}), ("bye", {}), watch=SLOW_STDLIB)
    assert [r.kind for r in replies] == ["ok", "ok", "ok"]
    assert loaded == "", f"serve loaded {loaded} to answer hello and list_refs"


def test_a_data_request_loads_the_store(tmp_path: Path) -> None:
    """The probe sees imports: a request that needs data does load them (numpy), though a
    local store no longer loads TileDB (issue 12: ~30 ms of every DataLoader worker's start)."""
    path = init_bare(tmp_path / "r.git")
    hello = ("hello", {"protocol": PROTOCOL_VERSION, "digest": DIGEST_ALGORITHM})
    replies, loaded = _serve(path, hello, ("data_sizes", {"digests": ["0" * 64]}), ("bye", {}))
    assert replies[1].header == {"sizes": [-1]}
    assert "numpy" in loaded.split() and "tiledb" not in loaded.split(), loaded
