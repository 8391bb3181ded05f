# Owned by the monocell template: `copier update` replaces this file.
"""Prometheus metrics of the bus, per message type and cell.

They live in `REGISTRY` (prometheus-client's default registry, which also has
the process metrics), so whatever serves `/metrics` exposes them with
`prometheus_client.generate_latest(REGISTRY)`. Label values are bounded: cell
names and message types come from the code, never from input.
"""

import bisect
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

__all__ = [
    "REGISTRY",
    "HandlerMetrics",
    "count_sent",
    "dead_lettered",
    "handler_metrics",
    "queue_depth",
]

LABELS = ("cell", "message_type")
BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_LE = (*(str(float(bound)) for bound in BUCKETS), "+Inf")  # as prometheus-client writes them

ERRORS = Counter(
    "bus_handler_errors", "Messages a cell's handler failed or rejected.", (*LABELS, "code")
)
QUEUE_DEPTH = Gauge("bus_queue_depth", "Messages waiting for a cell.", LABELS)
DEAD_LETTERS = Counter("bus_dead_letters", "Events given up on after every attempt.", LABELS)
EXPIRED = Counter(
    "bus_expired", "Commands refused unrun: their deadline had passed on arrival.", LABELS
)


class HandlerMetrics:
    """What one (cell, message type) handler did: plain numbers, read when scraped.

    Every message a handler finishes updates these, so they are attributes of
    one object rather than prometheus-client children: a child's `inc` takes a
    lock and checks its value (0.3 us; 0.65 us for a histogram's `observe`),
    four of them per message, while the event loop that updates these numbers
    is the only writer. `_BusCollector` turns them into the usual metric
    families (`bus_handled_total`, `bus_handler_seconds` buckets, ...) at
    scrape time. The rare outcomes (errors, expired) stay prometheus counters.
    """

    __slots__ = (
        "buckets", "cell", "cpu_seconds", "expired", "handled", "latency_sum", "message_type",
    )  # fmt: skip

    def __init__(self, cell: str, message_type: str) -> None:
        self.cell = cell
        self.message_type = message_type
        self.handled = 0
        self.cpu_seconds = 0.0
        self.latency_sum = 0.0
        self.buckets = [0] * (len(BUCKETS) + 1)  # per bucket, not cumulative; the last is +Inf
        self.expired = EXPIRED.labels(cell, message_type)

    def finished(self, seconds: float, cpu_seconds: float) -> None:
        """One message handled (whatever the outcome) in `seconds`, using `cpu_seconds`."""
        self.handled += 1
        self.latency_sum += seconds
        self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1  # le: at most the bound
        self.cpu_seconds += cpu_seconds

    def failed(self, code: str) -> None:
        ERRORS.labels(self.cell, self.message_type, code).inc()


_handlers: dict[tuple[str, str], HandlerMetrics] = {}
_sent: dict[str, int] = {}


def handler_metrics(cell: str, message_type: str) -> HandlerMetrics:
    """The metrics of one handler, shared by every bus of this process that runs it."""
    key = (cell, message_type)
    found = _handlers.get(key)
    if found is None:
        found = _handlers[key] = HandlerMetrics(cell, message_type)
    return found


def count_sent(message_type: str) -> None:
    """Count one command sent or event published."""
    _sent[message_type] = _sent.get(message_type, 0) + 1


def queue_depth(cell: str, message_type: str) -> Gauge:
    """The queue-depth gauge of one (cell, message type)."""
    return QUEUE_DEPTH.labels(cell, message_type)


def dead_lettered(cell: str, message_type: str) -> None:
    """Count one dead letter."""
    DEAD_LETTERS.labels(cell, message_type).inc()


class _BusCollector:
    """The plain numbers above as Prometheus metric families, built when scraped."""

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        handlers = list(_handlers.values())  # the loop may add one while a scrape runs
        handled, latency, cpu, sent = self._families()
        for numbers in handlers:
            labels = [numbers.cell, numbers.message_type]
            handled.add_metric(labels, numbers.handled)
            cpu.add_metric(labels, numbers.cpu_seconds)
            running, buckets = 0, []
            for bound, count in zip(_LE, numbers.buckets, strict=True):
                running += count
                buckets.append((bound, running))
            latency.add_metric(labels, buckets, numbers.latency_sum)
        for message_type, count in list(_sent.items()):
            sent.add_metric([message_type], count)
        yield from (handled, latency, cpu, sent)

    @staticmethod
    def _families() -> tuple[
        CounterMetricFamily, HistogramMetricFamily, CounterMetricFamily, CounterMetricFamily
    ]:
        return (
            CounterMetricFamily(
                "bus_handled", "Messages a cell's handler finished, by outcome.", labels=LABELS
            ),
            HistogramMetricFamily(
                "bus_handler_seconds", "Time a cell's handler took, in seconds.", labels=LABELS
            ),
            # Process CPU time (time.process_time) elapsed while a handler ran. While
            # a handler awaits, other tasks may run and their CPU time is counted too,
            # so this over-counts under concurrency; a trigger input, not a profiler.
            CounterMetricFamily(
                "bus_handler_cpu_seconds",
                "Process CPU time elapsed while a cell's handler ran.",
                labels=LABELS,
            ),
            CounterMetricFamily(
                "bus_sent",
                "Commands sent and events published, by message type.",
                labels=("message_type",),
            ),
        )


REGISTRY.register(_BusCollector())
