# Owned by the monocell template: `copier update` replaces this file.
"""The NATS transport: JetStream for events, request/reply for commands (nats-py).

Subjects live under a namespace (the package name by default), so several
services can share one server:

    <ns>.commands.<type>                  request/reply, queue group = cell name
    <ns>.events.<type>                    stream <NS>_EVENTS (interest retention)
    <ns>.dead_letters.<cell>.<type>       stream <NS>_DEAD_LETTERS

Events: each consuming cell has a durable pull consumer per event type, shared
by all its instances (they compete). Explicit ack; a failure is `nak`ed with the
policy's backoff; after `max_deliveries` the event is copied to the dead-letter
stream and terminated. A handler that runs long tells the server it is still
working, so only a crashed worker's message is redelivered (after `ack_wait`).
`Nats-Msg-Id` is the envelope id, so JetStream drops duplicates for two minutes.

Messages use CloudEvents binary mode (`ce-*` headers, JSON body): a plain
nats-py subscriber can read them. The client reconnects on its own; `close`
stops fetching, lets in-flight handlers finish, then drains the connection.
"""

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StreamConfig

from ..config.topology import redact_url
from ..core.errors import (
    BusError,
    DeadlineExceededError,
    NoHandlerError,
    SerializationError,
    UnavailableError,
)
from . import metrics
from .codec import ERROR_TYPE, error_body
from .envelope import Envelope, new_id, now_rfc3339
from .transport import (
    Consumer,
    DeadLetter,
    DeliveryPolicy,
    Responder,
)

logger = logging.getLogger(__name__)

FETCH_WAIT = 0.5  # seconds one pull request lingers on the server (and close may wait)
CONNECT_ATTEMPTS = 3  # tries before the first connection is given up
DEDUPE_WINDOW = 120.0  # seconds JetStream remembers message ids
DEAD_LETTER_HEADER = "Dead-Letter-"  # prefix of the headers a dead letter adds


@dataclass
class _Puller:
    """One pull consumer and its workers.

    It fetches at most as many events as it has free slots (`concurrency` minus
    those it holds) and queues them for `concurrency` long-lived worker tasks:
    a task per message would cost more than the rest of the delivery.
    """

    subscription: JetStreamContext.PullSubscription
    group: str
    message_type: str
    consumer: Consumer
    concurrency: int
    waiting: "asyncio.Queue[Msg]" = field(default_factory=asyncio.Queue)
    held: dict[int, Msg] = field(default_factory=dict)  # fetched, not yet settled; by id()
    room: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    puller: "asyncio.Task[None] | None" = None
    helpers: "list[asyncio.Task[None]]" = field(default_factory=list)

    @property
    def free(self) -> int:
        return self.concurrency - len(self.held)

    def take(self, msg: Msg) -> None:
        self.held[id(msg)] = msg
        self.idle.clear()
        self.waiting.put_nowait(msg)
        if self.free < max(1, self.concurrency // 2):
            self.room.clear()

    def release(self, msg: Msg) -> None:
        """A delivery settled. Wake the puller once half the slots are free, so it
        fetches in batches rather than a pull request per message."""
        del self.held[id(msg)]
        if self.free >= max(1, self.concurrency // 2):
            self.room.set()
        if not self.held:
            self.idle.set()


_NEXT_SERVER = re.compile(r",(?=(?:nats|tls|ws|wss)://)")


def connection_options(url: str) -> tuple[list[str], dict[str, str]]:
    """The servers and the credentials in `[bus] url`, for `nats.connect`.

    `url` is one URL or a comma-separated list (a cluster). Credentials are
    taken out here and passed on their own: nats-py reads them with urllib,
    which stops at a `/`, `#` or `?` in a password, so a password with any of
    them (about half of random base64 ones) would fail as a malformed URL.
    `user:password@` gives a user and password, a bare `token@` a token.
    """
    servers: list[str] = []
    credentials: dict[str, str] = {}
    for item in _NEXT_SERVER.split(url.strip()):
        scheme, _, rest = item.strip().partition("://")
        userinfo, at, host = rest.rpartition("@")
        if at and not credentials:
            user, colon, password = userinfo.partition(":")
            credentials = {"user": user, "password": password} if colon else {"token": user}
        servers.append(f"{scheme}://{host}")
    return servers, credentials


class NatsTransport:
    """NATS JetStream transport; see the module docstring for subjects and rules."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str,
        policy: DeliveryPolicy | None = None,
        connect_timeout: float = 2.0,
        publish_timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.namespace = namespace
        self.policy = policy or DeliveryPolicy()
        self.connect_timeout = connect_timeout
        self.publish_timeout = publish_timeout
        self.events_stream = f"{namespace.upper()}_EVENTS"
        self.dead_letter_stream = f"{namespace.upper()}_DEAD_LETTERS"
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._subscriptions: list[Subscription] = []
        self._pullers: list[_Puller] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._connect_error: Exception | None = None

    # -- lifecycle -----------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._nc is not None and self._nc.is_connected and not self._stopping

    async def start(self) -> None:
        try:
            servers, credentials = connection_options(self.url)
            self._connect_error = None
            self._nc = await nats.connect(
                servers,
                **credentials,
                name=self.namespace,
                connect_timeout=self.connect_timeout,
                max_reconnect_attempts=CONNECT_ATTEMPTS,
                reconnect_time_wait=0.5,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
            )
        except (OSError, TimeoutError, nats.errors.Error) as error:
            # "no servers available" says little; the server's refusal (an
            # authorization violation, say) reached the error callback first.
            reason = self._connect_error or error
            raise UnavailableError(
                f"nats: cannot connect to {redact_url(self.url)}: {reason}"
            ) from None
        # Give up early on the first connection (a wrong URL should fail fast), but
        # once connected, reconnect forever: nats-py reads this option on every attempt.
        self._nc.options["max_reconnect_attempts"] = -1
        self._js = self._nc.jetstream(timeout=self.publish_timeout)
        await self._ensure_stream(
            StreamConfig(
                name=self.events_stream,
                subjects=[f"{self.namespace}.events.>"],
                retention=RetentionPolicy.INTEREST,
                duplicate_window=DEDUPE_WINDOW,
            )
        )
        await self._ensure_stream(
            StreamConfig(
                name=self.dead_letter_stream,
                subjects=[f"{self.namespace}.dead_letters.>"],
                max_msgs=100_000,
                duplicate_window=DEDUPE_WINDOW,
            )
        )

    async def close(self, drain_timeout: float) -> None:
        """Stop fetching, finish what was fetched and what runs, then drain the connection."""
        self._stopping = True
        # Let each pull request end on its own (within FETCH_WAIT) and hand over what it
        # brought: cancelling it would strand messages already on their way until
        # `ack_wait` expires.
        for puller in self._pullers:
            puller.room.set()
        pulls = [puller.puller for puller in self._pullers if puller.puller is not None]
        if pulls:
            _, stuck = await asyncio.wait(pulls, timeout=FETCH_WAIT + drain_timeout)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*pulls, return_exceptions=True)
        for puller in self._pullers:
            with contextlib.suppress(nats.errors.Error):
                await puller.subscription.unsubscribe()
        for subscription in self._subscriptions:
            with contextlib.suppress(nats.errors.Error):
                await subscription.drain()  # type: ignore[no-untyped-call]
        late: set[asyncio.Task[Any]] = set()
        waits = [asyncio.create_task(puller.idle.wait()) for puller in self._pullers]
        if waits or self._in_flight:
            _, late = await asyncio.wait([*waits, *self._in_flight], timeout=drain_timeout)
        if late:
            held = sum(len(puller.held) for puller in self._pullers)
            logger.warning("nats: drain timed out; %d event(s) will be redelivered", held)
        helpers = [task for puller in self._pullers for task in puller.helpers]
        for task in [*late, *helpers]:
            task.cancel()
        await asyncio.gather(*late, *helpers, return_exceptions=True)
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(nats.errors.Error):
                await self._nc.drain()

    # -- commands ------------------------------------------------------------------

    async def request(self, envelope: Envelope, timeout: float) -> Envelope:
        nc = self._connection()
        try:
            msg = await nc.request(
                self._command_subject(envelope.type),
                envelope.data,
                timeout=timeout,
                headers=envelope.to_headers(),
            )
        except nats.errors.NoRespondersError:
            raise NoHandlerError(f"no cell handles {envelope.type}") from None
        except nats.errors.TimeoutError:
            raise DeadlineExceededError(f"{envelope.type}: no reply within {timeout:g} s") from None
        except nats.errors.Error as error:
            raise UnavailableError(f"nats: {envelope.type}: {error}") from None
        return Envelope.from_headers(msg.headers, msg.data)

    async def serve(self, message_type: str, group: str, responder: Responder) -> None:
        nc = self._connection()
        slots = asyncio.Semaphore(self.policy.concurrency)

        async def on_request(msg: Msg) -> None:
            # nats-py runs one callback at a time per subscription: hand each request
            # to its own task, at most `concurrency` at once (the rest wait in the
            # subscription's bounded pending queue).
            await slots.acquire()
            task = asyncio.create_task(self._answer(msg, responder))
            self._track(task)
            task.add_done_callback(lambda _: slots.release())

        subscription = await nc.subscribe(
            self._command_subject(message_type),
            queue=group,
            cb=on_request,
            pending_msgs_limit=self.policy.queue_size,
        )
        self._subscriptions.append(subscription)

    async def _answer(self, msg: Msg, responder: Responder) -> None:
        try:
            reply = await responder(Envelope.from_headers(msg.headers, msg.data))
        except SerializationError as error:
            reply = _error_envelope(error)
        if msg.reply:
            try:
                await self._connection().publish(msg.reply, reply.data, headers=reply.to_headers())
            except nats.errors.Error as error:
                logger.warning("nats: reply to %s lost: %s", msg.subject, error)

    # -- events --------------------------------------------------------------------

    async def publish(self, envelope: Envelope) -> None:
        js = self._jetstream()
        headers = envelope.to_headers()
        headers["Nats-Msg-Id"] = envelope.id
        try:
            await js.publish(self._event_subject(envelope.type), envelope.data, headers=headers)
        except nats.js.errors.NoStreamResponseError:
            raise UnavailableError(f"nats: no stream for {envelope.type}") from None
        except nats.errors.Error as error:
            raise UnavailableError(f"nats: cannot publish {envelope.type}: {error}") from None

    async def consume(self, message_type: str, group: str, consumer: Consumer) -> None:
        js = self._jetstream()
        subject = self._event_subject(message_type)
        durable = f"{group}__{message_type.replace('.', '_')}"
        config = ConsumerConfig(
            name=durable,
            durable_name=durable,
            filter_subject=subject,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.policy.ack_wait,
            max_ack_pending=self.policy.queue_size,
        )
        # Create, or update an existing consumer to this policy (`pull_subscribe` alone
        # would keep an old `ack_wait` silently).
        try:
            await js.add_consumer(self.events_stream, config)
        except nats.js.errors.BadRequestError as error:
            raise UnavailableError(
                f"nats: consumer {durable} cannot take the new settings: {error.description}"
            ) from None
        subscription = await js.pull_subscribe_bind(durable=durable, stream=self.events_stream)
        concurrency = self.policy.concurrency
        puller = _Puller(subscription, group, message_type, consumer, concurrency)
        puller.room.set()
        puller.idle.set()
        puller.puller = asyncio.create_task(self._pull(puller))
        puller.helpers = [asyncio.create_task(self._keep_alive(puller))]
        puller.helpers += [asyncio.create_task(self._work(puller)) for _ in range(concurrency)]
        self._pullers.append(puller)

    async def _pull(self, puller: _Puller) -> None:
        depth = metrics.queue_depth(puller.group, puller.message_type)
        while True:
            await puller.room.wait()
            if self._stopping:  # `close` wakes the puller to end here
                return
            try:
                batch = await puller.subscription.fetch(puller.free, timeout=FETCH_WAIT)
            except TimeoutError:  # nothing to fetch (nats-py raises both kinds)
                continue
            except Exception as error:  # disconnected (the client reconnects), or worse:
                # this loop must outlive any of it, or the cell silently stops consuming.
                logger.warning("nats: fetching %s failed: %s", puller.message_type, error)
                await asyncio.sleep(FETCH_WAIT)
                continue
            for msg in batch:
                puller.take(msg)
            if batch:
                depth.set(delivery_counts(batch[-1])[1])

    async def _work(self, puller: _Puller) -> None:
        while True:
            msg = await puller.waiting.get()
            try:
                await self._deliver(puller, msg, delivery_counts(msg)[0])
            except Exception:  # a worker must survive anything: the server redelivers
                logger.exception("nats: delivering %s failed", puller.message_type)
            finally:
                puller.release(msg)

    async def _keep_alive(self, puller: _Puller) -> None:
        """Tell the server the held messages are still being worked on, every ack_wait/3,
        so only a crashed worker's messages are redelivered (one timer per consumer,
        not one per message)."""
        while True:
            await asyncio.sleep(self.policy.ack_wait / 3)
            for msg in list(puller.held.values()):
                await _settle(msg.in_progress())

    async def _deliver(self, puller: _Puller, msg: Msg, attempt: int) -> None:
        try:
            envelope = Envelope.from_headers(msg.headers, msg.data)
        except SerializationError as error:
            await self._dead_letter(puller, msg, str(error), attempt)
            return
        if attempt > self.policy.max_deliveries:  # its handler crashed the process each time
            await self._dead_letter(puller, msg, "no outcome after every delivery", attempt)
            return
        try:
            await puller.consumer(envelope)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the bus logged it; decide between retry and dead letter
            if isinstance(error, SerializationError) or attempt >= self.policy.max_deliveries:
                await self._dead_letter(puller, msg, str(error), attempt)
            else:
                await _settle(msg.nak(delay=self.policy.delay_before(attempt + 1)))
            return
        await _settle(msg.ack())

    async def _dead_letter(self, puller: _Puller, msg: Msg, reason: str, attempts: int) -> None:
        headers = dict(msg.headers or {})
        headers[DEAD_LETTER_HEADER + "Group"] = puller.group
        headers[DEAD_LETTER_HEADER + "Reason"] = reason[:500]
        headers[DEAD_LETTER_HEADER + "Attempts"] = str(attempts)
        headers["Nats-Msg-Id"] = f"{headers.get('ce-id', new_id())}:{puller.group}"
        subject = f"{self.namespace}.dead_letters.{puller.group}.{puller.message_type}"
        try:
            await self._jetstream().publish(subject, msg.data, headers=headers)
        except nats.errors.Error as error:  # keep the event: it comes back and we try again
            logger.error("nats: cannot dead-letter %s: %s", puller.message_type, error)
            await _settle(msg.nak(delay=self.policy.delay_before(attempts + 1)))
            return
        metrics.dead_lettered(puller.group, puller.message_type)
        logger.error(
            "dead letter: %s for cell %s after %d attempt(s): %s",
            puller.message_type,
            puller.group,
            attempts,
            reason,
            extra={"correlation_id": headers.get("ce-correlationid", "")},
        )
        await _settle(msg.term())

    async def dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        js = self._jetstream()
        info = await js.stream_info(self.dead_letter_stream)
        letters: list[DeadLetter] = []
        if not info.state.messages:
            return letters
        first = max(info.state.first_seq, info.state.last_seq - limit + 1, 1)
        for sequence in range(first, info.state.last_seq + 1):
            try:
                raw = await js.get_msg(self.dead_letter_stream, sequence)
            except nats.js.errors.NotFoundError:  # deleted from the stream
                continue
            headers = dict(raw.headers or {})
            try:
                envelope = Envelope.from_headers(headers, raw.data or b"")
            except SerializationError:
                envelope = _error_envelope(SerializationError("undecodable dead letter"))
            letters.append(
                DeadLetter(
                    group=headers.get(DEAD_LETTER_HEADER + "Group", ""),
                    reason=headers.get(DEAD_LETTER_HEADER + "Reason", ""),
                    attempts=int(headers.get(DEAD_LETTER_HEADER + "Attempts", "0")),
                    envelope=envelope,
                )
            )
        return letters

    # -- helpers -------------------------------------------------------------------

    def _connection(self) -> Client:
        if self._nc is None or self._nc.is_closed:
            raise UnavailableError("nats transport: not running")
        return self._nc

    def _jetstream(self) -> JetStreamContext:
        self._connection()
        if self._js is None:
            raise UnavailableError("nats transport: not started")
        return self._js

    def _command_subject(self, message_type: str) -> str:
        return f"{self.namespace}.commands.{message_type}"

    def _event_subject(self, message_type: str) -> str:
        return f"{self.namespace}.events.{message_type}"

    def _track(self, task: asyncio.Task[None]) -> None:
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _ensure_stream(self, config: StreamConfig) -> None:
        js = self._jetstream()
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:  # exists with another configuration
            await js.update_stream(config)

    async def _on_error(self, error: Exception) -> None:
        if self._nc is None:  # still connecting: keep the reason for the one-line error
            self._connect_error = error
        logger.warning("nats: %s", error)

    async def _on_disconnected(self) -> None:
        if self._stopping:
            return
        logger.warning("nats: disconnected from %s; reconnecting", redact_url(self.url))

    async def _on_reconnected(self) -> None:
        logger.info("nats: reconnected to %s", redact_url(self.url))


def delivery_counts(msg: Msg) -> tuple[int, int]:
    """(times delivered, messages still pending) from a JetStream reply subject.

    Hand-parsed because nats-py's `msg.metadata` also converts the timestamp and
    costs more than the rest of a delivery. Subjects are
    `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<time>.<pending>`, or with
    `<domain>.<account>` after `ACK` and a random token at the end; anything else
    falls back to nats-py.
    """
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9 and tokens[1] == "ACK":
        return int(tokens[4]), int(tokens[8])
    if len(tokens) >= 12 and tokens[1] == "ACK":
        return int(tokens[6]), int(tokens[10])
    metadata = msg.metadata
    return metadata.num_delivered, metadata.num_pending


async def _settle(acknowledgement: Any) -> None:
    """Send an ack/nak/term; a lost one only means the server redelivers later."""
    try:
        await acknowledgement
    except nats.errors.Error as error:
        logger.warning("nats: acknowledgement lost: %s", error)


def _error_envelope(error: BusError) -> Envelope:
    return Envelope(
        id=new_id(),
        source="/bus",
        type=ERROR_TYPE,
        time=now_rfc3339(),
        correlationid="",
        traceparent="",
        data=error_body(error),
    )
