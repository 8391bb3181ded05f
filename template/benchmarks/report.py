"""What a benchmark section returns, and how it is printed."""

import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One measurement: its median, and its ratio to a baseline against a limit.

    `kind` is "time" (seconds per operation, lower is better) or "rate"
    (operations per second, higher is better). A row without a baseline is one.
    """

    name: str
    median: float
    kind: str = "time"
    baseline: "Row | None" = None
    limit: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None:
            return None
        return self.median / self.baseline.median

    @property
    def within_limit(self) -> bool:
        if self.ratio is None or self.limit is None:
            return True
        return self.ratio <= self.limit if self.kind == "time" else self.ratio >= self.limit


async def median_time(
    operation: Callable[[int], Awaitable[None]], count: int, rounds: int
) -> float:
    """Median over `rounds` of the seconds per operation of `operation(count)`."""
    per_operation = []
    for _ in range(rounds):
        started = time.perf_counter()
        await operation(count)
        per_operation.append((time.perf_counter() - started) / count)
    return statistics.median(per_operation)


def print_rows(section: str, rows: list[Row]) -> None:
    print(f"\n[{section}]")
    print(f"{'measurement':<48} {'median':>14} {'ratio':>16} {'limit':>10}  verdict")
    for row in rows:
        if row.kind == "time":
            median = f"{row.median * 1e6:,.1f} us/op"
        else:
            median = f"{row.median:,.0f} msg/s"
        ratio = f"{row.ratio:.2f}x {row.baseline.name[:6]}" if row.baseline and row.ratio else ""
        limit = ""
        if row.limit is not None:
            limit = f"{'<=' if row.kind == 'time' else '>='} {row.limit:g}x"
        verdict = ("ok" if row.within_limit else "MISSED") if row.limit is not None else ""
        print(f"{row.name:<48} {median:>14} {ratio:>16} {limit:>10}  {verdict}")
