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

A cell with storage gets a fresh database for each `CellUnderTest` (a SQLite
file in a temporary directory, removed on exit, or `database_url`), migrated
with the cell's own migrations, and runs inside its unit of work as in
production: `database` is there for a test to look at the tables.
"""

import asyncio
import contextlib
import inspect
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import msgspec

from ..bus import Bus, MemoryTransport
from ..config.topology import Topology
from ..core.cell import Cell, Context
from ..core.contracts import Command, Event, Reply, message_type_of, reply_type_of
from ..core.errors import BusError, HandlerFailedError
from ..core.principal import ANONYMOUS, Principal
from ..runtime.composition import running
from ..sandbox.placement import locate, own_events
from ..sandbox.pool import SandboxRefusedError
from ..storage import CellDatabase, OutboxRelay, StoredCell, open_database, stored
from ..storage.migrations import upgrade

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
        database_url: str | None = None,
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
        self.database_url = database_url
        self.database: CellDatabase | None = None
        self._resources = StoredCell()
        self._stack = contextlib.AsyncExitStack()
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
        try:
            await self._open_resources()
            await self._bus.start()
            self._stack.push_async_callback(self._bus.close)
            await self._bus.register(stored(self.cell, self._resources))
            for fake in self._fake_cells():
                await self._bus.register(fake)
            await self._bus.register(self._recorder())
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _open_resources(self) -> None:
        """The cell's fresh, migrated database and its lifespan, closed on exit."""
        if self.cell.storage is not None:
            url = self.database_url
            if url is None:
                directory = Path(tempfile.mkdtemp(prefix=f"{self.cell.name}-"))
                self._stack.callback(shutil.rmtree, directory, ignore_errors=True)
                url = f"sqlite+aiosqlite:///{directory / self.cell.name}.db"
            self.database = open_database(self.cell.name, url)
            self._stack.push_async_callback(self.database.close)
            await upgrade(self.database, self.cell.storage)
            self._resources.database = self.database
            self._resources.outbox = OutboxRelay(self.database, self._bus)
            self._resources.relay = self._bus
        if self.cell.lifespan is not None:
            self._resources.state = await self._stack.enter_async_context(self.cell.lifespan())

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    async def send(
        self,
        command: Command[ReplyT],
        *,
        idempotency_key: str = "",
        principal: Principal = ANONYMOUS,
    ) -> ReplyT:
        """Send `command` to the cell; return its reply once all it set off is handled.

        `principal` is who asks, as the gateway would pass an authenticated caller
        (`Principal("key:ci", frozenset({"orders:read"}))`). When a fake failed,
        its own error is raised (the bus only reports that the handler failed).
        """
        try:
            reply = await self._bus.send(
                command, idempotency_key=idempotency_key, principal=principal
            )
        except HandlerFailedError as error:
            fake_error, self._fake_error = self._fake_error, None
            if fake_error is not None:
                raise fake_error from error
            raise
        await self.settle()
        return reply

    async def deliver(self, event: Event, *, message_id: str | None = None) -> None:
        """Publish another cell's `event` to the cell; return once it is handled.

        Give a `message_id` to deliver the same message again (as JetStream
        redelivers it): a cell with storage applies it once.
        """
        if message_id is not None:
            self._transport.forget(message_id)  # the bus's dedupe must not hide the redelivery
        await self._bus.publish(event, message_id=message_id)
        await self.settle()

    async def settle(self) -> None:
        """Wait until no event is queued or being handled, within the timeout; then the
        outbox rows of the events handled are gone, as the relay's loop would delete them."""
        try:
            async with asyncio.timeout(self.timeout):
                await self._transport.idle()
        except TimeoutError:
            raise TimeoutError(
                f"cell {self.cell.name!r}: events still being handled after {self.timeout:g} s "
                "(a handler that never returns?)"
            ) from None
        if self._resources.outbox is not None:
            await self._resources.outbox.forget_settled()

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


def events_published_by(cell: Cell) -> dict[str, type[Event]]:
    """The events `cell` may publish, by wire type (what the recorder listens to)."""
    return {message_type_of(event): event for event in _own_events(cell)}


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


def with_data_dir(topology: Topology, directory: Path) -> Topology:
    """`topology` with every cell's SQLite file under `directory` (a test's own)."""
    storage = msgspec.structs.replace(topology.storage, data_dir=str(directory))
    return msgspec.structs.replace(topology, storage=storage)


async def migrate_all(topology: Topology, cells: Sequence[Cell]) -> None:
    """Apply every cell's migrations to the databases `topology` names, as `db upgrade` does."""
    for cell in cells:
        if cell.storage is None:
            continue
        database = open_database(cell.name, topology.storage_url_of(cell.name))
        try:
            await upgrade(database, cell.storage)
        finally:
            await database.close()


@contextlib.asynccontextmanager
async def running_migrated(topology: Topology, cells: Sequence[Cell]) -> AsyncIterator[Bus]:
    """`running`, on databases migrated first: a test composing the service on fresh data."""
    await migrate_all(topology, cells)
    async with running(topology, cells) as bus:
        yield bus
