"""Encoded keys and shard numbers computed in numpy for a big commit equal the one-by-one
definitions (records.encode_key, records.shard_prefix); shard text packed as Huffman codes
is read back by git itself."""
from __future__ import annotations

import subprocess
from typing import Callable

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.bookkeeping import bulkkeys
from hangar_git.bookkeeping.bulkkeys import encoded_keys, shard_numbers
from hangar_git.bookkeeping.packwriter import deflate_text
from hangar_git.bookkeeping.records import encode_key, shard_prefix

_EDGES = [-2 ** 63, -2 ** 63 + 1, -10 ** 18, -10, -9, -1, 0, 1, 9, 10, 99, 100, 10 ** 18 - 1, 10 ** 18, 2 ** 63 - 1]


def _int_keys(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixed = rng.integers(-2 ** 63, 2 ** 63 - 1, 3000, dtype=np.int64)
    small = rng.integers(-2000, 2000, 3000, dtype=np.int64)
    return np.unique(np.concatenate([mixed, small, np.array(_EDGES, dtype=np.int64)]))


def _text_keys() -> np.ndarray:
    texts = {"a", "key-1", "κλειδί", "x" * 40, "0", "-1", "日本語のキー"} | {f"k{i}" for i in range(500)}
    return np.array(sorted(t.encode() for t in texts), dtype="S")


@pytest.mark.parametrize("kind", ["ints", "texts", "both", "one int", "none"])
def test_encoded_keys_equal_encode_key(kind: str) -> None:
    ints = _int_keys(1) if kind in ("ints", "both") else np.array([7], np.int64) if kind == "one int" \
        else np.zeros(0, np.int64)
    texts = _text_keys() if kind in ("texts", "both") else np.zeros(0, "S1")
    got = encoded_keys(ints, texts).tolist()
    assert got == [encode_key(k).encode() for k in ints.tolist() + [t.decode() for t in texts.tolist()]]


@pytest.mark.parametrize("digits", [0, 1, 2, 3, 4, 8])
def test_shard_numbers_equal_shard_prefix(digits: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Short keys (one numpy pass per byte) and keys past CRC_WIDTH_MAX (one by one)."""
    monkeypatch.setattr(bulkkeys, "BLOCK", 1000)  # several blocks, the last one short
    encs = encoded_keys(_int_keys(digits), _text_keys())
    expected = [int(shard_prefix(e.decode(), digits), 16) if digits else 0 for e in encs.tolist()]
    assert shard_numbers(encs, digits).tolist() == expected
    short = encoded_keys(_int_keys(digits), np.zeros(0, "S1"))
    assert short.dtype.itemsize <= bulkkeys.CRC_WIDTH_MAX
    assert shard_numbers(short, digits).tolist() == \
        [int(shard_prefix(e.decode(), digits), 16) if digits else 0 for e in short.tolist()]


@pytest.mark.parametrize("size", [0, 1, 70, 300_000])
def test_huffman_coded_shard_text_is_read_by_git(make_repo: Callable[[str], Repository], size: int) -> None:
    """A pack whose objects are Huffman-coded zlib streams: git's own fsck and cat-file read
    them back byte for byte."""
    from hangar_git.bookkeeping.gitrepo import BLOB
    from hangar_git.bookkeeping.packwriter import write_pack
    repo = make_repo("r")
    git = repo.ctx.git
    rng = np.random.default_rng(size)
    texts = [b"".join(b"%064x i%d\n" % (int(rng.integers(0, 2 ** 62)), i) for i in range(size // 70)) + b"%d" % j
             for j in range(3)]
    objects = [(git.blob_id(t), BLOB, t) for t in texts]
    write_pack(git.git_dir, objects, packed=[deflate_text(t) for t in texts])
    subprocess.run(["git", "--git-dir", git.git_dir, "fsck", "--strict", "--no-dangling"], check=True,
                   capture_output=True)
    for oid, _, text in objects:
        shown = subprocess.run(["git", "--git-dir", git.git_dir, "cat-file", "blob", oid], check=True,
                               capture_output=True).stdout
        assert shown == text
