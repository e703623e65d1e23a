"""Fixtures of the hostile-input suite: a served repository and raw protocol access.

* ``served``: a fresh copy of a small hangar repository (one commit on master, one small and
  one large sample) to serve;
* ``snapshot(path)``: everything a client could change on the server (refs, git objects,
  stored objects and store files), to compare before and after;
* ``raw_exchange(handler, data)``: feed raw bytes to a RepositoryService in this process
  (socket pair, server thread) and return the frames it answered before hanging up.
"""
from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.bookkeeping.gitrepo import GitRepo
from hangar_git.errors import ConnectionClosed, ProtocolError
from hangar_git.transport.connect import close_socket
from hangar_git.transport.framing import Frame, FrameReader
from hangar_git.transport.rpc import ServiceHandler, serve

from tests.faults.world import place


@pytest.fixture(scope="session")
def served_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "served"
    repo = Repository(path, exists=False)
    repo.init("server", "s@x")
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("small", prototype=np.zeros(4, np.int64))["a"] = np.arange(4)
        co.add_ndarray_column("big", prototype=np.zeros((600, 600)))["b"] = np.ones((600, 600))
        co.commit("first")
    repo.ctx.reset_store()
    return path


@pytest.fixture
def served(served_template: Path, tmp_path: Path) -> Path:
    return place(served_template, tmp_path / "served")


class Snapshot(NamedTuple):
    refs: dict[str, str]
    git_objects: frozenset[str]
    store_files: frozenset[str]


def snapshot(path: Path) -> Snapshot:
    git = GitRepo.discover(str(path))
    assert git is not None
    objects = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch-check=%(objectname)"],
                             cwd=path, capture_output=True, text=True, check=True).stdout.split()
    store = Path(git.git_dir) / "hangar" / "store"
    files = {str(p.relative_to(store)) for p in store.rglob("*") if p.is_file() and "tmp" not in p.parts}
    return Snapshot(git.list_refs(""), frozenset(objects), frozenset(files))


def git_fsck_ok(path: Path) -> None:
    proc = subprocess.run(["git", "fsck", "--full", "--no-progress"], cwd=path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def raw_exchange(handler: ServiceHandler, data: bytes, timeout: float = 30) -> list[Frame]:
    """Send ``data`` then end our side; return every frame the server sent back."""
    client, server = socket.socketpair()
    failures: list[BaseException] = []

    def run() -> None:
        reader, writer = server.makefile("rb"), server.makefile("wb")
        try:
            serve(reader, writer, handler)
        except BaseException as exc:  # noqa: BLE001 - a crash of serve() is what we look for
            failures.append(exc)
        finally:
            close_socket(server, writer, reader)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    sender = threading.Thread(target=_send_all, args=(client, data), daemon=True)
    sender.start()
    frames = []
    reader = FrameReader(client.makefile("rb"))
    while True:
        try:
            frames.append(reader.recv())
        except (ConnectionClosed, ProtocolError, OSError):
            break
    thread.join(timeout)
    sender.join(timeout)
    client.close()
    assert not thread.is_alive(), "the server did not finish"
    assert not failures, f"serve() raised {failures[0]!r}"
    return frames


def _send_all(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the server hung up first


def encode(*frames: tuple[Any, ...]) -> bytes:
    """Frames as the wire carries them (kind, header[, payload])."""
    import io
    from hangar_git.transport.framing import FrameWriter
    out = io.BytesIO()
    writer = FrameWriter(out, max_header=1 << 30, max_payload=1 << 40)
    for frame in frames:
        writer.send(*frame)
    return out.getvalue()
