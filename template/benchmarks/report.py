"""What a benchmark section returns, how it measures, and how it is printed."""

import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

Operation = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class Row:
    """One measurement: seconds per operation in each round, and a baseline to compare.

    `kind` "time" prints the median time per operation (lower is better);
    "rate" prints operations per second (higher is better). The ratio is the
    median of the per-round ratios: rounds are interleaved with the baseline's,
    so a change in machine load hits both alike.
    """

    name: str
    samples: tuple[float, ...]
    kind: str = "time"
    baseline: "Row | None" = None
    limit: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None:
            return None
        pairs = zip(self.samples, self.baseline.samples, strict=True)
        if self.kind == "time":
            return statistics.median(mine / theirs for mine, theirs in pairs)
        return statistics.median(theirs / mine for mine, theirs in pairs)

    @property
    def within_limit(self) -> bool:
        ratio = self.ratio
        if ratio is None or self.limit is None:
            return True
        return ratio <= self.limit if self.kind == "time" else ratio >= self.limit


async def interleaved(
    operations: Mapping[str, Operation], count: int, rounds: int
) -> dict[str, tuple[float, ...]]:
    """Seconds per operation of each `operation(count)`, round by round, interleaved."""
    samples: dict[str, list[float]] = {name: [] for name in operations}
    for _ in range(rounds):
        for name, operation in operations.items():
            started = time.perf_counter()
            await operation(count)
            samples[name].append((time.perf_counter() - started) / count)
    return {name: tuple(values) for name, values in samples.items()}


def print_rows(section: str, rows: list[Row]) -> None:
    print(f"\n[{section}]")
    print(f"{'measurement':<44} {'median':>15} {'ratio':>7} {'limit':>8} {'verdict':<7}  against")
    for row in rows:
        if row.kind == "time":
            median = f"{row.median * 1e6:,.1f} us/op"
        else:
            median = f"{1 / row.median:,.0f} msg/s"
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        limit = ""
        if row.limit is not None:
            limit = f"{'<=' if row.kind == 'time' else '>='} {row.limit:g}x"
        verdict = ("ok" if row.within_limit else "MISSED") if row.limit is not None else ""
        against = row.baseline.name if row.baseline is not None else ""
        print(f"{row.name:<44} {median:>15} {ratio:>7} {limit:>8} {verdict:<7}  {against}")
