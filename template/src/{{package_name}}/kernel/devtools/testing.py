# Owned by the monocell template: `copier update` replaces this file.
"""A cell under test: the real in-memory bus, fakes for the cells it calls, and
the events it published, in a few lines.

In the spirit of FastStream's TestBroker and Nameko's worker_factory, a test
talks to the cell over the bus, as another cell would, and sees what it did:

    async with CellUnderTest(orders.cell) as orders_cell:
        accepted = await orders_cell.send(PlaceOrder(sku="A-1", quantity=2))
        assert orders_cell.published == [OrderPlaced(order_id=accepted.order_id, ...)]
        await orders_cell.deliver(PaymentCaptured(order_id=accepted.order_id, ...))

`fakes` answers the commands the cell sends to other cells (`Cell.sends`),
each with a function from the command to its reply; `sent` lists what the cell
sent them. `send` and `deliver` return once everything they set off is done,
so a test asserts right after them, without sleeping.
"""

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from ..bus import Bus, MemoryTransport
from ..core.cell import Cell, Context
from ..core.contracts import Command, Event, Reply, message_type_of, reply_type_of
from ..core.errors import BusError, HandlerFailedError
from ..sandbox.placement import locate, own_events
from ..sandbox.pool import SandboxRefusedError

ReplyT = TypeVar("ReplyT", bound=Reply)
FakeAnswer = Callable[[Any], Reply | Awaitable[Reply]]
RECORDER = "test_recorder"


class CellUnderTest:
    """One cell on a fresh in-memory bus, with fakes and a recorder of its events."""

    def __init__(
        self,
        cell: Cell,
        *,
        fakes: Mapping[type[Command[Any]], FakeAnswer] | None = None,
        timeout: float = 2.0,
    ) -> None:
        if not isinstance(cell, Cell):
            raise TypeError(f"CellUnderTest: expected a Cell, got {cell!r}")
        if fakes is not None and not isinstance(fakes, Mapping):
            raise TypeError("CellUnderTest: fakes must map a command class to its answer")
        if not timeout > 0:
            raise ValueError(f"CellUnderTest: timeout must be more than 0 s, got {timeout!r}")
        self.cell = cell
        self.fakes = dict(fakes or {})
        self.timeout = timeout
        self._fake_error: Exception | None = None
        self.published: list[Event] = []
        self.sent: list[Command[Any]] = []
        self._transport = MemoryTransport()
        self._bus = Bus(self._transport, default_timeout=timeout, drain_timeout=timeout)
        missing = [message_type_of(c) for c in cell.sends if c not in self.fakes]
        if missing:
            raise ValueError(
                f"cell {cell.name!r} sends {', '.join(missing)}: give each a fake (fakes=...)"
            )
        unused = [message_type_of(c) for c in self.fakes if c not in cell.sends]
        if unused:
            raise ValueError(
                f"cell {cell.name!r} does not declare sends for {', '.join(unused)}; "
                "add them to Cell(sends=...) or drop the fakes"
            )

    async def __aenter__(self) -> Self:
        await self._bus.start()
        try:
            await self._bus.register(self.cell)
            for fake in self._fake_cells():
                await self._bus.register(fake)
            await self._bus.register(self._recorder())
        except BaseException:
            await self._bus.close()
            raise
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._bus.close()

    async def send(self, command: Command[ReplyT]) -> ReplyT:
        """Send `command` to the cell; return its reply once all it set off is handled.

        When a fake failed, its own error is raised (the bus only reports that the
        handler failed).
        """
        try:
            reply = await self._bus.send(command)
        except HandlerFailedError as error:
            fake_error, self._fake_error = self._fake_error, None
            if fake_error is not None:
                raise fake_error from error
            raise
        await self.settle()
        return reply

    async def deliver(self, event: Event) -> None:
        """Publish another cell's `event` to the cell; return once it is handled."""
        await self._bus.publish(event)
        await self.settle()

    async def settle(self) -> None:
        """Wait until no event is queued or being handled, within the timeout."""
        try:
            async with asyncio.timeout(self.timeout):
                await self._transport.idle()
        except TimeoutError:
            raise TimeoutError(
                f"cell {self.cell.name!r}: events still being handled after {self.timeout:g} s "
                "(a handler that never returns?)"
            ) from None

    def _fake_cells(self) -> list[Cell]:
        """One stand-in cell per cell the fakes answer for, named like the real one."""
        by_cell: dict[str, dict[type[Command[Any]], Any]] = {}
        for command, answer in self.fakes.items():
            owner = message_type_of(command).partition(".")[0]
            by_cell.setdefault(owner, {})[command] = self._answering(answer)
        return [
            Cell(name=name, purpose="A fake for tests.", commands=commands)
            for name, commands in by_cell.items()
        ]

    def _answering(self, answer: FakeAnswer) -> Callable[[Any, Context], Awaitable[Reply]]:
        async def handle(command: Command[Any], context: Context) -> Reply:
            self.sent.append(command)
            try:
                answered = answer(command)
                reply: object = await answered if inspect.isawaitable(answered) else answered
                expected: type[Reply] = reply_type_of(type(command))
                if not isinstance(reply, expected):
                    raise TypeError(
                        f"the fake for {message_type_of(type(command))} returned {reply!r}, "
                        f"not a {expected.__qualname__}"
                    )
            except BusError:
                raise  # a refusal the fake makes on purpose reaches the cell as one
            except Exception as error:
                self._fake_error = error  # re-raised by `send` in place of the bus's summary
                raise
            return reply

        return handle

    def _recorder(self) -> Cell:
        """A cell consuming every event the cell under test defines, recording them in order."""

        async def record(event: Event, context: Context) -> None:
            self.published.append(event)

        events = dict.fromkeys(_own_events(self.cell), record)
        return Cell(name=RECORDER, purpose="Records published events in tests.", events=events)


def _own_events(cell: Cell) -> Sequence[type[Event]]:
    """The events the cell may publish: those of the package that declares it.

    The same rule the sandbox applies (`own_events`); a cell no module holds (one
    built inside a test function) defines none.
    """
    try:
        target, _ = locate(cell)
    except SandboxRefusedError:
        return []
    return list(own_events(target.module).values())
