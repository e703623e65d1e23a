"""Progress bars on stderr ("Counting objects", "Pushing data", ...), silent when not on a terminal."""
from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def progress_enabled(quiet: bool = False) -> bool:
    """Bars are drawn only on an interactive stderr and when not asked to be quiet."""
    if quiet:
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress(desc: str, total: int | None = None, *, unit: str = "obj", quiet: bool = False,
             **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr; ``unit="B"`` scales to kB/MB. Use as a context manager."""
    byte_units = unit == "B"
    return tqdm(desc=desc, total=total, unit=unit, unit_scale=byte_units, unit_divisor=1024 if byte_units else 1000,
                file=sys.stderr, disable=not progress_enabled(quiet), dynamic_ncols=True,
                **kwargs)
