# Owned by the monocell template: `copier update` replaces this file.
"""The bus facade: the one API cells and the gateway use, whatever the transport.

    bus = Bus(MemoryTransport())            # or NatsTransport(url, namespace=...)
    await bus.start()
    await bus.register(orders.cell)         # its commands and event subscriptions
    accepted = await bus.send(PlaceOrder(sku="A1", quantity=2))   # -> OrderAccepted
    await bus.publish(SomethingHappened(...))
    await bus.close()                       # drains in-flight work

`send` delivers a command to exactly one handler and returns its typed reply,
or raises one of `kernel.core.errors`: `NoHandlerError`, `DeadlineExceededError`,
`HandlerFailedError` (the handler's details stay in its log), `RejectedError`
(the handler's reason and detail, as raised), `SerializationError` (a payload
that breaks its contract), `UnavailableError` (not running, disconnected from
the transport, or overloaded: refused at once rather than waited out).
A command whose deadline passed before it reached its handler is refused
unrun (`DeadlineExceededError`, counted in `bus_expired`): its sender gave up,
so running it would do work nobody waits for.
`publish` delivers an event to every consuming cell; instances of one cell compete.

`register` takes a `Cell` and reads only its name and its `commands`/`events`
maps of plain async callables, so a placement can register a copy of a cell
whose handlers forward elsewhere (`dataclasses.replace(cell, commands=...)`).
"""

import asyncio
import logging
import time
from typing import Any, TypeVar

from opentelemetry.trace import SpanKind, StatusCode

from ..core.cell import Cell, CommandHandler, EventHandler
from ..core.contracts import (
    Command,
    Event,
    Reply,
    message_type_of,
    reply_type_of,
)
from ..core.deadline import deadline_after, expired, remaining
from ..core.errors import (
    BusError,
    DeadlineExceededError,
    HandlerFailedError,
    OutageError,
    RejectedError,
    UnavailableError,
    UndeclaredError,
)
from ..core.principal import ANONYMOUS, Principal
from . import metrics
from .codec import (
    ERROR_TYPE,
    decode,
    encode,
    error_body,
    error_from_body,
)
from .context import HandlerContext
from .envelope import Envelope, new_id, now_rfc3339
from .handler_deadline import Deadlines
from .tracing import outgoing_traceparent, span
from .transport import (
    Consumer,
    DeadLetter,
    Responder,
    Transport,
)

ReplyT = TypeVar("ReplyT", bound=Reply)

PACKAGE = __package__.partition(".")[0]
logger = logging.getLogger(__name__)


class Bus:
    """Sends commands, publishes events and runs the registered cells' handlers."""

    def __init__(
        self,
        transport: Transport,
        *,
        source: str = f"/{PACKAGE}",
        default_timeout: float = 5.0,
        drain_timeout: float = 10.0,
    ) -> None:
        self.transport = transport
        self.source = source
        self.default_timeout = default_timeout
        self.drain_timeout = drain_timeout
        self.cells: list[str] = []
        self._accepting = False
        self._reply_types: dict[type[Any], tuple[str, str, type[Reply]]] = {}
        self._deadlines = Deadlines()  # of the command handlers running here
        self._sends: dict[str, frozenset[type[Command[Any]]]] = {}

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Connect the transport; `send` and `publish` work from here on."""
        await self.transport.start()
        self._accepting = True

    async def close(self) -> None:
        """Refuse new outside messages, let in-flight handlers finish, disconnect."""
        self._accepting = False
        await self.transport.close(self.drain_timeout)

    async def __aenter__(self) -> "Bus":
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def ready(self) -> bool:
        """True while the bus accepts messages and its transport is connected."""
        return self._accepting and self.transport.ready

    @property
    def problem(self) -> str | None:
        """Why the bus is not ready, or degraded though ready; None when all is well."""
        if not self.ready:
            return "the bus is not connected"
        return self.transport.problem

    async def dead_letters(self) -> list[DeadLetter]:
        """Events every attempt failed for (oldest first), for inspection."""
        return await self.transport.dead_letters()

    # -- registration --------------------------------------------------------------

    async def register(self, cell: Cell) -> None:
        """Serve the cell's commands and subscribe the cell to its events."""
        self._sends[cell.name] = frozenset(cell.sends)
        for command_cls, command_handler in cell.commands.items():
            message_type = message_type_of(command_cls)
            responder = self._responder(cell.name, command_cls, command_handler)
            await self.transport.serve(message_type, cell.name, responder)
        for event_cls, event_handler in cell.events.items():
            consumer = self._consumer(cell.name, event_cls, event_handler)
            await self.transport.consume(message_type_of(event_cls), cell.name, consumer)
        self.cells.append(cell.name)

    # -- the outside API -----------------------------------------------------------

    async def send(
        self,
        command: Command[ReplyT],
        *,
        timeout: float | None = None,
        correlation_id: str | None = None,
        idempotency_key: str = "",
        principal: Principal = ANONYMOUS,
        traceparent: str = "",
    ) -> ReplyT:
        """Deliver `command` to its one handler and return the reply (see module doc).

        With an `idempotency_key`, a cell that keeps data answers a repeat of the
        same command with the first reply instead of running it again. The
        `principal` (who asked) reaches the handler as `context.principal`; a
        `traceparent` joins the command to the caller's trace.
        """
        if not self._accepting:
            raise UnavailableError("bus: not running")
        return await self.dispatch_send(
            command,
            timeout=timeout,
            correlation_id=correlation_id,
            traceparent=traceparent,
            source="",
            idempotency_key=idempotency_key,
            principal=principal,
        )

    async def publish(
        self,
        event: Event,
        *,
        correlation_id: str | None = None,
        message_id: str | None = None,
    ) -> None:
        """Deliver `event` to every consuming cell. The same `message_id` twice counts once."""
        if not self._accepting:
            raise UnavailableError("bus: not running")
        await self.dispatch_publish(
            event,
            correlation_id=correlation_id,
            message_id=message_id,
            traceparent="",
            source="",
        )

    # -- shared by the outside API and handler contexts ----------------------------

    async def dispatch_send(
        self,
        command: Command[ReplyT],
        *,
        timeout: float | None,
        correlation_id: str | None,
        traceparent: str,
        source: str,
        idempotency_key: str = "",
        principal: Principal = ANONYMOUS,
    ) -> ReplyT:
        """`send` without the running check: handlers may still send while draining."""
        message_type, reply_type, reply_cls = self._reply_type(type(command))
        if not self.transport.ready:  # fail fast: waiting out the deadline helps nobody
            raise UnavailableError(f"{message_type}: the bus is disconnected")
        timeout = self.default_timeout if timeout is None else timeout
        with span("send", message_type, SpanKind.CLIENT, traceparent) as current:
            envelope = self._envelope(
                message_type,
                encode(command),
                correlation_id,
                traceparent,
                source,
                deadline=deadline_after(timeout),
                idempotency_key=idempotency_key,
                principal=principal,
            )
            metrics.count_sent(message_type)
            try:
                reply = await self.transport.request(envelope, timeout)
                if reply.type == ERROR_TYPE:
                    raise error_from_body(reply.data)
                if reply.type != reply_type:
                    raise HandlerFailedError(
                        f"{message_type}: expected a {reply_type} reply, got {reply.type}"
                    )
                return decode(reply.data, reply_cls)  # type: ignore[return-value]
            except BusError as error:
                current.set_status(StatusCode.ERROR, error.code)
                raise

    async def dispatch_publish(
        self,
        event: Event,
        *,
        correlation_id: str | None,
        message_id: str | None,
        traceparent: str,
        source: str,
    ) -> None:
        """`publish` without the running check: handlers may still publish while draining."""
        message_type = message_type_of(type(event))
        with span("publish", message_type, SpanKind.PRODUCER, traceparent):
            envelope = self.event_envelope(  # inside the span: the event's parent is the publish
                event,
                correlation_id=correlation_id,
                message_id=message_id,
                traceparent=traceparent,
                source=source,
            )
            metrics.count_sent(message_type)
            await self.transport.publish(envelope)

    def event_envelope(
        self,
        event: Event,
        *,
        correlation_id: str | None,
        message_id: str | None,
        traceparent: str,
        source: str,
    ) -> Envelope:
        """The envelope `event` travels in (a cell's outbox stores it before the bus sees it)."""
        return self._envelope(
            message_type_of(type(event)),
            encode(event),
            correlation_id,
            traceparent,
            source,
            message_id,
        )

    async def relay(self, envelope: Envelope) -> asyncio.Future[None] | None:
        """Publish an event envelope built earlier (a cell's outbox holds it until commit).

        Its id makes a second relay of the same envelope a no-op for consumers.
        Returns what the transport's `publish` does: None once the event is kept
        durably, or a future that completes once its consumers have settled it.
        """
        with span("publish", envelope.type, SpanKind.PRODUCER, envelope.traceparent):
            metrics.count_sent(envelope.type)
            return await self.transport.publish(envelope, settling=True)

    # -- internals -----------------------------------------------------------------

    def _envelope(
        self,
        message_type: str,
        data: bytes,
        correlation_id: str | None,
        traceparent: str,
        source: str,
        message_id: str | None = None,
        deadline: float | None = None,
        idempotency_key: str = "",
        principal: Principal = ANONYMOUS,
    ) -> Envelope:
        return Envelope.new(
            message_type,
            data,
            source=source or self.source,
            correlation_id=correlation_id,
            traceparent=outgoing_traceparent(traceparent),
            message_id=message_id,
            deadline=deadline,
            idempotency_key=idempotency_key,
            principal=principal,
        )

    def _reply_type(self, command_cls: type[Any]) -> tuple[str, str, type[Reply]]:
        """Message type, reply type and reply class of a command class (cached)."""
        known = self._reply_types.get(command_cls)
        if known is None:
            reply_cls = reply_type_of(command_cls)
            known = (message_type_of(command_cls), message_type_of(reply_cls), reply_cls)
            self._reply_types[command_cls] = known
        return known

    def _context(self, cell: str, envelope: Envelope) -> HandlerContext:
        return HandlerContext(
            self,
            cell=cell,
            sends=self._sends.get(cell, frozenset()),
            correlation_id=envelope.correlationid,
            traceparent=envelope.traceparent,
            deadline=envelope.deadline,
            source=f"{self.source}/{cell}",
            message_id=envelope.id,
            idempotency_key=envelope.idempotencykey,
            principal=envelope.caller,
        )

    def _responder(
        self, cell: str, command_cls: type[Command[Any]], handler: CommandHandler
    ) -> Responder:
        """Wrap a command handler: decode, run under the deadline, encode or type the error."""
        message_type, reply_type, reply_cls = self._reply_type(command_cls)
        measured = metrics.handler_metrics(cell, message_type)
        source = f"{self.source}/{cell}"

        async def respond(envelope: Envelope) -> Envelope:
            started, cpu_started = time.perf_counter(), time.process_time()
            with span("handle", message_type, SpanKind.SERVER, envelope.traceparent) as current:
                try:
                    if expired(envelope.deadline):
                        measured.expired.inc()
                        raise DeadlineExceededError(
                            f"{message_type}: arrived after its deadline; not run"
                        )
                    command = decode(envelope.data, command_cls)
                    with self._deadlines.limit(remaining(envelope.deadline)):
                        reply = await handler(command, self._context(cell, envelope))
                    if not isinstance(reply, reply_cls):
                        raise TypeError(f"handler returned {type(reply).__qualname__}")
                    answer_type, data = reply_type, encode(reply)
                except Exception as error:
                    failure = _as_bus_error(error, message_type)
                    _log_failure(cell, envelope, failure, error)
                    measured.failed(failure.code)
                    current.set_status(StatusCode.ERROR, failure.code)
                    answer_type, data = ERROR_TYPE, error_body(failure)
                measured.finished(time.perf_counter() - started, time.process_time() - cpu_started)
            return Envelope(
                id=new_id(),
                source=source,
                type=answer_type,
                time=now_rfc3339(),
                correlationid=envelope.correlationid,
                traceparent=envelope.traceparent,
                data=data,
            )

        return respond

    def _consumer(self, cell: str, event_cls: type[Event], handler: EventHandler) -> Consumer:
        """Wrap an event handler: decode and run; raising asks the transport to retry."""
        message_type = message_type_of(event_cls)
        measured = metrics.handler_metrics(cell, message_type)
        # An outage is tried again every second, by every worker of the consumer: its
        # warning is logged once per cause, until an event gets through again.
        outage: str | None = None

        async def consume(envelope: Envelope) -> None:
            nonlocal outage
            started, cpu_started = time.perf_counter(), time.process_time()
            with span("handle", message_type, SpanKind.CONSUMER, envelope.traceparent) as current:
                try:
                    event = decode(envelope.data, event_cls)
                    await handler(event, self._context(cell, envelope))
                    outage = None
                except Exception as error:
                    failure = _as_bus_error(error, message_type)
                    if not isinstance(error, OutageError):
                        _log_failure(cell, envelope, failure, error)
                    elif error.detail != outage:
                        _log_failure(cell, envelope, failure, error)
                        outage = error.detail
                    measured.failed(failure.code)
                    current.set_status(StatusCode.ERROR, failure.code)
                    raise
                finally:
                    measured.finished(
                        time.perf_counter() - started, time.process_time() - cpu_started
                    )

        return consume


def _as_bus_error(error: Exception, message_type: str) -> BusError:
    """The typed error a handler's exception becomes for the sender."""
    if isinstance(error, BusError):
        return error
    if isinstance(error, TimeoutError):
        return DeadlineExceededError(f"{message_type}: handler passed the deadline")
    return HandlerFailedError(f"{message_type}: the handler failed; see its log")


def _log_failure(cell: str, envelope: Envelope, failure: BusError, error: Exception) -> None:
    """Rejections are business as usual (info); surprises keep their traceback (error)."""
    unexpected = isinstance(failure, HandlerFailedError) and not isinstance(error, BusError)
    if unexpected or isinstance(failure, UndeclaredError):  # a bug in the cell
        level = logging.ERROR
    elif isinstance(failure, RejectedError):
        level = logging.INFO
    else:
        level = logging.WARNING
    logger.log(
        level,
        "%s in cell %s: %s",
        envelope.type,
        cell,
        failure.code,
        exc_info=error if unexpected else None,
        extra={
            "correlation_id": envelope.correlationid,
            "message_id": envelope.id,
            "cell": cell,
            "message_type": envelope.type,
        },
    )
