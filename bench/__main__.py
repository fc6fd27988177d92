"""Run the benchmarks: `python -m bench [NAME ...] [--store sqlite|postgres ...]`.

Every module `bench/bench_*.py` exposes `run(stores: list[str]) -> list[Result]`. The exit
status is 1 when any ratio misses its target.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import bench


def available() -> list[str]:
    return sorted(m.name.removeprefix("bench_") for m in pkgutil.iter_modules(bench.__path__)
                  if m.name.startswith("bench_"))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"which benchmarks (default all: "
                                                 f"{', '.join(available())})")
    parser.add_argument("--store", action="append", choices=["sqlite", "postgres"],
                        help="stores to measure (default both)")
    args = parser.parse_args()
    stores = args.store or ["sqlite", "postgres"]
    failed = False
    for name in args.names or available():
        module = importlib.import_module(f"bench.bench_{name}")
        for result in module.run(stores):
            print(result.line(), flush=True)
            failed |= not result.passed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
