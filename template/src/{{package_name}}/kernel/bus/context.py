# Owned by the monocell template: `copier update` replaces this file.
"""The `Context` a handler receives: the bus, seen from inside one message.

What a handler sends or publishes carries the incoming message's correlation id
and trace, and a command sent from a handler gets at most the time left before
the incoming deadline, so one slow hop cannot outlive the request that caused it.
"""

from typing import TYPE_CHECKING, TypeVar

from ..contracts import Command, Event, Reply
from .envelope import remaining

if TYPE_CHECKING:
    from .bus import Bus

ReplyT = TypeVar("ReplyT", bound=Reply)


class HandlerContext:
    """Implements `kernel.cell.Context` for one incoming message."""

    __slots__ = ("_bus", "_correlation_id", "_deadline", "_source", "_traceparent")

    def __init__(
        self,
        bus: "Bus",
        *,
        correlation_id: str,
        traceparent: str,
        deadline: float | None,
        source: str,
    ) -> None:
        self._bus = bus
        self._correlation_id = correlation_id
        self._traceparent = traceparent
        self._deadline = deadline
        self._source = source

    @property
    def correlation_id(self) -> str:
        return self._correlation_id

    async def send(self, command: Command[ReplyT], /) -> ReplyT:
        left = remaining(self._deadline)
        return await self._bus.dispatch_send(
            command,
            timeout=left,
            correlation_id=self._correlation_id,
            traceparent=self._traceparent,
            source=self._source,
        )

    async def publish(self, event: Event, /) -> None:
        await self._bus.dispatch_publish(
            event,
            correlation_id=self._correlation_id,
            message_id=None,
            traceparent=self._traceparent,
            source=self._source,
        )
