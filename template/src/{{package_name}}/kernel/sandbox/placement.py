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
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from ..bus.codec import decode, encode
from ..config.topology import Topology
from ..core.cell import (
    Cell,
    CommandHandler,
    Context,
    EventHandler,
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
async def sandboxed(topology: Topology, cells: Sequence[Cell]) -> AsyncIterator[tuple[Cell, ...]]:
    """`cells`, with those placed `sandbox` served by started pools; pools stop on exit."""
    async with AsyncExitStack() as stack:
        placed = []
        for cell in cells:
            if topology.placement_of(cell.name) != "sandbox":
                placed.append(cell)
                continue
            target, import_paths = locate(cell)
            pool = SandboxPool(cell.name, target, topology.sandbox_of(cell.name), import_paths)
            stack.push_async_callback(pool.close)
            await pool.start()
            track(pool)
            stack.callback(untrack, pool)
            placed.append(proxied(cell, pool, own_events(target.module)))
        yield tuple(placed)


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


def proxied(cell: Cell, pool: SandboxPool, publishable: Mapping[str, type[Event]]) -> Cell:
    """A copy of `cell` whose handlers run in `pool` and may publish only `publishable`."""
    rules = _Rules(cell.name, publishable, {message_type_of(c): c for c in cell.sends})
    commands = {cls: _command_proxy(pool, cls, rules) for cls in cell.commands}
    events = {cls: _event_proxy(pool, cls, rules) for cls in cell.events}
    return dataclasses.replace(cell, commands=commands, events=events)


@dataclasses.dataclass(frozen=True)
class _Rules:
    """What a sandboxed cell may publish and send, by message type."""

    cell: str
    publishable: Mapping[str, type[Event]]
    sendable: Mapping[str, type[Command[Any]]]

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
            "command", message_type, encode(command), context.correlation_id, rules.sender(context)
        )
        reply = decode(outcome.data, reply_cls)
        await _publish(outcome.events, rules.publishable, context)
        return reply

    return forward


def _event_proxy(pool: SandboxPool, event_cls: type[Event], rules: _Rules) -> EventHandler:
    message_type = message_type_of(event_cls)

    async def forward(event: Any, context: Context) -> None:
        outcome = await pool.call(
            "event", message_type, encode(event), context.correlation_id, rules.sender(context)
        )
        await _publish(outcome.events, rules.publishable, context)

    return forward


async def _publish(
    published: Sequence[Published], publishable: Mapping[str, type[Event]], context: Context
) -> None:
    """Publish what the sandboxed handler published, checked against its contracts first."""
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
