"""Writing files, optionally fsynced: shared by the layers that keep their own files."""
from __future__ import annotations

import os
from typing import Union

Buffer = Union[bytes, bytearray, memoryview]


def write_file(path: str, *parts: Buffer, durable: bool = False) -> None:
    """Write ``parts`` to a new file at ``path``; ``durable`` fsyncs it before returning."""
    with open(path, "wb") as fh:
        for part in parts:
            fh.write(part)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())


def fsync_dir(path: str) -> None:
    """Make the renames and new names in folder ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
