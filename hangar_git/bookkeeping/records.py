"""Record formats of a hangar commit tree.

RECORD FORMATS ARE PERMANENT: every clone of every repository reads them.

A commit's tree::

    hangar.json                       {"digest": "blake3", "format": 2}
    metadata.json                     {"key": "value", ...}   (sorted keys)
    columns/<name>/schema.json        column schema (see ``ColumnSchema``)
    columns/<name>/stats.json         {"count": N, "shard_digits": L}
    columns/<name>/samples/...        sample records, sharded

Sample records map a key to a content digest. A key's shard is the first
``L`` hex digits of the CRC-32 of its encoded form; ``L`` grows with the
column so a shard holds about ``SHARD_TARGET`` records. Shard paths split
those digits two per directory: ``L=0`` -> ``samples/_``, ``L=3`` ->
``samples/ab/c``. A shard is text, one record per line, sorted::

    <64 hex digest> <encoded key>\n

An encoded key is ``s<text>`` for a str key and ``i<decimal>`` for an int.
Equal content always produces byte-identical shards, so two commits can be
compared by tree ids and only differing shards are read.

``hangar.json`` names the record format and the content digest's algorithm
(:data:`~hangar_git.storage.objects.DIGEST_ALGORITHM`); a tree that states
anything else was written by an incompatible (development) version and is
refused (:func:`check_format`). Format 1 named objects by SHA-256.
"""
from __future__ import annotations

import hashlib
import json
import numbers
import re
import zlib
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator, Optional, Union

from ..errors import InvalidKeyError, InvalidNameError, RecordFormatError
from ..storage.identity import DIGEST_ALGORITHM

FORMAT = 2
SHARD_TARGET = 1024
KEY_INDEX_DIGITS = 2
"""Columns of at least this many shard levels (16,384 records and up) keep a key index
(:mod:`.keyindex`, derived local data, not part of the records)."""
MAX_KEY_LEN = 256
Key = Union[str, int]

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$")
# C0/C1 controls, line/paragraph separators, path separators; surrogates have no UTF-8 form
_BAD_KEY_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029/\\\ud800-\udfff]")
_METADATA_KEY_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_INT64 = 1 << 63


# -- names and keys ------------------------------------------------------------
def check_name(name: object, what: str = "column") -> str:
    """Validate a column or metadata-free name: letters, digits, ``._-``, <= 64 chars."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):  # '$' would allow a final '\n'
        raise InvalidNameError(
            f"invalid {what} name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            f"not starting with '.' or '-'")
    return name


def check_key(key: object) -> Key:
    """Validate a sample key: a str without separators/control chars, or an int."""
    if type(key) is int:
        if -_INT64 <= key < _INT64:
            return key
    elif isinstance(key, str):
        if 0 < len(key) <= MAX_KEY_LEN and not _BAD_KEY_CHARS.search(key):
            return key
    elif isinstance(key, numbers.Integral) and not isinstance(key, bool):  # numpy ints, IntEnum
        return check_key(int(key))
    raise InvalidKeyError(
        f"invalid sample key {key!r}: keys are ints (64-bit) or non-empty str of at most "
        f"{MAX_KEY_LEN} characters without '/', '\\' or control characters")


def encode_key(key: Key) -> str:
    return f"i{key}" if type(key) is int else f"s{key}"


def decode_key(text: str) -> Key:
    return int(text[1:]) if text[0] == "i" else text[1:]


def check_metadata_key(key: object) -> str:
    """Hangar 0.5's rule for metadata keys: 1-64 ASCII letters, digits, '.', '_' or '-'."""
    if not isinstance(key, str) or not _METADATA_KEY_RE.fullmatch(key):
        raise InvalidNameError(
            f"invalid metadata key {key!r}: use 1-64 ASCII letters, digits, '.', '_' or '-' "
            f"(no spaces), as Hangar does")
    return key


def check_metadata_value(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidNameError(f"metadata values must be str, got {type(value).__name__}")
    if _SURROGATES.search(value):
        raise InvalidNameError("metadata values must be valid Unicode text (no lone surrogates)")
    return value


# -- shards --------------------------------------------------------------------
def shard_digits_for(count: int, current: int = 0) -> int:
    """Shard level for a column of ``count`` records (grows eagerly, shrinks lazily)."""
    level = current
    while level < 8 and count > SHARD_TARGET * 16 ** level:
        level += 1
    while level > 0 and count < SHARD_TARGET * 16 ** (level - 1) // 4:
        level -= 1
    return level


def shard_prefix(encoded_key: str, digits: int) -> str:
    if digits == 0:
        return ""
    return f"{zlib.crc32(encoded_key.encode()):08x}"[:digits]


def shard_path(prefix: str) -> tuple[str, ...]:
    """Tree path of a shard below ``samples/``."""
    if not prefix:
        return ("_",)
    return tuple(prefix[i:i + 2] for i in range(0, len(prefix), 2))


def all_prefixes(digits: int) -> Iterator[str]:
    if digits == 0:
        yield ""
        return
    for n in range(16 ** digits):
        yield f"{n:0{digits}x}"


def encode_shard(records: dict[str, str]) -> bytes:
    """Shard text from encoded key -> digest."""
    return "".join(f"{records[k]} {k}\n" for k in sorted(records)).encode()


def decode_shard(blob: bytes) -> dict[str, str]:
    """Encoded key -> digest of one shard."""
    out: dict[str, str] = {}
    for line in blob.decode().split("\n"):
        if line:
            out[line[65:]] = line[:64]
    return out


# -- schema / stats / metadata -------------------------------------------------
@dataclass(frozen=True, slots=True)
class ColumnSchema:
    """What a column holds. ``column_type`` is ``ndarray``, ``str`` or ``bytes``."""

    column_type: str
    dtype: Optional[str] = None          # numpy dtype.str for ndarray columns
    shape: Optional[tuple[int, ...]] = None
    variable_shape: bool = False

    @property
    def column_layout(self) -> str:
        return "flat"

    @property
    def schema_type(self) -> str:
        if self.column_type != "ndarray":
            return "variable_shape"
        return "variable_shape" if self.variable_shape else "fixed_shape"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape) if self.shape is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ColumnSchema":
        shape = tuple(d["shape"]) if d.get("shape") is not None else None
        return cls(column_type=d["column_type"], dtype=d.get("dtype"), shape=shape,
                   variable_shape=bool(d.get("variable_shape", False)))

    def encode(self) -> bytes:
        return (json.dumps(self.to_dict(), sort_keys=True, indent=1) + "\n").encode()

    @classmethod
    def decode(cls, blob: bytes) -> "ColumnSchema":
        return cls.from_dict(json.loads(blob))


@dataclass(frozen=True, slots=True)
class ColumnStats:
    count: int = 0
    shard_digits: int = 0

    def encode(self) -> bytes:
        return (json.dumps({"count": self.count, "shard_digits": self.shard_digits},
                           sort_keys=True) + "\n").encode()

    @classmethod
    def decode(cls, blob: bytes) -> "ColumnStats":
        d = json.loads(blob)
        return cls(count=int(d["count"]), shard_digits=int(d["shard_digits"]))


def encode_metadata(meta: dict[str, str]) -> bytes:
    return (json.dumps(meta, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


def decode_metadata(blob: bytes) -> dict[str, str]:
    return dict(json.loads(blob))


def encode_format() -> bytes:
    return (json.dumps({"digest": DIGEST_ALGORITHM, "format": FORMAT}, sort_keys=True) + "\n").encode()


FORMAT_BLOB_ID = hashlib.sha1(b"blob %d\0" % len(encode_format()) + encode_format()).hexdigest()
"""The git blob id of this version's ``hangar.json``: a tree naming it needs no read."""


def check_format(blob: bytes, tree: str = "") -> None:
    """RecordFormatError unless ``blob`` (a ``hangar.json``) states this version's format."""
    try:
        stated = json.loads(blob)
    except ValueError:
        stated = None
    if stated != json.loads(encode_format()):
        found = (f"format {stated.get('format')!r}, digest {stated.get('digest', 'sha256')!r}"
                 if isinstance(stated, dict) else "an unreadable hangar.json")
        raise RecordFormatError(tree, found, f"format {FORMAT}, digest {DIGEST_ALGORITHM!r}")


def key_sort(keys: Iterable[Key]) -> list[Key]:
    """Keys sorted ints first (numerically), then strs."""
    return sorted(keys, key=lambda k: (0, k, "") if type(k) is int else (1, 0, k))
