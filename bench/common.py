"""Shared pieces of the benchmarks: result rows, timers, the stock-Hangar baseline."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T")

HERE = os.path.dirname(os.path.abspath(__file__))
STOCK_PY = os.path.join(HERE, ".stock-venv", "bin", "python")


@dataclass
class Figure:
    """One measured figure with its same-run baseline."""

    name: str
    value: float
    unit: str
    baseline_name: str = ""
    baseline_value: Optional[float] = None
    target: str = ""
    higher_is_better: bool = True
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> Optional[float]:
        if not self.baseline_value:
            return None
        return self.value / self.baseline_value

    def row(self) -> dict:
        return {"name": self.name, "value": self.value, "unit": self.unit,
                "baseline_name": self.baseline_name, "baseline_value": self.baseline_value,
                "ratio": self.ratio, "target": self.target, "note": self.note}


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_stock_cache: dict[tuple[int, int], Optional[dict]] = {}


def stock_hangar(n: int, big_count: int) -> Optional[dict]:
    """Stock Hangar 0.5.2's figures on the same workloads, run now (None if not set up)."""
    key = (n, big_count)
    if key not in _stock_cache:
        if not os.path.exists(STOCK_PY):
            _stock_cache[key] = None
        else:
            proc = subprocess.run([STOCK_PY, os.path.join(HERE, "stock_hangar", "workloads.py"), str(n),
                                   "--big-count", str(big_count)], capture_output=True, text=True)
            _stock_cache[key] = json.loads(proc.stdout) if proc.returncode == 0 else None
            if proc.returncode != 0:
                print(f"stock hangar run failed: {proc.stderr[-500:]}", file=sys.stderr)
    return _stock_cache[key]


def print_table(figures: list[Figure]) -> None:
    print(f"{'figure':<52} {'value':>14} {'baseline (same run)':>44} {'ratio':>8}  target")
    for f in figures:
        base = f"{f.baseline_name} {f.baseline_value:,.4g}" if f.baseline_value else "-"
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else "-"
        note = f"  ({f.note})" if f.note else ""
        print(f"{f.name:<52} {f.value:>10,.4g} {f.unit:<4}{base:>44} {ratio:>8}  {f.target}{note}")


class CountingStore:
    """Wraps a store and counts every call made to it."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return attr(*args, **kwargs)
        return counted

    @property
    def reads(self) -> int:
        return sum(n for name, n in self.calls.items() if name in ("read", "read_many", "info"))


def compile_bytecode() -> None:
    """Compile the package's bytecode, as `pip install` does: an editable install under
    PYTHONDONTWRITEBYTECODE would otherwise compile every module in every process it starts
    (about 40 ms for a CLI command or a `git-hangar serve`)."""
    import compileall

    import hangar_git
    compileall.compile_dir(os.path.dirname(hangar_git.__file__), quiet=1)
