# Owned by the monocell template: `copier update` replaces this file.
"""Prometheus metrics of the bus, per message type and cell.

They live in `REGISTRY` (prometheus-client's default registry, which also has
the process metrics), so whatever serves `/metrics` exposes them with
`prometheus_client.generate_latest(REGISTRY)`. Label values are bounded: cell
names and message types come from the code, never from input.
"""

import functools
from dataclasses import dataclass

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

__all__ = [
    "REGISTRY",
    "HandlerMetrics",
    "dead_lettered",
    "handler_metrics",
    "queue_depth",
]

LABELS = ("cell", "message_type")

HANDLED = Counter("bus_handled", "Messages a cell's handler finished, by outcome.", LABELS)
ERRORS = Counter(
    "bus_handler_errors", "Messages a cell's handler failed or rejected.", (*LABELS, "code")
)
LATENCY = Histogram(
    "bus_handler_seconds",
    "Time a cell's handler took, in seconds.",
    LABELS,
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
# Process CPU time (time.process_time) elapsed while a handler ran. While a
# handler awaits, other tasks may run and their CPU time is counted too, so
# this over-counts under concurrency; it is a trigger input, not a profiler.
CPU = Counter(
    "bus_handler_cpu_seconds", "Process CPU time elapsed while a cell's handler ran.", LABELS
)
QUEUE_DEPTH = Gauge("bus_queue_depth", "Messages waiting for a cell.", LABELS)
DEAD_LETTERS = Counter("bus_dead_letters", "Events given up on after every attempt.", LABELS)
EXPIRED = Counter(
    "bus_expired", "Commands refused unrun: their deadline had passed on arrival.", LABELS
)
SENT = Counter(
    "bus_sent", "Commands sent and events published, by message type.", ("message_type",)
)


@dataclass(frozen=True)
class HandlerMetrics:
    """The metric children of one (cell, message type), looked up once at registration."""

    cell: str
    message_type: str
    handled: Counter
    latency: Histogram
    cpu: Counter
    expired: Counter

    def failed(self, code: str) -> None:
        ERRORS.labels(self.cell, self.message_type, code).inc()


def handler_metrics(cell: str, message_type: str) -> HandlerMetrics:
    """Metrics for one handler (labels resolved once: they are looked up per message)."""
    return HandlerMetrics(
        cell=cell,
        message_type=message_type,
        handled=HANDLED.labels(cell, message_type),
        latency=LATENCY.labels(cell, message_type),
        cpu=CPU.labels(cell, message_type),
        expired=EXPIRED.labels(cell, message_type),
    )


def queue_depth(cell: str, message_type: str) -> Gauge:
    """The queue-depth gauge of one (cell, message type)."""
    return QUEUE_DEPTH.labels(cell, message_type)


def dead_lettered(cell: str, message_type: str) -> None:
    """Count one dead letter."""
    DEAD_LETTERS.labels(cell, message_type).inc()


@functools.cache
def sent(message_type: str) -> Counter:
    """The counter of commands sent / events published of one type (looked up once)."""
    return SENT.labels(message_type)
