# Owned by the monocell template: `copier update` replaces this file.
"""What a transport does for the bus, and the delivery rules every transport keeps.

A transport moves envelopes; it knows nothing of contracts or cells' code. The
bus hands it a *responder* per command type (envelope in, reply envelope out)
and a *consumer* per event type and cell (envelope in; raising asks for a
redelivery). `group` is the cell name: instances of one cell share a group and
compete for its messages, while different cells each receive every event.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import msgspec

from .envelope import Envelope

Responder = Callable[[Envelope], Awaitable[Envelope]]
Consumer = Callable[[Envelope], Awaitable[None]]


@dataclass(frozen=True)
class DeliveryPolicy:
    """How events are delivered to a consuming cell, the same on every transport.

    `max_deliveries` attempts, waiting `backoff[n]` before attempt n+2 (the last
    value repeats), then the event is dead-lettered. At most `concurrency`
    events of one cell and type are handled at once; `queue_size` bounds what
    waits (a full queue makes publishers wait: backpressure). `ack_wait` is how
    long a delivery may stay silent before it counts as lost (a crashed worker).
    `fetch_batch` is how many events a pulling transport (NATS) asks for ahead of
    its busy handlers, so they never wait on a fetch round trip.
    """

    max_deliveries: int = 5
    backoff: tuple[float, ...] = (0.05, 0.25, 1.0, 5.0)
    concurrency: int = 16
    queue_size: int = 1024
    ack_wait: float = 30.0
    fetch_batch: int = 64

    def __post_init__(self) -> None:
        if self.max_deliveries < 1:
            raise ValueError(f"max_deliveries must be at least 1, got {self.max_deliveries}")
        if not self.backoff or any(delay < 0 for delay in self.backoff):
            raise ValueError(f"backoff must be non-negative delays, got {self.backoff!r}")
        if self.concurrency < 1 or self.queue_size < 1:
            raise ValueError("concurrency and queue_size must be at least 1")
        if self.fetch_batch < 1:
            raise ValueError(f"fetch_batch must be at least 1, got {self.fetch_batch}")
        if self.ack_wait <= 0:
            raise ValueError(f"ack_wait must be positive, got {self.ack_wait}")

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before delivery number `attempt` (2 for the first retry)."""
        return self.backoff[min(attempt - 2, len(self.backoff) - 1)]


# Seconds between tries of an event whose handler met an outage (`OutageError`:
# its database down or full). These tries count no attempt: the event is not at
# fault, and `max_deliveries` would otherwise dead-letter it within the backoff's
# few seconds, shorter than a database restart.
OUTAGE_RETRY = 1.0


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """An event a cell could not handle after every attempt, kept for inspection."""

    group: str
    reason: str
    attempts: int
    envelope: Envelope


class Transport(Protocol):
    """The moving parts under `Bus`; see `memory.MemoryTransport` and `nats.NatsTransport`."""

    @property
    def ready(self) -> bool:
        """True while started, connected and accepting messages."""
        ...

    @property
    def problem(self) -> str | None:
        """Why the transport is degraded though connected (readiness says it), or None."""
        ...

    async def start(self) -> None: ...

    async def close(self, drain_timeout: float) -> None:
        """Stop taking messages, finish what is in flight (up to `drain_timeout`)."""
        ...

    async def request(self, envelope: Envelope, timeout: float) -> Envelope:
        """Deliver a command to one responder and return its reply envelope."""
        ...

    async def publish(
        self, envelope: Envelope, *, settling: bool = False
    ) -> asyncio.Future[None] | None:
        """Deliver an event to every consuming group (once per `envelope.id`).

        None once the event is kept where it outlives this process (JetStream
        acknowledged it). Asked for its `settling`, a transport that keeps it
        only in memory returns a future that completes once every consuming
        group has settled it (handled, or dead-lettered): a cell's outbox keeps
        the event's row until then, so a process killed before that delivers it
        again when it starts.
        """
        ...

    async def serve(self, message_type: str, group: str, responder: Responder) -> None: ...

    async def consume(self, message_type: str, group: str, consumer: Consumer) -> None: ...

    async def dead_letters(self) -> list[DeadLetter]:
        """The events given up on, oldest first."""
        ...
