"""`python -m schemas [--release]`: regenerate the Avro schemas from the domain, check them
against every released version, and optionally freeze them as the next release."""

from __future__ import annotations

import argparse
import sys

from schemas import generate
from schemas.compat import incompatibilities


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas", description=generate.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", action="store_true",
                        help="freeze the generated schemas as the next released version")
    args = parser.parse_args(argv)
    try:
        generate.write(generate.expected_files())
    except (generate.SchemaDocError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    problems = incompatibilities()
    for problem in problems:
        print(f"incompatible: {problem}", file=sys.stderr)
    if problems:
        return 1
    if args.release:
        print(f"released {generate.release()}")
        generate.write(generate.expected_files())  # the index now lists the new version's files too
    return 0


if __name__ == "__main__":
    sys.exit(main())
