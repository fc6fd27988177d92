"""Run the benchmarks: `python -m bench [NAME ...] [--store sqlite|postgres ...] [--scale N]`.

Every module `bench/bench_*.py` exposes `run(stores: list[str]) -> list[Result]`. The exit
status is 1 when any ratio misses its target. Several benchmarks run one after another, each in
a fresh process.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import subprocess
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
    parser.add_argument("--scale", type=int, help="cities of the province benchmark's store "
                                                  "(1-10; default 10)")
    parser.add_argument("--shape", choices=["demo", "province"],
                        help="units under each city of the province benchmark (default "
                             "province: 10 counties × 8 towns × 20 villages)")
    parser.add_argument("--keep", action="store_true",
                        help="province: build its store once into a kept schema, reuse it after")
    parser.add_argument("--stages", help="province: which derived stages, comma-separated "
                                          "(projection,verify,relay,cascade,export; default all)")
    args = parser.parse_args()
    # read by bench_province, here and in a process apart
    if args.scale:
        os.environ["BENCH_SCALE"] = str(args.scale)
    if args.shape:
        os.environ["BENCH_SHAPE"] = args.shape
    if args.keep:
        os.environ["BENCH_KEEP"] = "1"
    if args.stages:
        os.environ["BENCH_STAGES"] = args.stages
    stores = args.store or ["sqlite", "postgres"]
    names = args.names or available()
    if len(names) > 1:
        codes = [run_apart(name, stores) for name in names]
        return 0 if all(code == 0 for code in codes) else 1
    failed = False
    for result in importlib.import_module(f"bench.bench_{names[0]}").run(stores):
        print(result.line(), flush=True)
        failed |= not result.passed
    return 1 if failed else 0


def run_apart(name: str, stores: list[str]) -> int:
    """One benchmark in a process of its own, so none measures on a heap (or a peak RSS)
    another left behind."""
    options = [option for store in stores for option in ("--store", store)]
    return subprocess.run([sys.executable, "-m", "bench", name, *options]).returncode


if __name__ == "__main__":
    sys.exit(main())
