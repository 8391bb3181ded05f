# Owned by the monocell template: `copier update` replaces this file.
"""The outbox relay: events committed by a cell's handlers reach the bus, once each.

Right after a handler's transaction commits, its events are published (a
command's sender waiting meanwhile for at most half its remaining time: see
`OutboxRelay._bounded`). Their
outbox rows are deleted in batches by the relay's loop (one transaction for
many events instead of one more per event: the write path then costs one
transaction per message), once the bus holds each event for good: JetStream
acknowledged it, or, on the in-memory bus, which keeps nothing across a
restart, every consuming cell has handled it (or dead-lettered it). If the bus
refuses (disconnected), or the process dies first, the rows stay: the loop
publishes them when the process starts again and every `interval` seconds
while it runs (skipping those still being handled here). An event may then be
published twice (published, then the process died before its row was
deleted); its id is the bus's dedupe key (JetStream's `Nats-Msg-Id`) and
consumers record ids in their inbox, so it is still applied once.

The loop also forgets inbox entries and idempotency keys past their retention.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from ..bus.envelope import Envelope
from ..core.errors import BusError, UnavailableError
from .database import CellDatabase
from .tables import idempotency, inbox, outbox

logger = logging.getLogger(__name__)
BATCH = 200
# Events waiting for the bus's acknowledgement at once (see `_publish`).
WINDOW = 64
# Redeliveries stop long before this (JetStream gives up after max_deliveries);
# a client retrying with an idempotency key does so within hours, not days.
INBOX_RETENTION = 7 * 24 * 3600.0
IDEMPOTENCY_RETENTION = 24 * 3600.0
PRUNE_EVERY = 3600.0
# Of the time a command's sender has left after the commit, the share the
# committed events may wait for the bus; the rest carries the reply back.
BUS_SHARE = 0.5


class Publisher(Protocol):
    async def relay(self, envelope: Envelope) -> asyncio.Future[None] | None:
        """None once the bus holds the event for good; else a future completing then."""
        ...


class OutboxRelay:
    """Publishes one cell's committed events; `start` runs its loop until `stop`."""

    def __init__(
        self,
        database: CellDatabase,
        bus: Publisher,
        *,
        interval: float = 1.0,
        check: Callable[[Envelope], Envelope | None] | None = None,
    ) -> None:
        self.database = database
        self.bus = bus
        self.interval = interval
        # For rows a sandboxed worker wrote: the envelope to publish, or None to drop it.
        self.check = check
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._relayed: set[str] = set()  # held by the bus for good, rows not deleted yet
        self._in_flight: set[str] = set()  # published, their consumers not done yet
        self._pruned_at = 0.0
        self._failing: str | None = None  # why the database cannot be used, logged once
        self._failing_to_write = False  # and whether that was a write (reads may still work)

    async def start(self) -> None:
        """Relay what an earlier run left behind, then keep relaying in the background."""
        await self.relay_pending()
        self._task = asyncio.create_task(self._loop(), name=f"outbox-{self.database.cell}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._forget_relayed()

    async def forget_settled(self) -> None:
        """Delete the rows of events settled since the loop stopped (handled while the
        bus drained at shutdown), so the next start does not publish them again."""
        await self._forget_relayed()

    async def relay_committed(
        self, envelopes: list[Envelope], sender_left: float | None = None
    ) -> None:
        """Publish the events of a transaction that just committed; their rows go later.

        `sender_left`: the seconds a command's sender still waits for the reply,
        which bound the wait for the bus (see `_bounded`).
        """
        async with self._bounded(sender_left):
            held, _ = await self._publish(envelopes)
            self._relayed.update(held)
        if self._task is None or len(self._relayed) >= BATCH:  # no loop to do it: now
            await self._forget_relayed()

    async def relay_pending(self, sender_left: float | None = None) -> int:
        """Publish every event still in the outbox (oldest first) but those being
        handled here already; returns how many. `sender_left`: as for `relay_committed`."""
        relayed = 0
        async with self._bounded(sender_left):
            relayed = await self._relay_pending()
        return relayed  # noqa: RET504 - 0 when the bound skipped the assignment

    @contextlib.asynccontextmanager
    async def _bounded(self, sender_left: float | None) -> AsyncIterator[None]:
        """Give up waiting for the bus after `BUS_SHARE` of `sender_left` seconds
        (None: no sender waits, so wait as long as it takes).

        The work is committed and its sender waits for the reply: a bus that does
        not answer (JetStream without quorum waits out its own publish timeout)
        would turn it into a timeout for an order that was placed, and a retry
        would place it twice. What is not published by then stays in the outbox
        for the loop (or the next start).
        """
        within = None if sender_left is None else max(sender_left * BUS_SHARE, 0.0)
        try:
            async with asyncio.timeout(within) as bound:
                yield
        except TimeoutError:
            if not bound.expired():  # raised inside, not the bound
                raise
            logger.warning(
                "outbox of %s: events not published within the %.2f s of the %.2f s their "
                "sender had left; they stay in the outbox for its relay loop",
                self.database.cell,
                within,
                sender_left,
            )

    async def _relay_pending(self) -> int:
        total, after = 0, -1
        async with self._lock:
            while True:
                await self._forget_relayed()
                try:
                    async with self.database.transaction() as session:
                        rows = (
                            await session.execute(
                                select(outbox)
                                .where(outbox.c.position > after)
                                .order_by(outbox.c.position)
                                .limit(BATCH)
                            )
                        ).all()
                except (SQLAlchemyError, UnavailableError) as error:
                    self._database_fails("cannot read", error)
                    if not isinstance(error, UnavailableError):  # it answered: its tables fail
                        self.database.outbox_problem = (
                            f"cells.{self.database.cell}: cannot read its outbox: "
                            f"{self._failing} (are its migrations applied?)"
                        )
                    return total
                self._database_works()
                skipped = self._in_flight | self._relayed  # handled here, or done with
                envelopes = [
                    Envelope(
                        id=row.message_id,
                        source=row.source,
                        type=row.type,
                        time=row.time,
                        correlationid=row.correlationid,
                        traceparent=row.traceparent,
                        data=bytes(row.data),
                    )
                    for row in rows
                    if row.message_id not in skipped
                ]
                held, taken = await self._publish(envelopes)
                if held:
                    await self._forget(held)
                total += taken
                if taken < len(envelopes) or len(rows) < BATCH:  # refused, or all read
                    return total
                after = rows[-1].position

    async def _publish(self, envelopes: list[Envelope]) -> tuple[list[str], int]:
        """Publish `WINDOW` events at a time; return the ids the bus holds for good
        (their rows may go) and how many it took, those still in flight included.

        Each publish waits for the bus's acknowledgement (JetStream's), so a
        window costs about one round trip instead of one per event. After a
        window with a refusal nothing more is sent this round: the refused rows
        stay for the loop, and those the bus took go (a later retry of an
        earlier one may then arrive after them; ids still make each one count once).
        """
        published: list[str] = []
        taken = 0
        for start in range(0, len(envelopes), WINDOW):
            window = envelopes[start : start + WINDOW]
            if len(window) == 1:  # a handler's one event, the usual case: no task to gather
                errors = [await self._publish_one(window[0])]
            else:
                errors = await asyncio.gather(*(self._publish_one(w) for w in window))
            outcomes = list(zip(window, errors, strict=True))
            accepted = [written.id for written, error in outcomes if error is None]
            taken += len(accepted)
            published += [taken_id for taken_id in accepted if taken_id not in self._in_flight]
            refused = [(written, error) for written, error in outcomes if error is not None]
            if refused:
                written, error = refused[0]
                logger.warning(
                    "outbox of %s: %d event(s) not published yet (first %s: %s)",
                    self.database.cell,
                    len(refused) + len(envelopes) - start - len(window),
                    written.type,
                    error.detail,
                )
                break
        return published, taken

    async def _publish_one(self, written: Envelope) -> BusError | None:
        """Publish one committed event; the bus's refusal, or None once it took it."""
        envelope = self.check(written) if self.check is not None else written
        if envelope is None:  # refused by the check (which logged why): never published
            return None
        try:
            settled = await self.bus.relay(envelope)
        except BusError as error:  # kept in the outbox: the loop tries again
            return error
        if settled is not None and not settled.done():  # its row stays until then
            self._in_flight.add(written.id)
            settled.add_done_callback(lambda _: self._settled(written.id))
        return None

    def _settled(self, message_id: str) -> None:
        """Every consumer is done with the event: its row goes with the next batch."""
        self._in_flight.discard(message_id)
        self._relayed.add(message_id)

    async def _forget_relayed(self) -> None:
        if self._relayed:
            relayed, self._relayed = list(self._relayed), set()
            await self._forget(relayed)

    async def _forget(self, message_ids: list[str]) -> None:
        try:
            async with self.database.transaction() as session:
                await session.execute(delete(outbox).where(outbox.c.message_id.in_(message_ids)))
        except (SQLAlchemyError, UnavailableError) as error:
            # Published again later; consumers dedupe by id.
            self._database_fails("cannot delete relayed rows", error)
            return
        self._database_works(wrote=True)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.relay_pending()
                if time.time() - self._pruned_at > PRUNE_EVERY:
                    await self.prune()
            except UnavailableError as error:  # the database is down: said once, not a bug
                self._database_fails("cannot prune", error)
            except Exception:  # never let the loop die: the next round tries again
                logger.exception("outbox of %s: relay round failed", self.database.cell)

    def _database_fails(self, what: str, error: Exception) -> None:
        """Log a database failure once per cause: the loop meets it every second (reading,
        deleting, pruning: the same outage), and readiness says it meanwhile."""
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        if reason != self._failing:
            logger.warning("outbox of %s: %s: %s", self.database.cell, what, reason)
        self._failing, self._failing_to_write = reason, what != "cannot read"

    def _database_works(self, wrote: bool = False) -> None:
        """A read (or with `wrote`, a write) got through: a failure it answers is over.

        A read does not answer a failed write: on a full disk reads go on, and the
        warning and "answers again" would otherwise alternate every second."""
        self.database.outbox_problem = None
        if self._failing is not None and (wrote or not self._failing_to_write):
            logger.info("outbox of %s: its database answers again", self.database.cell)
            self._failing = None

    async def prune(self, now: float | None = None) -> None:
        """Forget inbox entries and idempotency keys older than their retention."""
        now = time.time() if now is None else now
        async with self.database.transaction() as session:
            await session.execute(delete(inbox).where(inbox.c.handled_at < now - INBOX_RETENTION))
            await session.execute(
                delete(idempotency).where(idempotency.c.created_at < now - IDEMPOTENCY_RETENTION)
            )
        self._pruned_at = now
