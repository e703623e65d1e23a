"""Run every benchmark: ``python -m bench [--quick] [--only NAME] [--json FILE] [--no-stock]``."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys

from .common import Figure, compile_bytecode, print_table


def modules() -> list[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    return sorted(m.name for m in pkgutil.iter_modules([here]) if m.name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller workloads (CI smoke run)")
    parser.add_argument("--only", action="append", help="run only these bench modules (e.g. core)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--no-stock", action="store_true", help="skip the stock Hangar 0.5.2 baseline")
    args = parser.parse_args(argv)
    if args.no_stock:
        os.environ["HANGAR_BENCH_NO_STOCK"] = "1"
    compile_bytecode()
    figures: list[Figure] = []
    for name in modules():
        if args.only and name.removeprefix("bench_") not in args.only and name not in args.only:
            continue
        print(f"== {name}", file=sys.stderr, flush=True)
        mod = importlib.import_module(f"bench.{name}")
        rows = mod.run(quick=args.quick)
        for row in rows:
            figures.append(row if isinstance(row, Figure) else Figure(**{
                k: row[k] for k in ("name", "value", "unit", "baseline_name", "baseline_value", "target")
                if k in row}))
    print_table(figures)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([f.row() for f in figures], fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
