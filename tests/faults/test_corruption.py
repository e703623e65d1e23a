"""Corruption on purpose: stored bytes flipped on disk, batches damaged in transfer.

A damaged store object is never returned as data: reading it raises IntegrityError that
names it, the other samples still read exactly, and fsck (API and CLI) reports it. A damaged
data or object batch is refused by its receiver and nothing of it is kept.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.errors import IntegrityError
from hangar_git.transport import fetch_data as fetch_data_mod
from hangar_git.transport import rpc
from hangar_git.transport.connect import open_local_session_in_process
from hangar_git.transport.service import RepositoryService

from .world import World, assert_state, git_fsck, git_hangar, hangar_fsck, head, place

# single-byte corruptions of stored objects: a default run injects 4, --slow 40
DEFAULT_INJECTIONS = 4
SLOW_INJECTIONS = 40


@pytest.fixture(scope="module")
def damaged_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[Any, np.ndarray]]]:
    """A repo with three byte-log chunks of small samples and three large objects."""
    root = tmp_path_factory.mktemp("corrupt") / "repo"
    repo = Repository(root, exists=False)
    repo.init("t", "t@x")
    rng = np.random.default_rng(7)
    data = {"small": {i: rng.integers(0, 1 << 30, 64, dtype=np.int64) for i in range(3000)},
            "big": {f"b{i}": rng.standard_normal((400, 400)) for i in range(3)}}
    with repo.checkout(write=True) as co:
        for name, samples in data.items():
            col = co.add_ndarray_column(name, prototype=next(iter(samples.values())))
            with col:
                col.update(samples)
        co.commit("data")
    repo.ctx.reset_store()
    return root, data


def _targets(repo: Path) -> list[tuple[str, Path, bytes]]:
    """(what, file, its bytes as stored) of every pack chunk and large-object file."""
    r = Repository(repo)
    store = r.ctx.store
    store._load_packs()  # type: ignore[attr-defined]
    out = []
    for pack in store._packs:  # type: ignore[attr-defined]
        for c in range(len(pack.chunk_start)):
            start, n = int(pack.chunk_start[c]), int(pack.chunk_clen[c])
            data_file = repo / ".git/hangar/store/data" / f"{pack.files[int(pack.chunk_file[c])]}.pack"
            chunk = data_file.read_bytes()[start:start + n]
            out.append((f"chunk {c} of pack {pack.name}", data_file, chunk))
    for path in sorted((repo / ".git/hangar/store/large").glob("*/*")):
        out.append((f"object {path.name}", path, path.read_bytes()))
    r.ctx.reset_store()
    return out


def _position(path: Path, stored: bytes, rng: random.Random) -> int:
    """A random file offset inside ``stored`` (TileDB may split a chunk across its own
    tile chunks, so find a unique 16-byte piece of it in the file)."""
    raw = path.read_bytes()
    for _ in range(100):
        k = rng.randrange(0, len(stored) - 16)
        pos = raw.find(stored[k:k + 16])
        if pos >= 0 and raw.find(stored[k:k + 16], pos + 1) < 0:
            return pos + rng.randrange(16)
    raise AssertionError(f"cannot locate stored bytes in {path}")


def _injections(n: int) -> list:
    return [pytest.param(i, id=f"flip{i}", marks=() if i < DEFAULT_INJECTIONS else pytest.mark.slow)
            for i in range(n)]


@pytest.mark.parametrize("i", _injections(SLOW_INJECTIONS))
def test_flipped_stored_byte_is_detected_never_returned(i: int, damaged_template: Any, tmp_path: Path) -> None:
    template, data = damaged_template
    repo = place(template, tmp_path / "repo")
    rng = random.Random(i)
    targets = _targets(repo)
    what, path, stored = targets[i % len(targets)]
    pos = _position(path, stored, rng)
    with open(path, "r+b") as fh:
        fh.seek(pos)
        byte = fh.read(1)[0]
        fh.seek(pos)
        fh.write(bytes([byte ^ (1 << rng.randrange(8))]))

    r = Repository(repo)
    errors = []
    with r.checkout() as co:
        for name, samples in data.items():
            col = co[name]
            for key, want in samples.items():
                try:
                    got = col[key]
                except IntegrityError as exc:
                    errors.append(str(exc))
                    continue
                assert got.tobytes() == want.tobytes(), f"wrong data returned for {name}[{key!r}]"
    r.ctx.reset_store()
    assert errors, f"flipping byte {pos} of {what} went unnoticed"
    assert all("corrupt" in e or "damaged" in e for e in errors)
    if what.startswith("object"):
        assert all(what.split()[1] in e for e in errors)
    else:
        assert all("column 'small'" in e and "sample " in e for e in errors), errors[0]
    report = Repository(repo).fsck()
    assert not report.ok and any("corrupt" in p for p in report.problems), str(report)
    cli = git_hangar("fsck", cwd=repo)
    assert cli.returncode == 1 and "problem" in cli.stdout, cli.stdout + cli.stderr


# -- damaged in transfer ------------------------------------------------------------------------------
def _flip_payload(payload: Any) -> bytes:
    parts = payload if isinstance(payload, list) else [payload]  # data frames go out as buffer lists
    raw = bytearray(b"".join(bytes(memoryview(p)) for p in parts))
    raw[len(raw) // 2] ^= 0x40
    return bytes(raw)


def _damage_sent_frames(mp: pytest.MonkeyPatch, kind: str) -> None:
    """Flip a byte in the payload of every ``kind`` frame a client session sends."""
    real_send = rpc.Session.send

    def damaged_send(self: rpc.Session, frame_kind: str, header: Any = None, payload: Any = b"") -> None:
        real_send(self, frame_kind, header, _flip_payload(payload) if frame_kind == kind else payload)

    mp.setattr(rpc.Session, "send", damaged_send)


def test_push_with_a_damaged_data_batch_is_refused_and_nothing_is_kept(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = place(world.server["c0"], tmp_path / "server")
    client = place(world.client["c1"], tmp_path / "client", remote=server)
    srv = Repository(server)
    before = sorted(o.digest for o in srv.ctx.store.iter_objects())
    srv.ctx.reset_store()
    files_before = _store_files(server)
    repo = Repository(client)
    repo.remote.quiet = True
    with monkeypatch.context() as mp:
        _damage_sent_frames(mp, "data")
        with pytest.raises(IntegrityError, match="corrupt|does not match|digest"):
            repo.remote.push("origin", "master")
    srv = Repository(server)
    assert sorted(o.digest for o in srv.ctx.store.iter_objects()) == before  # nothing of it kept
    srv.ctx.reset_store()
    assert _store_files(server) == files_before  # not even an unindexed large-object file
    assert head(server) == world.commits["c0"]
    hangar_fsck(server)
    repo.remote.push("origin", "master")  # undamaged, it goes through
    assert head(server) == world.commits["c1"]
    hangar_fsck(server)


class DamagingService(RepositoryService):
    """Serves get_data with one byte of every data frame's payload flipped."""

    @rpc.rpc_method
    def get_data(self, request: Any, stream: Any) -> Any:
        real = stream.send

        def send(kind: str, header: Any = None, payload: Any = b"") -> None:
            real(kind, header, _flip_payload(payload) if kind == "data" else payload)
        stream.send = send
        try:
            return super().get_data(request, stream)
        finally:
            stream.send = real


def test_fetch_data_of_a_damaged_batch_is_refused_and_nothing_is_kept(world: World, tmp_path: Path) -> None:
    server = place(world.server["c1"], tmp_path / "server")
    client = place(world.clone_c1_nodata, tmp_path / "client", remote=server)
    repo = Repository(client)
    git, store = repo.ctx.git, repo.ctx.store
    before = sorted(o.digest for o in store.iter_objects())
    with open_local_session_in_process(DamagingService(str(server))) as session:
        with pytest.raises(IntegrityError):
            fetch_data_mod.fetch_data(git, store, session, [world.commits["c1"]], quiet=True)
    repo.ctx.reset_store()
    repo = Repository(client)
    assert sorted(o.digest for o in repo.ctx.store.iter_objects()) == before
    assert not list((client / ".git/hangar/store/large").glob("*/*"))
    hangar_fsck(client)
    repo.remote.fetch_data("origin", "master")
    assert_state(client, world.commits["c1"], world.data.states["c1"])


def test_damaged_git_objects_in_a_push_are_refused(world: World, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    server = place(world.server["c0"], tmp_path / "server")
    client = place(world.client["c1"], tmp_path / "client", remote=server)
    objects_before = _git_objects(server)
    repo = Repository(client)
    repo.remote.quiet = True
    with monkeypatch.context() as mp:
        _damage_sent_frames(mp, "objects")
        with pytest.raises(IntegrityError, match="arrived corrupt"):
            repo.remote.push("origin", "master")
    assert head(server) == world.commits["c0"]
    assert _git_objects(server) == objects_before
    git_fsck(server)
    repo.remote.push("origin", "master")
    assert head(server) == world.commits["c1"]


# -- damaged at rest on the sending side: the sender streams without re-hashing, the receiver catches it --
def _damage_large_objects(repo: Path) -> list[str]:
    """Flip one byte in the middle of every large-object file of ``repo``; returns their digests."""
    store = repo / "hangar" / "store" if (repo / "hangar").is_dir() else repo / ".git/hangar/store"
    names = []
    for path in sorted((store / "large").glob("*/*")):
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0x08
        path.write_bytes(bytes(raw))
        names.append(path.name)
    assert names
    return names


def test_fetch_data_from_a_server_with_damaged_files_is_refused_and_nothing_is_kept(
        world: World, tmp_path: Path) -> None:
    server = place(world.server["c1"], tmp_path / "server")
    client = place(world.clone_c1_nodata, tmp_path / "client", remote=server)
    damaged = _damage_large_objects(server)
    repo = Repository(client)
    repo.remote.quiet = True
    with pytest.raises(IntegrityError, match="run `git hangar fsck` in the sending repository") as err:
        repo.remote.fetch_data("origin", "master")
    assert err.value.expected in damaged
    repo.ctx.reset_store()
    kept = {o.digest for o in Repository(client).ctx.store.iter_objects()}
    assert not kept & set(damaged)  # undamaged batches before it may stay: a retry resumes
    assert not list((client / ".git/hangar/store/large").glob("*/*"))
    hangar_fsck(client)
    assert not Repository(server).fsck().ok  # the server's own check names the damage


def test_push_of_damaged_local_files_is_refused_by_the_server(world: World, tmp_path: Path) -> None:
    server = place(world.server["c0"], tmp_path / "server")
    client = place(world.client["c1"], tmp_path / "client", remote=server)
    files_before = _store_files(server)
    damaged = _damage_large_objects(client)
    repo = Repository(client)
    repo.remote.quiet = True
    with pytest.raises(IntegrityError, match="sending repository") as err:
        repo.remote.push("origin", "master")
    assert any(d in str(err.value) for d in damaged)
    assert head(server) == world.commits["c0"]
    assert _store_files(server) == files_before
    hangar_fsck(server)


def _git_objects(path: Path) -> set[str]:
    import subprocess
    out = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch-check=%(objectname)"],
                         cwd=path, capture_output=True, text=True, check=True).stdout
    return set(out.split())


def _store_files(repo: Path) -> set[str]:
    store = repo / "hangar" / "store" if (repo / "hangar").is_dir() else repo / ".git/hangar/store"
    return {str(p.relative_to(store)) for p in store.rglob("*") if p.is_file() and "tmp" not in p.parts}
