"""What the children of the process tests run: importable, so every start method can pickle it.

:class:`Samples` is written the way users write a PyTorch ``Dataset`` over a hangar
checkout: it opens the checkout on first use and keeps it, so under ``fork`` a
child reads through the checkout (store, pools, TileDB handles) its parent opened.
"""
from __future__ import annotations

import hashlib
import multiprocessing as mp
from typing import Any, Optional

from hangar_git import Repository


def fingerprint(value: Any) -> str:
    """What the tests compare: dtype, shape and the SHA-256 of the bytes."""
    return f"{value.dtype}:{value.shape}:{hashlib.sha256(value.tobytes()).hexdigest()}"


class Samples:
    """(column, key) pairs of a repository's master head, read by index."""

    def __init__(self, path: str, index: list[tuple[str, str]]) -> None:
        self.path, self.index = path, index
        self._co: Optional[Any] = None

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> Any:
        if self._co is None:
            self._co = Repository(self.path).checkout()
        column, key = self.index[i]
        return self._co.columns[column][key]

    def __getstate__(self) -> dict[str, Any]:  # spawn and forkserver pickle the dataset
        return {"path": self.path, "index": self.index, "_co": None}


def worker_loop(dataset: Samples, indices: list[int], out: "mp.Queue[tuple[int, str]]") -> None:
    """A DataLoader worker: read the samples it is given, send their fingerprints back."""
    for i in indices:
        out.put((i, fingerprint(dataset[i])))


def read_fresh(args: tuple[str, str, str]) -> str:
    """Open the repository in this process and fingerprint one sample (for ``Pool.map``)."""
    path, column, key = args
    with Repository(path).checkout() as co:
        return fingerprint(co.columns[column][key])
