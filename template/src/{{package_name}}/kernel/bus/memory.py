# Owned by the monocell template: `copier update` replaces this file.
"""The embedded transport: every cell in this process, no server, same rules as NATS.

Envelopes carry encoded bytes here too (the bus encodes before any transport),
so a payload that would not survive NATS fails the same way in memory.

- Commands run in the sender's task (the cheapest hop), under the deadline the
  envelope carries; several instances of one cell take turns.
- Events go through one bounded queue per (cell, event type), worked by
  `policy.concurrency` tasks per registered instance (the cell's own, when
  `cell_policies` has one). A full queue makes
  `publish` wait, up to `publish_timeout`, then raise `UnavailableError`:
  a slow consumer slows its producers instead of growing memory.
- A failing event handler is retried after `policy.backoff`, then the event is
  dead-lettered (kept in a bounded list, counted in the metrics). An event
  that cannot be decoded is dead-lettered at once: retrying cannot fix it. One
  whose handler met an outage (`OutageError`: its database down) is tried
  again by the same worker every `OUTAGE_RETRY` seconds, counting no attempt
  (the next events would meet the same outage).
- The same envelope id published twice within `dedupe_window` is delivered once
  (the last `dedupe_limit` ids are remembered).
- `publish` returns a future that completes once every consuming cell has
  settled the event (handled it, or dead-lettered it): the outbox of the cell
  that published it keeps its row until then, so a process killed with events
  still queued delivers them again when it starts (consumers dedupe by id).
- Memory is not durable: what is still queued when `close` times out is lost
  (and logged) unless its publisher has an outbox (a cell with storage), which
  relays it at the next start. Use NATS when more than that matters.
"""

import asyncio
import collections
import itertools
import logging
import time
from collections.abc import Mapping

from ..core.errors import NoHandlerError, OutageError, SerializationError, UnavailableError
from . import metrics
from .envelope import Envelope
from .transport import (
    OUTAGE_RETRY,
    Consumer,
    DeadLetter,
    DeliveryPolicy,
    Responder,
)

logger = logging.getLogger(__name__)


class _Group:
    """The queue one cell consumes one event type from, and the tasks working it."""

    def __init__(self, message_type: str, name: str, policy: DeliveryPolicy) -> None:
        self.message_type = message_type
        self.name = name
        self.queue: asyncio.Queue[tuple[Envelope, int]] = asyncio.Queue(policy.queue_size)
        self.workers: list[asyncio.Task[None]] = []
        self.unsettled = 0  # queued, being handled, or waiting for a retry
        self.settled = asyncio.Event()
        self.settled.set()
        # Read when metrics are scraped, so counting costs nothing per message.
        metrics.queue_depth(name, message_type).set_function(self.queue.qsize)

    def add(self) -> None:
        self.unsettled += 1
        self.settled.clear()

    def done(self) -> None:
        self.unsettled -= 1
        if self.unsettled == 0:
            self.settled.set()


class _Settling:
    """One published event: how many consuming groups have still to settle it."""

    __slots__ = ("future", "remaining")

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class MemoryTransport:
    """In-process transport; see the module docstring for its delivery rules."""

    def __init__(
        self,
        policy: DeliveryPolicy | None = None,
        *,
        publish_timeout: float = 10.0,
        dedupe_window: float = 120.0,
        dedupe_limit: int = 100_000,
        dead_letter_limit: int = 10_000,
        cell_policies: Mapping[str, DeliveryPolicy] | None = None,
    ) -> None:
        self.policy = policy or DeliveryPolicy()
        self.cell_policies = dict(cell_policies or {})
        self.publish_timeout = publish_timeout
        self.dedupe_window = dedupe_window
        self.dedupe_limit = dedupe_limit
        self._responders: dict[str, tuple[str, list[Responder], itertools.count[int]]] = {}
        self._groups: dict[str, dict[str, _Group]] = {}
        self._seen: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._settling: dict[str, _Settling] = {}  # published events not settled yet
        self._dead: collections.deque[DeadLetter] = collections.deque(maxlen=dead_letter_limit)
        self._retries: set[asyncio.Task[None]] = set()
        self._requests = 0
        self._requests_done = asyncio.Event()
        self._started = False
        self._closed = False

    @property
    def ready(self) -> bool:
        return self._started and not self._closed

    @property
    def problem(self) -> str | None:
        return None  # nothing between the cells that could be degraded

    async def start(self) -> None:
        if self._closed:
            raise UnavailableError("memory transport: closed; build a new bus")
        self._started = True

    async def idle(self) -> None:
        """Return once no event is queued, being handled or waiting for a retry, and no
        command is running (a test's "everything has happened" point)."""
        groups = [group for by_name in self._groups.values() for group in by_name.values()]
        while self._requests or any(group.unsettled for group in groups):
            await asyncio.gather(*(group.settled.wait() for group in groups))
            if self._requests:
                self._requests_done.clear()
                await self._requests_done.wait()

    async def close(self, drain_timeout: float) -> None:
        """Let queued events and running commands finish, then stop the workers."""
        groups = [group for by_name in self._groups.values() for group in by_name.values()]
        try:
            async with asyncio.timeout(drain_timeout):
                await self.idle()
        except TimeoutError:
            lost = sum(group.unsettled for group in groups)
            logger.warning("memory transport: drain timed out, %d event(s) not handled", lost)
        self._closed = True
        tasks = [*self._retries, *(task for group in groups for task in group.workers)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def serve(self, message_type: str, group: str, responder: Responder) -> None:
        current = self._responders.get(message_type)
        if current is None:
            self._responders[message_type] = (group, [responder], itertools.count())
        elif current[0] != group:
            raise ValueError(f"command {message_type} is already handled by cell {current[0]!r}")
        else:
            current[1].append(responder)

    async def consume(self, message_type: str, group: str, consumer: Consumer) -> None:
        by_name = self._groups.setdefault(message_type, {})
        queue_group = by_name.get(group)
        if queue_group is None:
            queue_group = by_name[group] = _Group(message_type, group, self.policy)
        for _ in range(self.cell_policies.get(group, self.policy).concurrency):
            queue_group.workers.append(asyncio.create_task(self._work(queue_group, consumer)))

    async def request(self, envelope: Envelope, timeout: float) -> Envelope:
        self._check_open()
        serving = self._responders.get(envelope.type)
        if serving is None:
            raise NoHandlerError(f"no cell handles {envelope.type}")
        _, responders, turn = serving
        responder = responders[next(turn) % len(responders)]
        self._requests += 1
        try:
            # The responder runs in this task and enforces the envelope's deadline itself
            # (it must, on NATS); a second timer here would only double the cost.
            return await responder(envelope)
        finally:
            self._requests -= 1
            if not self._requests:
                self._requests_done.set()

    async def publish(
        self, envelope: Envelope, *, settling: bool = False
    ) -> asyncio.Future[None] | None:
        self._check_open()
        if self._already_seen(envelope.id):  # the same event again: its first settling
            known = self._settling.get(envelope.id)
            return None if known is None else known.future
        groups = tuple(self._groups.get(envelope.type, {}).values())
        # Tracked only for a publisher that waits for it (an outbox): 10% of a bare
        # publish -> handled hop otherwise (97k against 108k events a second).
        tracked = _Settling(len(groups)) if settling and groups else None
        if tracked is not None:
            self._settling[envelope.id] = tracked
        for group in groups:
            if group.queue.full():  # wait for room, but not forever (a timer only then)
                try:
                    async with asyncio.timeout(self.publish_timeout):
                        await group.queue.put((envelope, 1))
                except BaseException as error:  # timed out, or the sender's deadline passed
                    # Published again later (its row stays in the outbox): not a duplicate,
                    # and not a settling that would never complete.
                    self.forget(envelope.id)
                    if not isinstance(error, TimeoutError):
                        raise
                    raise UnavailableError(
                        f"{envelope.type}: queue of cell {group.name!r} stayed full for "
                        f"{self.publish_timeout:g} s"
                    ) from None
            else:
                group.queue.put_nowait((envelope, 1))
            group.add()
        return None if tracked is None else tracked.future

    async def dead_letters(self) -> list[DeadLetter]:
        return list(self._dead)

    def _check_open(self) -> None:
        if not self._started or self._closed:
            raise UnavailableError("memory transport: not running")

    def forget(self, message_id: str) -> None:
        """Drop `message_id` from the dedupe memory: the next publish of it is delivered
        (what a JetStream redelivery after a lost ack looks like to a consumer)."""
        self._seen.pop(message_id, None)
        self._settling.pop(message_id, None)

    def _settle(self, group: _Group, envelope: Envelope) -> None:
        """`group` is done with `envelope`; the publisher hears once every group is."""
        group.done()
        settling = self._settling.get(envelope.id)
        if settling is None:  # forgotten meanwhile, or published with no group then
            return
        settling.remaining -= 1
        if settling.remaining <= 0:
            del self._settling[envelope.id]
            if not settling.future.done():
                settling.future.set_result(None)

    def _already_seen(self, message_id: str) -> bool:
        """Remember ids for `dedupe_window` seconds (JetStream's duplicate window), and
        at most `dedupe_limit` of them, so a busy bus does not grow without bound."""
        now = time.monotonic()
        while self._seen:
            oldest_id, seen_at = next(iter(self._seen.items()))
            if now - seen_at < self.dedupe_window:
                break
            del self._seen[oldest_id]
        if message_id in self._seen:
            return True
        while len(self._seen) >= self.dedupe_limit:
            del self._seen[next(iter(self._seen))]
        self._seen[message_id] = now
        return False

    async def _work(self, group: _Group, consumer: Consumer) -> None:
        while True:
            envelope, attempt = await group.queue.get()
            while True:
                try:
                    await consumer(envelope)
                except asyncio.CancelledError:
                    raise
                except OutageError:  # its database is down, so for the next event too:
                    await asyncio.sleep(OUTAGE_RETRY)  # this worker waits, then tries again
                    continue
                except Exception as error:  # the bus already logged it; decide what comes next
                    self._after_failure(group, envelope, attempt, error)
                    break
                self._settle(group, envelope)
                break

    def _after_failure(
        self, group: _Group, envelope: Envelope, attempt: int, error: Exception
    ) -> None:
        if isinstance(error, SerializationError) or attempt >= self.policy.max_deliveries:
            self._dead.append(
                DeadLetter(group=group.name, reason=str(error), attempts=attempt, envelope=envelope)
            )
            metrics.dead_lettered(group.name, envelope.type)
            logger.error(
                "dead letter: %s for cell %s after %d attempt(s): %s",
                envelope.type,
                group.name,
                attempt,
                error,
                extra={"correlation_id": envelope.correlationid, "message_id": envelope.id},
            )
            self._settle(group, envelope)
            return
        retry = asyncio.create_task(self._retry(group, envelope, attempt + 1))
        self._retries.add(retry)
        retry.add_done_callback(self._retries.discard)

    async def _retry(self, group: _Group, envelope: Envelope, attempt: int) -> None:
        await asyncio.sleep(self.policy.delay_before(attempt))
        # A retry waits for room like any publisher; it is already counted as unsettled.
        await group.queue.put((envelope, attempt))
