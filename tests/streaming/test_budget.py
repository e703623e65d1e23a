"""A streaming checkout's process stays within ``cache_bytes`` (plus what the caller holds) under
random reads of more data than the cache holds, measured as the peak resident size of a child
process: the memory cache, what is in flight, and what the C heap keeps of what was freed."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from hangar_git import Repository

from ..remote.conftest import ServerRepo

IMAGES = 64
SHAPE = (256, 256)  # float32: 256 KiB each, read object by object (above the batched-rows size)
IMAGE_BYTES = SHAPE[0] * SHAPE[1] * 4
BUDGET = 4 << 20
BATCH = 16  # 4 MiB of arrays returned per read: as much as the whole cache
OVERHEAD = 512 << 10  # the interpreter's own allocations while reading

PEAK_SCRIPT = r"""
import random, sys, warnings
from hangar_git import Repository
path, budget, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
warnings.simplefilter("ignore")
co = Repository(path).checkout(branch="master", stream_from="origin", cache_bytes=budget)
col = co["images"]
col[0]
def peak():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # the peak resident size starts again from the resident size now
base = peak()
keys = list(range(len(col))) * 2  # the second time over, from the directory cache
random.Random(1).shuffle(keys)
for lo in range(0, len(keys), batch):
    col.get_many(keys[lo:lo + batch])
print(peak() - base, co.stream_store.memory.evicted, co.stream_store.source.requests)
"""


def _can_reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _can_reset_peak(),
                    reason="needs Linux's resettable peak resident size (/proc/self/clear_refs)")
def test_peak_rss_of_random_image_reads_holds_the_cache_budget(
        server_address: Callable[[str], ServerRepo], make_repo: Callable[[str], Repository], tmp_path: Path) -> None:
    """Regression: random reads of 200 images twice over with ``cache_bytes`` of a quarter of them
    grew the process by 1.17-1.21x of ``cache_bytes`` beside the arrays returned: a read's images
    from the directory cache were all held until it returned, beside the memory cache, and glibc
    kept the freed blocks of the objects the cache dropped."""
    server = server_address("path")
    source = make_repo("source")
    rng = np.random.default_rng(3)
    with source.checkout(write=True) as co:
        col = co.add_ndarray_column("images", shape=SHAPE, dtype=np.float32)
        with col as c:
            for i in range(IMAGES):
                c[i] = rng.random(SHAPE, dtype=np.float32)
        co.commit("images")
    source.remote.add("origin", server.address)
    source.remote.push("origin", "master")
    clone = Repository(tmp_path / "clone", exists=False)
    clone.remote.quiet = True
    clone.clone("reader", "reader@hangar.invalid", server.address)
    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(clone.path), str(BUDGET), str(BATCH)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    grown, evicted, requests = (int(x) for x in done.stdout.split())
    assert evicted > IMAGES // 2 and requests > 0  # the cache turned over; the first pass came from the remote
    assert grown <= BUDGET + BATCH * IMAGE_BYTES + OVERHEAD, (grown, BUDGET)
