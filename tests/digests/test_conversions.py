"""Raw (32 bytes, ``S32``) and hex digests are converted in one place: storage/identity.py
(``hex_of``, ``raw_of``: any hash, git object ids too) and the digest forms built on them in
storage/objects.py.

The scan below finds hex/raw conversions anywhere else in the package, the
way tests/test_layers.py finds imports. Git object ids (SHA-1, not sample
digests) are allowed line by line where bookkeeping packs and checks them.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangar_git.storage import digests_to_raw, raw_to_digest, raws_to_digests

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "hangar_git"
CONVERSION = re.compile(r"\.hex\(|fromhex|ljust\(32|hexdigest\(|hexlify")
ALLOWED_FILES = {"storage/objects.py", "storage/identity.py"}
GIT_OID_LINES = {  # file -> text of the lines that convert git object ids, not sample digests
    "bookkeeping/transfer.py": ('got = hashlib.sha1(header + b" " + str(len(data)).encode() + b"\\0" + data)'
                                '.hexdigest()',),
    "bookkeeping/records.py": ('FORMAT_BLOB_ID = hashlib.sha1(b"blob %d\\0" % len(encode_format()) + encode_format())'
                               '.hexdigest()',),
    # not a digest at all: the file name of a repository's registry entry
    "storage/registry.py": ('place = hashlib.sha256(f"{self.host}\\0{self.git_dir}".encode()).hexdigest()[:16]',),
}


def stray_conversions(root: Path) -> list[str]:
    """``file:line`` of each raw<->hex conversion outside the allowed places."""
    found = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if name in ALLOWED_FILES:
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if CONVERSION.search(line) and line.strip() not in GIT_OID_LINES.get(name, ()):
                found.append(f"{name}:{lineno}")
    return found


def test_no_digest_conversion_outside_objects_py() -> None:
    assert stray_conversions(PACKAGE_DIR) == []


def test_the_scan_finds_planted_conversions(tmp_path: Path) -> None:
    planted = {"api/cols.py": "x = bytes(raw).hex()\n", "transport/w.py": "r = bytes.fromhex(d)\n",
               "storage/objects.py": "ok = raw.hex()\n", "bookkeeping/packwriter.py": "y = oid.hex()\n",
               "bookkeeping/records.py": "z = bytes(r).ljust(32, b'\\0')\n"}
    for name, text in planted.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert stray_conversions(tmp_path) == ["api/cols.py:1", "bookkeeping/packwriter.py:1",
                                           "bookkeeping/records.py:1", "transport/w.py:1"]


RAWS = st.lists(st.binary(min_size=32, max_size=32), max_size=20)
TRAILING_ZEROS = st.lists(st.binary(min_size=0, max_size=32).map(lambda b: b + bytes(32 - len(b))),
                          min_size=1, max_size=20)


@given(RAWS | TRAILING_ZEROS)
def test_raw_and_hex_round_trip(raws: list[bytes]) -> None:
    digests = [r.hex() for r in raws]
    array = digests_to_raw(digests)
    assert array.dtype == np.dtype("S32") and array.tobytes() == b"".join(raws)
    assert raws_to_digests(array) == digests
    assert [raw_to_digest(array[i]) for i in range(len(raws))] == digests   # S32 scalars strip zeros
    assert [raw_to_digest(r) for r in raws] == digests


def test_an_all_zero_digest_and_an_empty_list() -> None:
    zero = "00" * 32
    assert raw_to_digest(digests_to_raw([zero])[0]) == zero
    assert raws_to_digests(digests_to_raw([])) == [] and digests_to_raw([]).dtype == np.dtype("S32")


@pytest.mark.parametrize("bad", [["ab" * 31], ["zz" * 32], ["ab" * 32, "cd" * 31], ["é" * 64]],
                         ids=["short", "not-hex", "one-short", "not-ascii"])
def test_malformed_hex_digests_are_refused(bad: list[str]) -> None:
    with pytest.raises(ValueError):
        digests_to_raw(bad)
