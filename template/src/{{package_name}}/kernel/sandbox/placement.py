# Owned by the monocell template: `copier update` replaces this file.
"""Placement `sandbox`: the bus gets proxies, the workers run the real handlers.

    async with sandboxed(topology, cells) as placed:
        for cell in placed:
            await bus.register(cell)

For each cell placed `sandbox`, a pool of restricted workers is started (the
service refuses to start below the cell's `min_level`, with the reason) and
the cell is replaced by a copy whose handlers forward the encoded message to
the pool; the reply and any events the handler published come back encoded
and are checked against their contracts here before the bus sees them (a
sandboxed cell may publish only the events its own package defines). A
command the handler sends comes back the same way, mid-call: it must be one
the cell declares in `Cell.sends`, is decoded strictly with its contract, and
is sent on the bus with the incoming message's context.
Other cells pass through unchanged.
"""

import asyncio
import dataclasses
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec

from ..bus.codec import decode, encode
from ..bus.envelope import Envelope
from ..config.sandbox_policy import for_risk
from ..config.topology import Topology
from ..core.cell import (
    Cell,
    CommandHandler,
    Context,
    EventHandler,
    Risk,
)
from ..core.contracts import (
    Command,
    Event,
    message_type_of,
    reply_type_of,
)
from ..core.errors import (
    BusError,
    HandlerFailedError,
    RejectedError,
    UndeclaredError,
)
from ..core.message_names import defined_events
from ..core.principal import ANONYMOUS
from ..storage import OutboxRelay
from .frames import (
    Answer,
    Published,
    Send,
    Target,
)
from .pool import (
    SandboxPool,
    SandboxRefusedError,
    Sender,
    refusal,
)
from .probe import probe
from .readiness import track, untrack

PACKAGE = __package__.partition(".")[0]
logger = logging.getLogger(__name__)


@asynccontextmanager
async def sandboxed(
    topology: Topology,
    cells: Sequence[Cell],
    outboxes: Mapping[str, OutboxRelay] | None = None,
) -> AsyncIterator[tuple[Cell, ...]]:
    """`cells`, with those placed `sandbox` served by started pools; pools stop on exit.

    A sandboxed cell with storage runs its unit of work in the workers, on its
    own SQLite file; `outboxes` (by cell name) relay what they commit, each
    event checked against the cell's contracts first.
    """
    async with AsyncExitStack() as stack:
        placed = []
        for cell in cells:
            if topology.placement_of(cell.name) != "sandbox":
                placed.append(cell)
                continue
            target, import_paths = locate(cell)
            publishable = own_events(target.module)
            database, data_dir = _sandboxed_database(topology, cell)
            source = f"/{PACKAGE}/{cell.name}"
            pool = SandboxPool(
                cell.name,
                target,
                for_risk(topology.sandbox_of(cell.name), cell.risk is Risk.HIGH),
                import_paths,
                database=database,
                data_dir=data_dir,
                source=source,
            )
            stack.push_async_callback(pool.close)
            await pool.start()
            track(pool)
            stack.callback(untrack, pool)
            outbox = (outboxes or {}).get(cell.name)
            if outbox is not None:
                outbox.check = _outbox_check(cell.name, publishable, source)
            placed.append(proxied(cell, pool, publishable, outbox))
        yield tuple(placed)


def _sandboxed_database(topology: Topology, cell: Cell) -> tuple[str, str]:
    """The SQLite URL and directory a sandboxed cell's workers open ("" without storage)."""
    if cell.storage is None:
        return "", ""
    url = topology.storage_url_of(cell.name)
    if not url.startswith("sqlite+aiosqlite:///"):
        raise SandboxRefusedError(
            f"cells.{cell.name}: a sandboxed cell keeps its data in its own SQLite file "
            "(the sandbox allows no network connection); remove its PostgreSQL storage_url"
        )
    return url, str(Path(url.removeprefix("sqlite+aiosqlite:///")).parent)


def _outbox_check(
    cell: str, publishable: Mapping[str, type[Event]], source: str
) -> Callable[[Envelope], Envelope | None]:
    """What the parent relays of the events a worker wrote: only the cell's own, valid ones."""

    def check(envelope: Envelope) -> Envelope | None:
        event_cls = publishable.get(envelope.type)
        try:
            if event_cls is None:
                raise HandlerFailedError(f"{envelope.type[:200]!r} is not its own event")
            data = encode(decode(envelope.data, event_cls))
        except BusError as error:
            logger.error("sandbox %s: outbox event dropped: %s", cell, error.detail)
            return None
        return msgspec.structs.replace(envelope, source=source, data=data)

    return check


def preflight(topology: Topology, cells: Sequence[Cell]) -> None:
    """Refuse, before anything starts, a sandboxed cell this machine cannot isolate enough.

    For commands that check their configuration up front; `sandboxed` refuses
    the same way when it starts the pools.
    """
    for cell in cells:
        if topology.placement_of(cell.name) != "sandbox":
            continue
        policy = topology.sandbox_of(cell.name)
        report = asyncio.run(probe(policy))
        if report.level < policy.min_level:
            raise SandboxRefusedError(
                refusal(cell.name, report.level, report.layers, policy.min_level)
            )


def proxied(
    cell: Cell,
    pool: SandboxPool,
    publishable: Mapping[str, type[Event]],
    outbox: OutboxRelay | None = None,
) -> Cell:
    """A copy of `cell` whose handlers run in `pool` and may publish only `publishable`."""
    rules = _Rules(cell.name, publishable, {message_type_of(c): c for c in cell.sends}, outbox)
    commands = {cls: _command_proxy(pool, cls, rules) for cls in cell.commands}
    events = {cls: _event_proxy(pool, cls, rules) for cls in cell.events}
    return dataclasses.replace(cell, commands=commands, events=events)


@dataclasses.dataclass(frozen=True)
class _Rules:
    """What a sandboxed cell may publish and send, by message type."""

    cell: str
    publishable: Mapping[str, type[Event]]
    sendable: Mapping[str, type[Command[Any]]]
    outbox: OutboxRelay | None = None  # a cell with storage publishes through it

    def sender(self, context: Context) -> Sender:
        """Sends a worker's command on the bus, in `context`, if the cell declares it."""

        async def send(request: Send) -> Answer:
            try:
                command_cls = self.sendable.get(request.message_type)
                if command_cls is None:
                    undeclared = UndeclaredError(
                        f"cell {self.cell!r} sends {request.message_type[:200]} "
                        "without declaring it in Cell.sends"
                    )
                    logger.warning("sandbox: %s", undeclared.detail)  # seen even if swallowed
                    raise undeclared
                reply = await context.send(decode(request.data, command_cls))
                return Answer(data=encode(reply))
            except BusError as error:
                reason = error.reason if isinstance(error, RejectedError) else ""
                return Answer(code=error.code, reason=reason, detail=error.detail)

        return send


def own_events(package: str) -> dict[str, type[Event]]:
    """The events defined in the cell's own package: all a sandboxed cell may publish.

    A compromised worker must not speak for another cell (announce a payment,
    say), so an event of any other package is refused.
    """
    return {message_type_of(cls): cls for cls in defined_events(package)}


def locate(cell: Cell) -> tuple[Target, list[str]]:
    """The module that declares `cell` (holding it as `cell` or in `CELLS`) and its import root.

    Found from the handlers' modules and their parent packages, so a cell
    outside the project's package (a test's, for instance) works too.
    """
    handlers: list[Any] = [*cell.commands.values(), *cell.events.values()]
    for handler in handlers:
        parts = getattr(handler, "__module__", "").split(".")
        for end in range(len(parts), 0, -1):
            module = sys.modules.get(".".join(parts[:end]))
            held = [getattr(module, "cell", None), *getattr(module, "CELLS", ())]
            if module is not None and any(found is cell for found in held):
                return Target(module.__name__, cell.name), _import_root(module.__name__)
    raise SandboxRefusedError(f"cells.{cell.name}: cannot find the module that declares it")


def _import_root(module_name: str) -> list[str]:
    top = module_name.partition(".")[0]
    if top == PACKAGE:
        return []
    file = getattr(sys.modules[top], "__file__", None)
    if file is None:
        return []
    path = Path(file).resolve()
    return [str(path.parent.parent if path.name == "__init__.py" else path.parent)]


def _command_proxy(
    pool: SandboxPool, command_cls: type[Command[Any]], rules: _Rules
) -> CommandHandler:
    message_type = message_type_of(command_cls)
    reply_cls = reply_type_of(command_cls)

    async def forward(command: Any, context: Context) -> Any:
        outcome = await pool.call(
            "command",
            message_type,
            encode(command),
            context.correlation_id,
            rules.sender(context),
            **_incoming(context),
        )
        reply = decode(outcome.data, reply_cls)
        await _publish(outcome.events, rules, context)
        return reply

    return forward


def _event_proxy(pool: SandboxPool, event_cls: type[Event], rules: _Rules) -> EventHandler:
    message_type = message_type_of(event_cls)

    async def forward(event: Any, context: Context) -> None:
        outcome = await pool.call(
            "event",
            message_type,
            encode(event),
            context.correlation_id,
            rules.sender(context),
            **_incoming(context),
        )
        await _publish(outcome.events, rules, context)

    return forward


def _incoming(context: Context) -> dict[str, Any]:
    """What the worker's unit of work needs to know about the message (see frames.Call)."""
    left = context.remaining
    return {
        "message_id": getattr(context, "message_id", ""),
        "idempotency_key": getattr(context, "idempotency_key", ""),
        "traceparent": getattr(context, "traceparent", ""),
        "principal": getattr(context, "principal", ANONYMOUS),
        "deadline": None if left is None else time.time() + left,
    }


async def _publish(published: Sequence[Published], rules: _Rules, context: Context) -> None:
    """Publish what the sandboxed handler published, checked against its contracts first.

    A cell with storage wrote its events to the outbox in its transaction: they
    are relayed (and checked) from there.
    """
    if rules.outbox is not None:
        await rules.outbox.relay_pending(context.remaining)  # bounded as in-process
        return
    publishable = rules.publishable
    events = []
    for item in published:
        event_cls = publishable.get(item.message_type)
        if event_cls is None:
            raise HandlerFailedError(
                f"sandbox: the cell may not publish {item.message_type!r} (not its own event)"
            )
        events.append(decode(item.data, event_cls))
    for event in events:  # all checked before any is published
        await context.publish(event)
