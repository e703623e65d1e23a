"""The content digest: BLAKE3 (what objects are named by) beside SHA-256 (format 1), same run.

* throughput on one 64 MiB object, single-threaded (what hangar-git uses), and
  BLAKE3's multithreaded mode for reference (not used: its native thread pool
  does not survive fork);
* per-call cost of small objects (117 bytes, 4 KiB), each hashed as
  :func:`~hangar_git.storage.objects.digest_of` does: a copy of the meta's
  prefix hasher, the bytes, the hex digest.

Rounds alternate between the two algorithms and each figure is the best
round, so both see the same machine load.
"""
from __future__ import annotations

import hashlib
import time
from typing import Any, Callable

import numpy as np
from blake3 import blake3

from hangar_git.storage import digest_of

from .common import Figure

META = "nd:|u1:117"


def best(fn: Callable[[], Any], rounds: int) -> float:
    """Fastest of ``rounds`` timings of ``fn`` (seconds)."""
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def sha256_digest_of(meta: str, data: Any, prefixes: dict[str, Any] = {}) -> str:
    """SHA-256 in the shape of ``digest_of`` (a cached prefix, copied): format 1's small-object form."""
    prefix = prefixes.get(meta)
    if prefix is None:
        prefix = prefixes[meta] = hashlib.sha256(meta.encode() + b"\0")
    h = prefix.copy()
    h.update(data)
    return h.hexdigest()


def bench_throughput(nbytes: int, rounds: int) -> list[Figure]:
    data = np.random.default_rng(0).integers(0, 256, nbytes, dtype=np.uint8).tobytes()
    b3 = sha = b3_mt = float("inf")
    for _ in range(rounds):  # interleaved: one machine load for all three
        b3 = min(b3, best(lambda: digest_of("bytes", data), 1))
        sha = min(sha, best(lambda: sha256_digest_of("bytes", data), 1))
        b3_mt = min(b3_mt, best(lambda: blake3(data, max_threads=blake3.AUTO).digest(), 1))
    mb = nbytes / 1e6
    size = f"{nbytes >> 20} MiB"
    return [Figure(f"digest {size}, BLAKE3 one thread (MB/s)", mb / b3, "MB/s", "SHA-256 one thread", mb / sha,
                   "> SHA-256"),
            Figure(f"digest {size}, BLAKE3 all cores (MB/s, not used)", mb / b3_mt, "MB/s", "BLAKE3 one thread",
                   mb / b3, "", note="rayon pool: unsafe across fork")]


def bench_small(size: int, calls: int, rounds: int) -> list[Figure]:
    rows = np.random.default_rng(size).integers(0, 256, (calls, size), dtype=np.uint8)
    items = [rows[i].tobytes() for i in range(calls)]
    b3 = sha = float("inf")
    for _ in range(rounds):
        b3 = min(b3, best(lambda: [digest_of(META, d) for d in items], 1))
        sha = min(sha, best(lambda: [sha256_digest_of(META, d) for d in items], 1))
    return [Figure(f"digest_of {size} B objects, BLAKE3 (us per call)", b3 / calls * 1e6, "us",
                   "SHA-256, same form", sha / calls * 1e6, "", higher_is_better=False)]


def run(quick: bool = False) -> list[Figure]:
    figs = bench_throughput(64 << 20, 3 if quick else 7)
    calls = 20_000 if quick else 100_000
    figs += bench_small(117, calls, 3 if quick else 5)
    figs += bench_small(4096, calls // 4, 3 if quick else 5)
    return figs
