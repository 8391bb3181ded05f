"""How the template's benchmarks print a comparison: medians, ratio, target, met or missed.

The rows are the generated project's own `report.Row` (template/benchmarks/report.py,
copied verbatim into every project): a measurement, the baseline it is compared
with, and the limit its ratio is held to. The verdict is computed here from those
numbers, never typed in.
"""

from typing import Protocol


class Comparable(Protocol):
    """What a row needs to offer (report.Row does)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def limit(self) -> float | None: ...

    @property
    def median(self) -> float: ...

    @property
    def ratio(self) -> float | None: ...

    @property
    def within_limit(self) -> bool: ...

    @property
    def baseline(self) -> "Comparable | None": ...


def amount(row: Comparable, rate_unit: str) -> str:
    """A median as people read it: seconds or microseconds per operation, or a rate."""
    if row.kind == "rate":
        return f"{1 / row.median:,.0f} {rate_unit}"
    if row.median >= 0.01:
        return f"{row.median:,.2f} s"
    return f"{row.median * 1e6:,.1f} us"


def verdict(row: Comparable) -> str:
    """'met' or 'missed' from the ratio and the limit; '-' when the row has no target."""
    if row.limit is None or row.ratio is None:
        return "-"
    return "met" if row.within_limit else "missed"


def target(row: Comparable) -> str:
    if row.limit is None:
        return "-"
    return f"{'<=' if row.kind == 'time' else '>='} {row.limit:g}x"


def print_verdicts(section: str, rows: list[Comparable], rate_unit: str = "/s") -> None:
    """One line per row; the ratio is time / baseline time, or rate / baseline rate."""
    print(f"\n[{section}]")
    width = max(len(f"{row.name} vs {row.baseline.name}") for row in rows if row.baseline) + 2
    header = f"{'median':>14} {'baseline':>14} {'ratio':>7} {'target':>8}  verdict"
    print(f"{'measurement':<{width}} {header}")
    for row in rows:
        if row.baseline is None:
            raise ValueError(f"{row.name}: a compared row needs a baseline")
        print(
            f"{row.name + ' vs ' + row.baseline.name:<{width}} {amount(row, rate_unit):>14} "
            f"{amount(row.baseline, rate_unit):>14} {row.ratio:>6.2f}x {target(row):>8}  "
            f"{verdict(row)}"
        )
    missed = sum(verdict(row) == "missed" for row in rows)
    print(f"{len(rows)} rows, {missed} missed")
