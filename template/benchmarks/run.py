"""Benchmarks: medians and ratios against the limits the project promises.

    uv run python benchmarks/run.py            # every section
    uv run python benchmarks/run.py storage    # one section
    uv run python benchmarks/run.py bus --quick   # fewer rounds (a smoke run)

Each section is a module in this folder with a `SECTION` name and a
`run(quick: bool) -> list[Row]` function; add a module and list it in
`SECTIONS` to add one. Numbers vary with the machine: compare the ratios, not
the absolute times. With `--strict` the exit status is 1 when a ratio misses
its limit (on a quiet machine; a busy one shifts the ratios).
"""

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import Row, print_rows

SECTIONS = ("bus", "gateway", "sandbox", "storage")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=", ".join(SECTIONS))
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a limit is missed")
    arguments = parser.parse_args()
    for name in arguments.sections:
        if name not in SECTIONS:
            parser.error(f"unknown section {name!r} (known: {', '.join(SECTIONS)})")
    failed = False
    for name in arguments.sections or SECTIONS:
        rows: list[Row] = importlib.import_module(name).run(arguments.quick)
        print_rows(name, rows)
        failed = failed or any(not row.within_limit for row in rows)
    return 1 if failed and arguments.strict else 0


if __name__ == "__main__":
    sys.exit(main())
