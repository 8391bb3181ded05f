# Owned by the monocell template: `copier update` replaces this file.
"""OpenTelemetry spans for the bus, through the API only.

Without an SDK configured, the bus skips the span machinery altogether (the API
would only hand out no-op spans, at a cost comparable to the whole in-memory hop);
install and configure `opentelemetry-sdk` in the service and every send, publish
and handler gets its span, linked across processes. The W3C `traceparent`
travels in every envelope either way: without an SDK the bus keeps the incoming
one, or starts a fresh one at the edge, so the logs of one request can still be
joined across processes.
"""

import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

tracer = trace.get_tracer(__name__.rpartition(".")[0])
propagator = TraceContextTextMapPropagator()
WITHOUT_SDK = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)


class SpanLike(Protocol):
    """What the bus does with a span: mark it failed."""

    def set_status(self, status: StatusCode, description: str | None = None, /) -> Any: ...


class _NoSpan:
    """Stands in for a span when no SDK records them: entering it costs nothing."""

    def __enter__(self) -> "_NoSpan":
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def set_status(self, status: StatusCode, description: str | None = None, /) -> None:
        return None


NO_SPAN = _NoSpan()


class _SdkCheck:
    """Whether an SDK tracer provider is set, looked up at most once a second.

    `get_tracer_provider()` reads the environment on every call, which costs as
    much as a whole in-memory send; a provider is set once and never unset.
    """

    seen = False
    next_check = 0.0


def enabled() -> bool:
    """True once the service has configured an OpenTelemetry SDK tracer provider."""
    if _SdkCheck.seen:
        return True
    now = time.monotonic()
    if now >= _SdkCheck.next_check:
        _SdkCheck.next_check = now + 1.0
        _SdkCheck.seen = not isinstance(trace.get_tracer_provider(), WITHOUT_SDK)
    return _SdkCheck.seen


def span(
    verb: str, message_type: str, kind: SpanKind, parent_traceparent: str
) -> AbstractContextManager[SpanLike]:
    """A span `<verb> <message_type>`, child of `parent_traceparent`'s trace when given."""
    if not enabled():
        return NO_SPAN
    return _recorded_span(f"{verb} {message_type}", kind, parent_traceparent)


@contextmanager
def _recorded_span(name: str, kind: SpanKind, parent_traceparent: str) -> Iterator[SpanLike]:
    """Child of the active span when there is one (the handler's, for what it sends),
    else of the envelope's traceparent (a message arriving from another process)."""
    parent = None
    if parent_traceparent and not trace.get_current_span().get_span_context().is_valid:
        parent = propagator.extract({"traceparent": parent_traceparent})
    token = context.attach(parent) if parent is not None else None
    try:
        with tracer.start_as_current_span(name, kind=kind) as current:
            yield current
    finally:
        if token is not None:
            context.detach(token)


def outgoing_traceparent(inherited: str) -> str:
    """The traceparent for a message sent now: the SDK's, else the inherited, else new."""
    if enabled():
        carrier: dict[str, str] = {}
        propagator.inject(carrier)
        if "traceparent" in carrier:
            return carrier["traceparent"]
    return inherited or new_traceparent()


def new_traceparent() -> str:
    """A fresh W3C traceparent (random trace and parent ids, sampled flag set)."""
    ids = os.urandom(24).hex()
    return f"00-{ids[:32]}-{ids[32:]}-01"
