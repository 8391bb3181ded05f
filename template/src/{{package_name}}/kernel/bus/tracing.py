# Owned by the monocell template: `copier update` replaces this file.
"""OpenTelemetry spans for the bus, through the API only.

Without an SDK configured the spans cost almost nothing and record nothing;
install and configure `opentelemetry-sdk` in the service to export them. The
W3C `traceparent` travels in every envelope either way: when no SDK provides
one, the bus keeps the incoming one, or starts a fresh one at the edge, so
logs of one request can still be joined across processes.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context, trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .envelope import new_traceparent

tracer = trace.get_tracer(__name__.rpartition(".")[0])
propagator = TraceContextTextMapPropagator()


@contextmanager
def span(name: str, kind: SpanKind, parent_traceparent: str) -> Iterator[Span]:
    """A span named `name`, child of the trace in `parent_traceparent` when there is one."""
    parent = propagator.extract({"traceparent": parent_traceparent}) if parent_traceparent else None
    token = context.attach(parent) if parent is not None else None
    try:
        with tracer.start_as_current_span(name, kind=kind) as current:
            yield current
    finally:
        if token is not None:
            context.detach(token)


def outgoing_traceparent(inherited: str) -> str:
    """The traceparent for a message sent now: the SDK's, else the inherited, else new."""
    carrier: dict[str, str] = {}
    propagator.inject(carrier)
    return carrier.get("traceparent") or inherited or new_traceparent()
