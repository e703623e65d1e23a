"""Files written around the page cache (O_DIRECT), as received large objects are."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from hangar_git import fileio
from hangar_git.fileio import DIRECT_ALIGN, DIRECT_PIECE, write_file_uncached


@pytest.mark.parametrize("sizes", [
    (13, 0), (13, 1), (13, DIRECT_ALIGN - 13), (13, DIRECT_ALIGN), (13, 4 << 20),
    (13, DIRECT_PIECE - 13), (13, DIRECT_PIECE + 5), (0, 3 * DIRECT_PIECE + 17), (7, 11, 1 << 20),
], ids=lambda s: "+".join(map(str, s)))
@pytest.mark.parametrize("durable", [False, True], ids=["plain", "durable"])
def test_uncached_write_holds_exactly_the_parts(sizes: tuple[int, ...], durable: bool, tmp_path: Path) -> None:
    rng = np.random.default_rng(len(sizes) + sum(sizes))
    parts = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in sizes]
    path = tmp_path / "f"
    write_file_uncached(str(path), *[memoryview(p) for p in parts], durable=durable)
    assert path.read_bytes() == b"".join(parts)  # no padding left at the end


def test_uncached_write_replaces_an_older_longer_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * (3 * DIRECT_ALIGN))
    write_file_uncached(str(path), b"short")
    assert path.read_bytes() == b"short"


def test_without_o_direct_support_it_writes_plainly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def refusing_open(path: str, flags: int, mode: int = 0o777) -> int:
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "O_DIRECT not supported here")
        return real_open(path, flags, mode)

    monkeypatch.setattr(fileio.os, "open", refusing_open)
    path = tmp_path / "f"
    write_file_uncached(str(path), b"head", b"body" * 5000)
    assert path.read_bytes() == b"head" + b"body" * 5000


def test_a_refused_direct_write_falls_back_to_a_plain_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refusing_write(fd: int, data: memoryview) -> int:
        raise OSError(errno.EINVAL, "misaligned for this device")

    monkeypatch.setattr(fileio.os, "write", refusing_write)
    path = tmp_path / "f"
    write_file_uncached(str(path), b"abc" * 10000)
    assert path.read_bytes() == b"abc" * 10000


def test_a_full_disk_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fileio.os, "write", lambda fd, data: len(data) // 2)
    with pytest.raises(OSError) as err:
        write_file_uncached(str(tmp_path / "f"), b"z" * (2 * DIRECT_ALIGN))
    assert err.value.errno == errno.ENOSPC


# -- atomic writes: the one home (tests/test_one_home.py keeps os.replace here) ------------------
@pytest.mark.parametrize("durable", [False, True], ids=["plain", "durable"])
def test_atomic_open_shows_all_or_nothing(tmp_path: Path, durable: bool) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with fileio.atomic_open(str(path), "w", durable=durable, newline="") as fh:
            fh.write("half")
            assert path.read_text() == "old\n"  # readers see the old file meanwhile
            raise RuntimeError("interrupted")
    assert path.read_text() == "old\n" and sorted(os.listdir(tmp_path)) == ["out.csv"]
    with fileio.atomic_open(str(path), "w", durable=durable) as fh:
        fh.write("new\n")
    assert path.read_text() == "new\n" and sorted(os.listdir(tmp_path)) == ["out.csv"]


def test_write_atomic_and_move_into_place(tmp_path: Path) -> None:
    path = tmp_path / "f"
    fileio.write_atomic(str(path), b"ab", memoryview(b"cd"), durable=True)
    assert path.read_bytes() == b"abcd"
    made = tmp_path / "made-elsewhere"
    made.write_bytes(b"x")
    fileio.move_into_place(str(made), str(path), durable=True)
    assert path.read_bytes() == b"x" and not made.exists()
    with pytest.raises(FileNotFoundError):  # a missing folder: nothing written, nothing left
        fileio.write_atomic(str(tmp_path / "no" / "f"), b"x")
    assert sorted(os.listdir(tmp_path)) == ["f"]


def test_write_atomic_finishes_short_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``os.write`` may write less than it is given: every byte of every part (bytes, a
    memoryview, an array's buffer) still lands, in order."""
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, memoryview(data)[:3]))
    parts = [b"0123456", memoryview(b"abcdefgh")[1:], np.arange(10, dtype=np.uint16).data]
    fileio.write_atomic(str(tmp_path / "f"), *parts)
    assert (tmp_path / "f").read_bytes() == b"0123456bcdefgh" + np.arange(10, dtype=np.uint16).tobytes()


def test_write_atomic_that_fails_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails part way (a full disk, Ctrl-C) leaves the file as it was and no
    temporary file beside it."""
    path = tmp_path / "f"
    path.write_bytes(b"old")
    real, calls = os.write, []
    def failing(fd: int, data: bytes) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)
    monkeypatch.setattr(os, "write", failing)
    with pytest.raises(OSError):
        fileio.write_atomic(str(path), b"new", b"er")
    monkeypatch.setattr(os, "write", lambda fd, data: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        fileio.write_atomic(str(path), b"new")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["f"]
