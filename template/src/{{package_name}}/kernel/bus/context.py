# Owned by the monocell template: `copier update` replaces this file.
"""The `Context` a handler receives: the bus, seen from inside one message.

What a handler sends or publishes carries the incoming message's correlation id
and trace, a command it sends also the principal who asked, and a command sent
from a handler gets at most the time left before the incoming deadline, so one
slow hop cannot outlive the request that caused it.

A handler may send only the commands its cell declares in `Cell.sends` and
publish only its own cell's events (types named `<cell>.…`). The NATS
permissions that `topology deploy` writes allow a process exactly that, so the
same rule holds in memory: a cell that breaks it fails in its first test, not
the day it moves out of the process.
"""

import logging
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar

from ..core.contracts import (
    Command,
    Event,
    Reply,
    message_type_of,
)
from ..core.deadline import remaining
from ..core.errors import UndeclaredError
from ..core.principal import ANONYMOUS, Principal

if TYPE_CHECKING:  # only annotated: a sandbox worker of a cell without storage never imports it
    from sqlalchemy.ext.asyncio import AsyncSession

ReplyT = TypeVar("ReplyT", bound=Reply)
logger = logging.getLogger(__name__)


class Dispatcher(Protocol):
    """The part of the bus a context forwards to (the bus implements it).

    A protocol, not the `Bus` class, so this module and `bus.py` do not import
    each other: the bus builds contexts, contexts only need these two calls.
    """

    async def dispatch_send(
        self,
        command: Command[ReplyT],
        *,
        timeout: float | None,
        correlation_id: str | None,
        traceparent: str,
        source: str,
        principal: Principal = ...,
    ) -> ReplyT: ...

    async def dispatch_publish(
        self,
        event: Event,
        *,
        correlation_id: str | None,
        message_id: str | None,
        traceparent: str,
        source: str,
    ) -> None: ...


class HandlerContext:
    """Implements `kernel.core.cell.Context` for one incoming message to one cell."""

    __slots__ = (
        "_bus",
        "_cell",
        "_correlation_id",
        "_deadline",
        "_principal",
        "_sends",
        "_source",
        "_traceparent",
        "idempotency_key",
        "message_id",
    )

    def __init__(
        self,
        bus: Dispatcher,
        *,
        cell: str,
        sends: frozenset[type[Command[Any]]],
        correlation_id: str,
        traceparent: str,
        deadline: float | None,
        source: str,
        message_id: str = "",
        idempotency_key: str = "",
        principal: Principal = ANONYMOUS,
    ) -> None:
        self._bus = bus
        self._principal = principal
        self._cell = cell
        self._sends = sends
        self._correlation_id = correlation_id
        self._traceparent = traceparent
        self._deadline = deadline
        self._source = source
        # Read by the cell's unit of work (kernel.storage): the inbox records the
        # message id, the idempotency table the key.
        self.message_id = message_id
        self.idempotency_key = idempotency_key

    @property
    def cell(self) -> str:
        return self._cell

    @property
    def correlation_id(self) -> str:
        return self._correlation_id

    @property
    def principal(self) -> Principal:
        return self._principal

    @property
    def traceparent(self) -> str:
        return self._traceparent

    @property
    def source(self) -> str:
        return self._source

    @property
    def remaining(self) -> float | None:
        return remaining(self._deadline)

    @property
    def session(self) -> "AsyncSession":
        self._no_storage()

    @property
    def state(self) -> Any:
        return None

    def _no_storage(self) -> NoReturn:
        raise _refused(
            f"cell {self._cell!r} uses context.session but declares no storage "
            "(Cell(storage=Storage(...)))"
        )

    def check_publish(self, event: Event) -> str:
        """The event's message type, if this cell may publish it; else `UndeclaredError`."""
        message_type = message_type_of(type(event))
        if message_type.partition(".")[0] != self._cell:
            raise _refused(
                f"cell {self._cell!r} may publish only its own events "
                f"({self._cell}.*), not {message_type}"
            )
        return message_type

    async def send(self, command: Command[ReplyT], /) -> ReplyT:
        if type(command) not in self._sends:
            raise _refused(
                f"cell {self._cell!r} sends {message_type_of(type(command))} "
                "without declaring it in Cell.sends"
            )
        left = remaining(self._deadline)
        return await self._bus.dispatch_send(
            command,
            timeout=left,
            correlation_id=self._correlation_id,
            traceparent=self._traceparent,
            source=self._source,
            principal=self._principal,  # who asked asks on: the next cell can check too
        )

    async def publish(self, event: Event, /) -> None:
        self.check_publish(event)
        await self._bus.dispatch_publish(
            event,
            correlation_id=self._correlation_id,
            message_id=None,
            traceparent=self._traceparent,
            source=self._source,
        )


def _refused(detail: str) -> UndeclaredError:
    """The refusal, logged here too: a handler that swallows it still leaves a trace."""
    logger.warning("bus: %s", detail)
    return UndeclaredError(detail)
