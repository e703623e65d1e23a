"""Write many git objects (received ones, a big commit's shards) as one pack file
instead of thousands of loose objects.

A clone of a million-sample column receives some 4,000 objects; as loose
objects each is its own file, and creating the files was 60% of the clone
(1.0 of 1.7 s). Like ``git receive-pack`` (``transfer.unpackLimit``), batches
of at least :data:`PACK_MIN` objects are written as a version-2 pack with its
version-2 index, undeltified, at zlib level 1; smaller ones stay loose.
Received objects are packed at :data:`RECEIVED_COMPRESSION` (0: zlib's stored
blocks): compressing a push's shards was most of a server's ref update (~1.2 ms
per 70 KB shard, a thousand shards for a push of a thousand samples into a
million), and reading them back is a copy. They take ~1.7x the disk space
(``git repack -a -d -k`` keeps them as they are; ``git gc --aggressive`` or
``git repack -a -d -F`` recompresses).

The pack and its index are written under temporary names and renamed into
``objects/pack/``, the index last: git and libgit2 only see a pack through
its index, so a killed writer leaves at most an unindexed temp file. Past
:data:`PACKS_BEFORE_GC` packs, git merges them in the background.
"""
from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import zlib
from typing import Optional, Sequence

from ..fileio import write_atomic
from ..storage.identity import hex_of, raw_of
from .gitrepo import LOOSE_COMPRESSION, GitRepo

PACK_MIN = 100
PARALLEL_BYTES = 4 << 20
"""Object bytes from which a pack's objects are compressed on several threads."""
COMPRESS_THREADS = 4
RECEIVED_COMPRESSION = 0
PACKS_BEFORE_GC = 50  # as git's gc.autoPackLimit


def deflate_text(data: bytes) -> bytes:
    """``data`` as a zlib stream of Huffman codes only (no string matching): what a big
    commit's shard text is packed as. Hex digests have nothing for LZ77 to find, so this
    takes half zlib level 1's time (0.7 against 1.4 s CPU for a million records' 73 MB)
    and comes out smaller (38 against 43 MB); git and libgit2 read it as any zlib stream.
    memLevel 8 (zlib's default), not 9: 15 % less CPU for 0.2 % more bytes (0.64 against
    0.76 s for those 73 MB in ~18 KB shards, best of 3)."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_HUFFMAN_ONLY)
    return packer.compress(data) + packer.flush()


def entry_header(obj_type: int, size: int) -> bytes:
    """The type-and-size varint that starts each packed object."""
    first = (obj_type << 4) | (size & 0x0F)
    size >>= 4
    out = bytearray()
    while size:
        out.append(first | 0x80)
        first, size = size & 0x7F, size >> 7
    out.append(first)
    return bytes(out)


def encode_pack(objects: Sequence[tuple[str, int, bytes]], level: int = LOOSE_COMPRESSION,
                packed: Optional[Sequence[bytes]] = None) -> tuple[list[bytes], bytes, str]:
    """(pack file as buffers to write one after the other, index bytes, pack checksum hex)
    of ``(oid, type, data)`` objects, each compressed at zlib ``level`` (``packed``: the
    caller's compressed data, in order). The compressed data is not copied: a big commit's
    packs were held four times over (records, their join, the join and its checksum)."""
    parts = [b"PACK" + struct.pack(">II", 2, len(objects))]
    summed = hashlib.sha1(parts[0])
    entries = []  # (raw oid, crc32, offset)
    offset = len(parts[0])
    if packed is None:
        packed = compress_all([o[2] for o in objects], level, parallel=True)
    for (oid, obj_type, data), deflated in zip(objects, packed):
        header = entry_header(obj_type, len(data))
        entries.append((raw_of(oid), zlib.crc32(deflated, zlib.crc32(header)), offset))
        parts += (header, deflated)
        summed.update(header)
        summed.update(deflated)
        offset += len(header) + len(deflated)
    checksum = summed.digest()
    return [*parts, checksum], encode_index(entries, offset, checksum), hex_of(checksum)


def encode_index(entries: list[tuple[bytes, int, int]], end: int, checksum: bytes) -> bytes:
    """The version-2 index of a pack of ``end`` bytes (before its checksum) holding
    ``entries`` (raw oid, crc32 of the packed record, offset), with its own checksum."""
    entries = sorted(entries)
    fanout = [0] * 256
    for raw, _, _ in entries:
        fanout[raw[0]] += 1
    for i in range(1, 256):
        fanout[i] += fanout[i - 1]
    if end >= 0x80000000:  # one push's or frame's objects never come near this
        raise ValueError("a pack of 2 GiB or more needs 64-bit index offsets; write fewer objects per pack")
    n = len(entries)
    index = b"".join([b"\xfftOc", struct.pack(">I", 2), struct.pack(">256I", *fanout),
                      b"".join(raw for raw, _, _ in entries),
                      struct.pack(f">{n}I", *(crc for _, crc, _ in entries)),
                      struct.pack(f">{n}I", *(off for _, _, off in entries)), checksum])
    return index + hashlib.sha1(index).digest()


def compress_all(datas: list[bytes], level: int, parallel: bool = False) -> list[bytes]:
    """``zlib.compress`` of each of ``datas``; with ``parallel``, many megabytes are shared
    among threads (zlib lets go of the GIL while it compresses: a big first commit's 70 MB
    of shard text took 1 s on one core)."""
    if not parallel or sum(map(len, datas)) < PARALLEL_BYTES:
        return [zlib.compress(d, level) for d in datas]
    threads = min(COMPRESS_THREADS, os.cpu_count() or 1)
    step = -(-len(datas) // (4 * threads))
    from concurrent.futures import ThreadPoolExecutor  # (with logging: 4 ms of status, log and diff)
    with ThreadPoolExecutor(threads, thread_name_prefix="hangar-pack") as pool:
        parts = pool.map(lambda lo: [zlib.compress(d, level) for d in datas[lo:lo + step]],
                         range(0, len(datas), step))
        return [packed for part in parts for packed in part]


def write_objects(git: GitRepo, objects: Sequence[tuple[str, int, bytes]],
                  level: int = LOOSE_COMPRESSION, *, look: bool = True,
                  packed: Optional[Sequence[bytes]] = None) -> None:
    """Store the ``(oid, type, data)`` objects git lacks: one pack (at zlib ``level``) when
    there are :data:`PACK_MIN` or more, else loose objects. ``look=False`` skips asking git
    which it has (a pack may repeat objects git holds: harmless, and thousands of lookups
    of absent objects cost most of a big first commit's shard writing). ``packed``: each
    object's data compressed at ``level`` already (by a caller that compressed them on
    other threads while it made more)."""
    deflated = dict(zip((o[0] for o in objects), packed)) if packed is not None else None
    unique = dict((o[0], o) for o in objects).values()
    new = [o for o in unique if not git.has_object(o[0])] if look else list(unique)
    if len(new) >= PACK_MIN or (not look and new):
        write_pack(git.git_dir, new, durable=git.durable, level=level,
                   packed=None if deflated is None else [deflated[o[0]] for o in new])
    else:
        for _, obj_type, data in new:
            git.write_object(obj_type, data)


def write_pack(git_dir: str, objects: Sequence[tuple[str, int, bytes]], durable: bool = False,
               level: int = LOOSE_COMPRESSION, packed: Optional[Sequence[bytes]] = None) -> str:
    """Store objects as one pack in ``git_dir``; returns the pack's path (without extension).
    ``durable`` fsyncs both files and the folder before returning."""
    pack, index, name = encode_pack(objects, level, packed)
    folder = os.path.join(git_dir, "objects", "pack")
    os.makedirs(folder, exist_ok=True)
    base = os.path.join(folder, f"pack-{name}")
    write_atomic(base + ".pack", *pack, durable=durable, sync_folder=False)
    write_atomic(base + ".idx", index, durable=durable)  # last, as git finds packs by their index
    maybe_gc(git_dir, folder)
    return base


_repacks: list[subprocess.Popen] = []


def maybe_gc(git_dir: str, folder: str) -> None:
    """Once there are many packs, have git merge them into one, in the background.

    ``git repack -a -d -k`` writes the new pack before it deletes the old
    ones, keeps unreachable objects (a push in flight has sent objects no
    ref names yet) and touches no refs, so readers and writers carry on
    meanwhile (libgit2 looks for new packs when an object is not found).
    """
    _repacks[:] = [p for p in _repacks if p.poll() is None]
    if _repacks or sum(name.endswith(".idx") for name in os.listdir(folder)) <= PACKS_BEFORE_GC:
        return
    try:
        _repacks.append(subprocess.Popen(["git", "--git-dir", git_dir, "repack", "-a", "-d", "-k", "-q"],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True))
    except OSError:
        pass  # no git on PATH: packs just accumulate
