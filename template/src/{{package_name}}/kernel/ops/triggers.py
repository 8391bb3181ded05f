# Owned by the monocell template: `copier update` replaces this file.
"""Triggers: compare what the service measured with the thresholds in topology.toml.

The input is the Prometheus text the service exposes on its metrics endpoint
(or a saved copy of it). Per cell it derives:

- p99 handler latency, from the `bus_handler_seconds` histogram (the same
  interpolation as PromQL's `histogram_quantile`);
- queue depth, the sum of `bus_queue_depth` over the cell's message types;
- message rate, messages handled divided by the process's uptime;
- CPU share, the cell's `bus_handler_cpu_seconds` over `process_cpu_seconds`;
- error rate, handler failures (business rejections excluded) over handled;

plus the risk rule, which needs no metric: a high-risk cell placed in-process
fires. Counters are cumulative since the process started, so a value is an
average over the process's life; scrape a fresh process under the load you
care about, or compare saved snapshots.

A fired trigger yields a recommended placement: risk moves a cell into the
sandbox; load (latency, queue, rate, CPU) moves an in-process cell to a remote
worker over NATS. Error rates are reported, never acted on: more isolation
does not fix a bug.
"""

import http.client
import math
import re
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from ..config.thresholds import Thresholds, effective
from ..config.topology import Topology
from ..core.cell import Cell, Risk

SCRAPED_AT = re.compile(r"^# monocell scraped_at=(?P<at>[0-9.]+)$", re.MULTILINE)
# A fresh service already lists its bus families (`# TYPE bus_handled_total counter`).
BUS_METRIC = re.compile(r"^(?:# (?:HELP|TYPE) )?bus_", re.MULTILINE)
# The service's own page is tens of KB; far more means another endpoint.
MAX_BYTES = 4 * 1024 * 1024
LOAD_TRIGGERS = ("p99_latency_ms", "queue_depth", "message_rate", "cpu_share")


class MetricsError(Exception):
    """The metrics could not be read or parsed; the message is one line."""


@dataclass
class CellMeasure:
    """What the metrics say about one cell."""

    handled: float = 0.0
    errors: float = 0.0
    cpu_seconds: float = 0.0
    queue_depth: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)  # upper bound -> cumulative count


@dataclass
class Measurements:
    """Everything `check` needs, parsed from one scrape."""

    cells: dict[str, CellMeasure]
    process_cpu_seconds: float | None
    uptime_seconds: float | None


@dataclass(frozen=True)
class Verdict:
    """One trigger of one cell: its threshold, the measured value, whether it fired."""

    cell: str
    trigger: str
    threshold: float | bool | None
    measured: float | None
    fired: bool


@dataclass(frozen=True)
class Recommendation:
    """A placement change the fired triggers call for."""

    cell: str
    current: str
    recommended: str
    because: str


def fetch(url: str, timeout: float = 5.0) -> str:
    """The metrics text at `url`, stamped with the time it was read."""
    if not url.startswith(("http://", "https://")):
        raise MetricsError(f"--metrics-url: expected an http(s) URL, got {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 -- scheme checked
            body = response.read(MAX_BYTES + 1)
            if len(body) <= MAX_BYTES:  # all of it: b"" more, or IncompleteRead if cut off
                body += response.read()
    except (OSError, ValueError) as error:
        raise MetricsError(f"--metrics-url: cannot read {url} ({_short(str(error))})") from None
    except http.client.HTTPException as error:  # not an HTTP server, or a cut-off response
        raise MetricsError(
            f"--metrics-url: cannot read {url} (bad HTTP: {_short(repr(error))})"
        ) from None
    if len(body) > MAX_BYTES:
        raise MetricsError(
            f"--metrics-url: {url} sent more than {MAX_BYTES // 2**20} MB "
            "(is this the service's metrics port?)"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MetricsError(
            f"--metrics-url: {url} sent no UTF-8 text (is this the service's metrics port?)"
        ) from None
    require_bus_metrics(text, f"at {url} (is this the service's metrics port?)")
    return f"# monocell scraped_at={time.time():.3f}\n{text}"


def require_bus_metrics(text: str, where: str) -> None:
    """Refuse a page or file without the bus's metrics: it would fire no trigger and
    say "keep the current placements" about a service it never measured."""
    if not BUS_METRIC.search(text):
        raise MetricsError(f"metrics: no monocell bus metrics {where}")


def parse(text: str) -> Measurements:
    """Parse Prometheus text exposition into per-cell measurements."""
    cells: dict[str, CellMeasure] = defaultdict(CellMeasure)
    process_cpu: float | None = None
    started: float | None = None
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as error:
        raise MetricsError(f"metrics: not Prometheus text format ({_short(str(error))})") from None
    for family in families:
        for sample in family.samples:
            cell = sample.labels.get("cell")
            name, value = sample.name, sample.value
            if not math.isfinite(value) and (cell is not None or name.startswith("process_")):
                # NaN compares false with every threshold: no trigger could ever fire.
                of = f" of cell {_short(repr(cell))}" if cell is not None else ""
                raise MetricsError(f"metrics: {name}{of} is {value}, expected a finite number")
            if name == "process_cpu_seconds_total":
                process_cpu = value
            elif name == "process_start_time_seconds":
                started = value
            elif cell is None:
                continue
            elif name == "bus_handled_total":
                cells[cell].handled += value
            elif name == "bus_handler_errors_total" and sample.labels.get("code") != "rejected":
                cells[cell].errors += value
            elif name == "bus_handler_cpu_seconds_total":
                cells[cell].cpu_seconds += value
            elif name == "bus_queue_depth":
                cells[cell].queue_depth += value
            elif name == "bus_handler_seconds_bucket":
                bound = _bucket_bound(sample.labels.get("le"), cell)
                cells[cell].buckets[bound] = cells[cell].buckets.get(bound, 0.0) + value
    return Measurements(dict(cells), process_cpu, _uptime(text, started))


def _bucket_bound(le: str | None, cell: str) -> float:
    """A histogram bucket's upper bound; a missing or non-numeric `le` is refused."""
    try:
        bound = float(le) if le is not None else math.nan
    except ValueError:
        bound = math.nan
    if not math.isnan(bound):
        return bound
    got = "none" if le is None else _short(repr(le))
    raise MetricsError(
        f"metrics: bus_handler_seconds_bucket of cell {_short(repr(cell))}: "
        f"expected a numeric le label, got {got}"
    )


def _uptime(text: str, started: float | None) -> float | None:
    """Seconds between the process start and the scrape, when both are known."""
    stamp = SCRAPED_AT.search(text)
    if stamp is None or started is None:
        return None
    try:
        return float(stamp["at"]) - started
    except ValueError:
        raise MetricsError(
            f"metrics: # monocell scraped_at: expected seconds, got {_short(repr(stamp['at']))}"
        ) from None


def _short(quoted: str, limit: int = 80) -> str:
    """At most `limit` characters of text quoted from the input: errors stay one short line."""
    return quoted if len(quoted) <= limit else f"{quoted[:limit]}... ({len(quoted)} characters)"


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The q-quantile of a cumulative histogram, interpolated within its bucket."""
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # above the highest finite bucket: its bound is the estimate
            width = count - lower_count
            fraction = (rank - lower_count) / width if width else 1.0
            return lower_bound + (bound - lower_bound) * fraction
        lower_bound, lower_count = bound, count
    return bounds[-1]


def measured_value(trigger: str, cell: CellMeasure | None, data: Measurements) -> float | None:
    """The measured value one trigger compares, or None when the metrics cannot tell."""
    if cell is None:
        return None
    if trigger == "p99_latency_ms":
        p99 = quantile(0.99, cell.buckets)
        return None if p99 is None else p99 * 1000
    if trigger == "queue_depth":
        return cell.queue_depth
    if trigger == "message_rate":
        return cell.handled / data.uptime_seconds if data.uptime_seconds else None
    if trigger == "cpu_share":
        return cell.cpu_seconds / data.process_cpu_seconds if data.process_cpu_seconds else None
    if trigger == "error_rate":
        return cell.errors / cell.handled if cell.handled else None
    raise ValueError(trigger)


def evaluate(
    topology: Topology, cells: Sequence[Cell], data: Measurements
) -> tuple[list[Verdict], list[Recommendation]]:
    """Every trigger of every cell, and the placement changes the fired ones call for."""
    verdicts: list[Verdict] = []
    recommendations: list[Recommendation] = []
    for cell in cells:
        settings = topology.cells.get(cell.name)
        limits: Thresholds = effective(topology.triggers, settings.triggers if settings else None)
        placement = topology.placement_of(cell.name)
        measure = data.cells.get(cell.name)
        fired: list[Verdict] = []
        for trigger in (*LOAD_TRIGGERS, "error_rate"):
            threshold = getattr(limits, trigger)
            value = measured_value(trigger, measure, data)
            hit = threshold is not None and value is not None and value > threshold
            verdict = Verdict(cell.name, trigger, threshold, value, hit)
            verdicts.append(verdict)
            if hit:
                fired.append(verdict)
        risky = limits.risk and cell.risk is Risk.HIGH and placement == "inprocess"
        verdicts.append(Verdict(cell.name, "risk", limits.risk, None, risky))
        if risky:
            recommendations.append(
                Recommendation(cell.name, placement, "sandbox", "high-risk cell runs in-process")
            )
            continue
        load = [v for v in fired if v.trigger in LOAD_TRIGGERS]
        if load and placement == "inprocess":
            because = ", ".join(f"{v.trigger} {v.measured:.3g} > {v.threshold:g}" for v in load)
            recommendations.append(Recommendation(cell.name, placement, "remote", because))
    return verdicts, recommendations


def render(verdicts: Iterable[Verdict]) -> str:
    """The table `triggers check` prints."""
    lines = [f"{'cell':<16} {'trigger':<15} {'threshold':>10} {'measured':>10}  fired"]
    for v in verdicts:
        threshold = "off" if v.threshold in (None, False) else f"{v.threshold:g}"
        if v.trigger == "risk":
            threshold = "on" if v.threshold else "off"
        measured = "-" if v.measured is None else f"{v.measured:.4g}"
        lines.append(
            f"{v.cell:<16} {v.trigger:<15} {threshold:>10} {measured:>10}  "
            f"{'FIRED' if v.fired else 'no'}"
        )
    return "\n".join(lines) + "\n"
