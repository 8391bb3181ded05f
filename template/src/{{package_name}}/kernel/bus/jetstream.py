# Owned by the monocell template: `copier update` replaces this file.
"""The NATS transport: JetStream for events, request/reply for commands (nats-py).

Subjects live under a namespace (the package name by default), so several
services can share one server:

    <ns>.commands.<type>                  request/reply, queue group = cell name
    <ns>.events.<type>                    stream <NS>_EVENTS ([bus] retention)
    <ns>.dead_letters.<cell>.<type>       stream <NS>_DEAD_LETTERS

Events: each consuming cell has a durable pull consumer per event type, shared
by all its instances (they compete). Explicit ack; a failure is `nak`ed with the
policy's backoff; after `max_deliveries` the event is copied to the dead-letter
stream and terminated. A handler that runs long tells the server it is still
working, so only a crashed worker's message is redelivered (after `ack_wait`).
A handler that met an outage (`OutageError`: its database down) keeps the
message, kept alive the same way, and runs again every `OUTAGE_RETRY` seconds:
a `nak` would count a delivery, and the backoff's few seconds would
dead-letter events through a database restart.
`Nats-Msg-Id` is the envelope id, so JetStream drops duplicates for two minutes.

Streams and consumers are provisioned, not created by whoever starts first: a
`Plan` (from `[bus]` and the cells) lists both streams and the durable consumer
of every cell's every event subscription; `<command> nats provision` applies it
with the `ops` user, so an event published before its consumer's worker ever
started is kept. A process only checks the shape it relies on (`[bus] provision
= "check"`, the default) and refuses to start on a missing or different stream
or consumer, naming it; with `provision = "auto"` (a development server) it
applies the plan itself first.

A process's user `u` receives replies and deliveries on its own inbox prefix,
`_INBOX_u` (see `kernel.ops.nats_auth`), so no other user can read them.

Messages use CloudEvents binary mode (`ce-*` headers, JSON body): a plain
nats-py subscriber can read them. The client reconnects on its own; `close`
stops fetching, lets in-flight handlers finish, then drains the connection.
"""

import asyncio
import contextlib
import json
import logging
import re
import ssl
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from ... import COMMAND_NAME
from ..config.topology import BusSettings, Topology, nats_servers, redact_url
from ..core.cell import Cell
from ..core.contracts import message_type_of
from ..core.errors import (
    BusError,
    DeadlineExceededError,
    NoHandlerError,
    OutageError,
    SerializationError,
    UnavailableError,
)
from . import metrics
from .codec import ERROR_TYPE, error_body
from .envelope import Envelope, new_id, now_rfc3339
from .nats_tls import TlsOnlyClient
from .transport import (
    OUTAGE_RETRY,
    Consumer,
    DeadLetter,
    DeliveryPolicy,
    Responder,
)

logger = logging.getLogger(__name__)

FETCH_WAIT = 0.5  # seconds one pull request lingers on the server (and close may wait)
CONNECT_ATTEMPTS = 3  # retries (after the first try) before a first connection is given up
RETRY_WAIT = 0.5  # seconds between them (nats-py's reconnect_time_wait)
DEDUPE_WINDOW = 120.0  # seconds JetStream remembers message ids
DEAD_LETTER_HEADER = "Dead-Letter-"  # prefix of the headers a dead letter adds
DEAD_LETTER_READER = "dead_letters"  # `<cell>__dead_letters`: the consumer that lists them
READER_IDLE = 60.0  # seconds before the server removes a reader a crashed process left
PROVISION_HINT = f"run `{COMMAND_NAME} nats provision`"
_USER_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass
class _Puller:
    """One pull consumer and its workers.

    It holds at most `concurrency + batch` events (those being handled and a
    batch fetched ahead, so the workers never wait on a fetch round trip), pulls
    again once half a batch of room is free, and queues them for `concurrency`
    long-lived worker tasks: a task per message would cost more than the rest
    of the delivery.
    """

    subscription: JetStreamContext.PullSubscription
    group: str
    message_type: str
    consumer: Consumer
    concurrency: int
    batch: int
    waiting: "asyncio.Queue[Msg]" = field(default_factory=asyncio.Queue)
    held: dict[int, Msg] = field(default_factory=dict)  # fetched, not yet settled; by id()
    room: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    puller: "asyncio.Task[None] | None" = None
    helpers: "list[asyncio.Task[None]]" = field(default_factory=list)
    shape: "ConsumerShape | None" = None  # what the server's consumer must look like
    failing: str | None = None  # why fetching fails now, until a fetch works again
    # When the server last refused this consumer's pulls (its error callback says so;
    # the fetch itself only times out, as if there were nothing to fetch).
    denied_at: float = -1.0

    @property
    def free(self) -> int:
        return self.concurrency + self.batch - len(self.held)

    @property
    def wanted(self) -> int:
        """How many to ask for in the next pull."""
        return min(self.free, self.batch)

    def take(self, msg: Msg) -> None:
        self.held[id(msg)] = msg
        self.idle.clear()
        self.waiting.put_nowait(msg)
        if self.free < max(1, self.batch // 2):
            self.room.clear()

    def release(self, msg: Msg) -> None:
        """A delivery settled. Wake the puller once half a batch of room is free, so
        it fetches in batches rather than a pull request per message."""
        del self.held[id(msg)]
        if self.free >= max(1, self.batch // 2):
            self.room.set()
        if not self.held:
            self.idle.set()


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
    for item in nats_servers(url):
        scheme, _, rest = item.partition("://")
        userinfo, at, host = rest.rpartition("@")
        if at and not credentials:
            user, colon, password = userinfo.partition(":")
            credentials = {"user": user, "password": password} if colon else {"token": user}
        servers.append(f"{scheme}://{host}")
    return servers, credentials


def inbox_prefix(credentials: dict[str, str]) -> str:
    """The inbox prefix of the user in `credentials`: `_INBOX_<user>`, else `_INBOX`.

    The server lets user `u` subscribe only to `_INBOX_u.>`, so replies and
    JetStream deliveries meant for one process cannot be read by another.
    """
    user = credentials.get("user", "")
    return f"_INBOX_{user}" if _USER_TOKEN.match(user) else "_INBOX"


# -- the provisioning plan ---------------------------------------------------------


class ProvisionError(UnavailableError):
    """The streams or consumers are missing, differ from the plan, or cannot be changed."""


def stream_names(namespace: str) -> tuple[str, str]:
    """(events stream, dead-letter stream) of a namespace."""
    return f"{namespace.upper()}_EVENTS", f"{namespace.upper()}_DEAD_LETTERS"


def consumer_name(group: str, message_type: str) -> str:
    """The durable consumer of cell `group` for events of `message_type`."""
    return f"{group}__{message_type.replace('.', '_')}"


@dataclass(frozen=True)
class StreamShape:
    """A stream as the plan wants it."""

    name: str
    subjects: tuple[str, ...]
    retention: str
    replicas: int
    max_age: float
    max_msgs: int
    max_bytes: int = -1  # no limit

    def config(self) -> StreamConfig:
        # A full stream refuses new messages (the publisher gets an error) rather
        # than dropping the oldest ones, which a consumer may not have seen yet.
        return StreamConfig(
            name=self.name,
            subjects=list(self.subjects),
            retention=RetentionPolicy(self.retention),
            num_replicas=self.replicas,
            max_age=self.max_age,
            max_msgs=self.max_msgs,
            max_bytes=self.max_bytes,
            discard=DiscardPolicy.NEW,
            storage=StorageType.FILE,
            duplicate_window=self.dedupe_window,
        )

    @property
    def dedupe_window(self) -> float:
        """How long message ids are remembered: two minutes, at most max_age."""
        return min(DEDUPE_WINDOW, self.max_age) if self.max_age else DEDUPE_WINDOW

    def differences(self, actual: StreamConfig, *, every: bool = False) -> list[str]:
        """What differs in `actual`: the shape a process relies on, or `every` setting."""
        found: dict[str, tuple[object, object]] = {
            "subjects": (sorted(actual.subjects or []), sorted(self.subjects)),
            "retention": (_value(actual.retention), self.retention),
            "replicas": (actual.num_replicas, self.replicas),
        }
        if every:
            found |= {
                "max_age": (actual.max_age, self.max_age),
                "max_msgs": (actual.max_msgs, self.max_msgs),
                "max_bytes": (actual.max_bytes, self.max_bytes),
                "discard": (_value(actual.discard), DiscardPolicy.NEW.value),
                "storage": (_value(actual.storage), StorageType.FILE.value),
                "duplicate_window": (actual.duplicate_window, self.dedupe_window),
            }
        return [
            f"{key} {have} (expected {want})" for key, (have, want) in found.items() if have != want
        ]


@dataclass(frozen=True)
class ConsumerShape:
    """A durable consumer of the events stream as the plan wants it."""

    stream: str
    name: str
    filter_subject: str
    ack_wait: float
    max_ack_pending: int

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            name=self.name,
            durable_name=self.name,
            filter_subject=self.filter_subject,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_ack_pending=self.max_ack_pending,
        )

    def differences(self, actual: ConsumerConfig, *, every: bool = False) -> list[str]:
        found: dict[str, tuple[object, object]] = {
            "filter": (
                actual.filter_subject or ", ".join(actual.filter_subjects or []) or ">",
                self.filter_subject,
            ),
            "ack_policy": (_value(actual.ack_policy), AckPolicy.EXPLICIT.value),
            "ack_wait": (actual.ack_wait, self.ack_wait),
        }
        if every:
            found["max_ack_pending"] = (actual.max_ack_pending, self.max_ack_pending)
        return [
            f"{key} {have} (expected {want})" for key, (have, want) in found.items() if have != want
        ]


@dataclass(frozen=True)
class Plan:
    """Both streams and the durable consumers, for `nats provision` and the start check."""

    events: StreamShape
    dead_letters: StreamShape
    consumers: tuple[ConsumerShape, ...]

    def as_json(self) -> str:
        """The plan as the stable JSON document `topology deploy` commits."""
        document = {
            "streams": [_stream_document(self.events), _stream_document(self.dead_letters)],
            "consumers": [
                {
                    "stream": c.stream,
                    "durable_name": c.name,
                    "filter_subject": c.filter_subject,
                    "deliver_policy": "all",
                    "ack_policy": "explicit",
                    "ack_wait_seconds": c.ack_wait,
                    "max_ack_pending": c.max_ack_pending,
                }
                for c in self.consumers
            ],
        }
        return json.dumps(document, indent=2) + "\n"


def _stream_document(shape: StreamShape) -> dict[str, object]:
    return {
        "name": shape.name,
        "subjects": list(shape.subjects),
        "retention": shape.retention,
        "num_replicas": shape.replicas,
        "max_age_seconds": shape.max_age,
        "max_msgs": shape.max_msgs,
        "max_bytes": shape.max_bytes,
        "discard": "new",
        "storage": "file",
        "duplicate_window_seconds": shape.dedupe_window,
    }


def _value(setting: object) -> object:
    kinds = (RetentionPolicy, DiscardPolicy, AckPolicy, StorageType)
    return setting.value if isinstance(setting, kinds) else setting


def consumer_shape(
    namespace: str, group: str, message_type: str, policy: DeliveryPolicy
) -> ConsumerShape:
    return ConsumerShape(
        stream=stream_names(namespace)[0],
        name=consumer_name(group, message_type),
        filter_subject=f"{namespace}.events.{message_type}",
        ack_wait=policy.ack_wait,
        max_ack_pending=policy.queue_size,
    )


def delivery_policy(bus: BusSettings) -> DeliveryPolicy:
    """The delivery policy `[bus]` configures (the consumers' ack_wait comes from it)."""
    return DeliveryPolicy(
        max_deliveries=bus.max_deliveries,
        ack_wait=bus.ack_wait,
        concurrency=bus.concurrency,
        fetch_batch=bus.fetch_batch,
    )


def cell_policies(topology: Topology) -> dict[str, DeliveryPolicy]:
    """The policy of each cell whose `[cells.<name>]` sets its own concurrency or fetch_batch.

    Only how a process works the cell's events changes; the provisioned consumer
    (ack_wait, max_ack_pending) stays `[bus]`'s, so the plan does not depend on it.
    """
    base = delivery_policy(topology.bus)
    return {
        name: replace(
            base,
            concurrency=settings.concurrency or base.concurrency,
            fetch_batch=settings.fetch_batch or base.fetch_batch,
        )
        for name, settings in topology.cells.items()
        if settings.concurrency is not None or settings.fetch_batch is not None
    }


def plan_for(namespace: str, bus: BusSettings, cells: Iterable[Cell]) -> Plan:
    """The streams `[bus]` describes and a durable consumer per cell and event type."""
    events, dead_letters = stream_names(namespace)
    policy = delivery_policy(bus)
    consumers = [
        consumer_shape(namespace, cell.name, message_type_of(event), policy)
        for cell in cells
        for event in cell.events
    ]
    return Plan(
        events=StreamShape(
            name=events,
            subjects=(f"{namespace}.events.>",),
            retention=bus.retention,
            replicas=bus.replicas,
            max_age=bus.max_age,
            max_msgs=bus.max_msgs,
            max_bytes=bus.max_bytes if bus.max_bytes is not None else -1,
        ),
        dead_letters=StreamShape(
            name=dead_letters,
            subjects=(f"{namespace}.dead_letters.>",),
            retention="limits",
            replicas=bus.replicas,
            max_age=0.0,  # kept until looked at (or max_msgs)
            max_msgs=bus.dead_letter_max_msgs,
        ),
        consumers=tuple(sorted(consumers, key=lambda c: c.name)),
    )


async def apply_plan(js: JetStreamContext, wanted: Plan, *, prune: bool = False) -> list[str]:
    """Create or update both streams and every consumer; one line per object.

    A stream or consumer that has the planned settings is left alone. Consumers
    of the events stream that no cell has any more are named (and deleted with
    `prune`): with interest retention they would hold every event until max_age.
    """
    lines = [await _apply_stream(js, shape) for shape in (wanted.events, wanted.dead_letters)]
    for consumer in wanted.consumers:
        lines.append(await _apply_consumer(js, consumer))
    planned = {consumer.name for consumer in wanted.consumers}
    try:
        existing = [info.name for info in await js.consumers_info(wanted.events.name)]
    except nats.js.errors.APIError as error:
        raise ProvisionError(
            f"nats: cannot list the consumers of {wanted.events.name}: {error.description}"
        ) from None
    for name in sorted(set(existing) - planned):
        if prune:
            await js.delete_consumer(wanted.events.name, name)
            lines.append(f"consumer {name}: deleted (no cell consumes it)")
        else:
            lines.append(f"consumer {name}: no cell consumes it (delete it with --prune)")
    return lines


async def _apply_stream(js: JetStreamContext, shape: StreamShape) -> str:
    try:
        info = await js.stream_info(shape.name)
    except nats.js.errors.NotFoundError:
        try:
            await js.add_stream(shape.config())
        except nats.js.errors.APIError as error:
            raise ProvisionError(
                f"nats: cannot create stream {shape.name}: {error.description}"
            ) from None
        return f"stream {shape.name}: created"
    changes = shape.differences(info.config, every=True)
    if not changes:
        return f"stream {shape.name}: unchanged"
    try:
        await js.update_stream(shape.config())
    except nats.js.errors.APIError as error:
        raise ProvisionError(
            f"nats: cannot update stream {shape.name} ({'; '.join(changes)}): {error.description}"
        ) from None
    return f"stream {shape.name}: updated ({'; '.join(changes)})"


async def _apply_consumer(js: JetStreamContext, shape: ConsumerShape) -> str:
    try:
        info = await js.consumer_info(shape.stream, shape.name)
    except nats.js.errors.NotFoundError:
        changes = None
    else:
        changes = shape.differences(info.config, every=True)
        if not changes:
            return f"consumer {shape.name}: unchanged"
    try:
        await js.add_consumer(shape.stream, shape.config())  # creates, or updates in place
    except nats.js.errors.APIError as error:
        raise ProvisionError(
            f"nats: consumer {shape.name} cannot take the planned settings: {error.description}"
        ) from None
    if changes is None:
        return f"consumer {shape.name}: created"
    return f"consumer {shape.name}: updated ({'; '.join(changes)})"


async def check_stream(js: JetStreamContext, shape: StreamShape) -> None:
    """Refuse a missing stream, or one whose subjects, retention or replicas differ."""
    try:
        info = await js.stream_info(shape.name)
    except nats.js.errors.NotFoundError:
        raise ProvisionError(
            f"nats: stream {shape.name} does not exist: {PROVISION_HINT}"
        ) from None
    changes = shape.differences(info.config)
    if changes:
        raise ProvisionError(
            f"nats: stream {shape.name} has {'; '.join(changes)}: {PROVISION_HINT}"
        )


async def check_consumer(js: JetStreamContext, shape: ConsumerShape) -> None:
    """Refuse a missing consumer, or one with another filter, ack policy or ack_wait."""
    try:
        info = await js.consumer_info(shape.stream, shape.name)
    except nats.js.errors.NotFoundError:
        raise ProvisionError(
            f"nats: consumer {shape.name} of stream {shape.stream} does not exist: {PROVISION_HINT}"
        ) from None
    changes = shape.differences(info.config)
    if changes:
        raise ProvisionError(
            f"nats: consumer {shape.name} of stream {shape.stream} has {'; '.join(changes)}: "
            f"{PROVISION_HINT}"
        )


async def provision(
    url: str,
    wanted: Plan,
    *,
    prune: bool = False,
    timeout: float = 5.0,
    tls: ssl.SSLContext | None = None,
) -> list[str]:
    """Connect to `url` (the ops user), apply `wanted`, disconnect; see `apply_plan`."""
    servers, credentials = connection_options(url)
    errors: list[Exception] = []

    async def record(error: Exception) -> None:
        errors.append(error)

    started = time.monotonic()
    try:
        nc = await _connect(
            servers,
            timeout,
            **credentials,
            inbox_prefix=inbox_prefix(credentials),
            name=f"{wanted.events.name.lower()}-provision",
            tls=tls,
            error_cb=record,
        )
    except (OSError, TimeoutError, nats.errors.Error) as error:
        raise _cannot_connect(url, errors[0] if errors else error, timeout, started) from None
    try:
        js = nc.jetstream(timeout=timeout)
        try:
            return await apply_plan(js, wanted, prune=prune)
        except nats.errors.TimeoutError:
            raise ProvisionError(_timeout_reason(errors, redact_url(url), wanted)) from None
    finally:
        with contextlib.suppress(nats.errors.Error):
            await nc.close()


PULL_DENIED = (
    "the server refuses this user's pulls (permissions violation): its configuration "
    "no longer lets this process host the cell; restart it with the new topology"
)


def _pull_subject(shape: "ConsumerShape") -> str:
    """The subject a pull of `shape`'s consumer is published to, as errors spell it."""
    return f"$js.api.consumer.msg.next.{shape.stream}.{shape.name}".lower()


def _timeout_reason(errors: Sequence[Exception], where: str, plan: Plan) -> str:
    """Why a JetStream request got no answer: a refused permission, or no JetStream."""
    denied = [str(e) for e in errors if "permissions violation" in str(e).lower()]
    if denied:
        said = _with_subjects_spelt(denied[-1].strip(), plan)
        return f"nats: {where}: {said} (this user may not do it)"
    return f"nats: {where}: JetStream did not answer (is it enabled on the server?)"


_JS_API_TOKENS = re.compile(
    r"\$js\.api((?:\.(?:stream|consumer|create|update|delete|info|names|list|msg|next|"
    r"get|purge|durable|direct)(?![a-z0-9_-]))*)"
)


def _with_subjects_spelt(message: str, plan: Plan) -> str:
    """nats-py lowercases the server's -ERR line, subjects and all; spell the subjects
    of the plan (streams, consumers, filters) and the JetStream API as the ACLs do."""
    names = [plan.events.name, plan.dead_letters.name]
    names += [part for c in plan.consumers for part in (c.name, c.filter_subject)]
    for name in sorted(set(names), key=len, reverse=True):  # longest first: no partial hits
        spelt = name.replace("\\", "\\\\")  # a replacement string, not a pattern
        message = re.sub(re.escape(name), spelt, message, flags=re.IGNORECASE)
    return _JS_API_TOKENS.sub(lambda found: found[0].upper(), message)


def _cannot_connect(
    url: str, reason: Exception, connect_timeout: float, started: float
) -> UnavailableError:
    """The one line for a first connection that failed (tried since `started`, a
    `time.monotonic()`); a timeout has no text of its own."""
    waited = time.monotonic() - started
    said = str(reason).strip() or (
        f"no answer in {waited:.1f} s ({connect_timeout:g} s an attempt; "
        "is the host reachable and the port open?)"
        if isinstance(reason, TimeoutError)
        else type(reason).__name__
    )
    return UnavailableError(f"nats: cannot connect to {redact_url(url)}: {said}")


async def _connect(servers: list[str], connect_timeout: float, **options: Any) -> Client:
    """`nats.connect`, given up after its attempts even when a TLS handshake fails.

    nats-py retries a failed certificate check forever (it is not counted as a
    failed attempt), so the first connection is bounded here: an untrusted server
    or a refused client certificate then fails in one line like any other refusal.
    """
    client = TlsOnlyClient()  # plain unless `tls` is given; then TLS or nothing
    bound = CONNECT_ATTEMPTS * (connect_timeout + RETRY_WAIT) + 1
    try:
        await asyncio.wait_for(
            client.connect(
                servers,
                connect_timeout=connect_timeout,  # type: ignore[arg-type]  # nats-py takes seconds as float
                max_reconnect_attempts=CONNECT_ATTEMPTS,
                reconnect_time_wait=RETRY_WAIT,  # type: ignore[arg-type]  # as connect_timeout
                **options,
            ),
            timeout=bound,
        )
    except BaseException:
        with contextlib.suppress(Exception):
            await client.close()
        raise
    return client


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
        plan: "Plan | None" = None,
        provision: Literal["check", "auto"] = "check",
        tls: ssl.SSLContext | None = None,
        cell_policies: Mapping[str, DeliveryPolicy] | None = None,
    ) -> None:
        """`plan` is what the streams and this process's consumers must look like (by
        default `[bus]`'s defaults and no consumer); `provision` as in `[bus]`: "auto"
        applies `plan` at start and creates any other consumer `consume` asks for.
        `cell_policies` gives some cells their own concurrency and fetch batch."""
        self.url = url
        self.namespace = namespace
        self.policy = policy or DeliveryPolicy()
        self.cell_policies = dict(cell_policies or {})
        self.connect_timeout = connect_timeout
        self.publish_timeout = publish_timeout
        self.events_stream, self.dead_letter_stream = stream_names(namespace)
        self.plan = plan or plan_for(namespace, BusSettings(ack_wait=self.policy.ack_wait), ())
        self.provision = provision
        self.tls = tls  # see kernel.bus.nats_tls
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._subscriptions: list[Subscription] = []
        self._pullers: list[_Puller] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._connect_error: Exception | None = None
        self._publish_failing: str | None = None  # why the last publish failed, until one works
        self._errors: list[Exception] = []  # the latest few the server sent (permissions)
        self._last_logged_error: str | None = None

    # -- lifecycle -----------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._nc is not None and self._nc.is_connected and not self._stopping

    @property
    def problem(self) -> str | None:
        """Why JetStream does not store events now (the last publish failed: a cluster
        electing a stream leader, or without quorum), until a publish succeeds again;
        or why a cell's consumer receives nothing (its consumer is gone).

        Commands still flow (request/reply needs no stream) and a cell's outbox keeps
        its events until then, so this degrades readiness without refusing commands.
        """
        if self._publish_failing is not None:
            return f"JetStream does not store events: {self._publish_failing}"
        for puller in self._pullers:
            if puller.failing is not None and self.ready:  # a disconnect says so itself
                return f"{puller.group} receives no {puller.message_type}: {puller.failing}"
        return None

    async def start(self) -> None:
        servers, credentials = connection_options(self.url)
        started = time.monotonic()
        try:
            self._connect_error = None
            self._nc = await _connect(
                servers,
                self.connect_timeout,
                **credentials,
                inbox_prefix=inbox_prefix(credentials),
                name=self.namespace,
                tls=self.tls,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
            )
        except (OSError, TimeoutError, nats.errors.Error) as error:
            # "no servers available" says little; the server's refusal (an
            # authorization violation, say) reached the error callback first.
            reason = self._connect_error or error
            raise _cannot_connect(self.url, reason, self.connect_timeout, started) from None
        # Give up early on the first connection (a wrong URL should fail fast), but
        # once connected, reconnect forever: nats-py reads this option on every attempt.
        self._nc.options["max_reconnect_attempts"] = -1
        self._js = self._nc.jetstream(timeout=self.publish_timeout)
        try:
            if self.provision == "auto":
                await apply_plan(self._js, self.plan)
            for shape in (self.plan.events, self.plan.dead_letters):
                await check_stream(self._js, shape)
            for consumer in self.plan.consumers:
                await check_consumer(self._js, consumer)
        except (nats.errors.TimeoutError, ProvisionError) as error:
            await self._abandon()
            detail = (
                error.detail
                if isinstance(error, ProvisionError)
                else _timeout_reason(self._errors, redact_url(self.url), self.plan)
            )
            if self.provision == "auto":
                detail += ' ([bus] provision = "auto")'
            raise ProvisionError(detail) from None

    async def _abandon(self) -> None:
        """Close a connection `start` will not hand over."""
        if self._nc is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._nc.close()

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
                self._command_subject(envelope.type), envelope.to_structured(), timeout=timeout
            )
        except nats.errors.NoRespondersError:
            raise NoHandlerError(f"no cell handles {envelope.type}") from None
        except nats.errors.TimeoutError:
            raise DeadlineExceededError(f"{envelope.type}: no reply within {timeout:g} s") from None
        except nats.errors.Error as error:
            raise UnavailableError(f"nats: {envelope.type}: {error}") from None
        return Envelope.received(msg.headers, msg.data)

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
        binary = bool(msg.headers)  # answer in the mode it was asked in
        try:
            reply = await responder(Envelope.received(msg.headers, msg.data))
        except SerializationError as error:
            reply = _error_envelope(error)
        if msg.reply:
            try:
                if binary:
                    await self._connection().publish(
                        msg.reply, reply.data, headers=reply.to_headers()
                    )
                else:
                    await self._connection().publish(msg.reply, reply.to_structured())
            except nats.errors.Error as error:
                logger.warning("nats: reply to %s lost: %s", msg.subject, error)

    # -- events --------------------------------------------------------------------

    async def publish(self, envelope: Envelope, *, settling: bool = False) -> None:
        """Publish to the events stream; returns once JetStream has stored the event."""
        js = self._jetstream()
        headers = envelope.to_headers()
        headers["Nats-Msg-Id"] = envelope.id
        try:
            await js.publish(self._event_subject(envelope.type), envelope.data, headers=headers)
        except nats.js.errors.NoStreamResponseError:
            self._publish_failing = "no stream"
            raise UnavailableError(f"nats: no stream for {envelope.type}") from None
        except nats.errors.Error as error:
            self._publish_failing = str(error) or type(error).__name__
            raise UnavailableError(f"nats: cannot publish {envelope.type}: {error}") from None
        self._publish_failing = None

    async def consume(self, message_type: str, group: str, consumer: Consumer) -> None:
        js = self._jetstream()
        shape = consumer_shape(self.namespace, group, message_type, self.policy)
        durable = shape.name
        try:
            if self.provision == "auto":
                await _apply_consumer(js, shape)
            else:
                await check_consumer(js, shape)
        except nats.errors.TimeoutError:
            raise ProvisionError(
                _timeout_reason(self._errors, redact_url(self.url), self.plan)
            ) from None
        subscription = await js.pull_subscribe_bind(durable=durable, stream=self.events_stream)
        policy = self.cell_policies.get(group, self.policy)
        concurrency = policy.concurrency
        # The consumer's max_ack_pending (queue_size) bounds what is held in all.
        batch = max(1, min(policy.fetch_batch, self.policy.queue_size - concurrency))
        puller = _Puller(subscription, group, message_type, consumer, concurrency, batch)
        puller.shape = shape
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
            asked = time.monotonic()
            try:
                batch = await puller.subscription.fetch(puller.wanted, timeout=FETCH_WAIT)
            except TimeoutError:  # nothing to fetch (nats-py raises both kinds), or refused
                if puller.denied_at >= asked:
                    await self._fetch_failed(puller, PermissionError(PULL_DENIED))
                else:
                    self._fetch_works(puller)
                continue
            except Exception as error:  # disconnected (the client reconnects), or worse:
                # this loop must outlive any of it, or the cell silently stops consuming.
                await self._fetch_failed(puller, error)
                await asyncio.sleep(FETCH_WAIT)
                continue
            self._fetch_works(puller)
            for msg in batch:
                puller.take(msg)
            if batch:
                depth.set(delivery_counts(batch[-1])[1])

    async def _fetch_failed(self, puller: _Puller, error: Exception) -> None:
        """Say why a consumer gets nothing, once per cause rather than every pull.

        A server that restarted without its JetStream state (a lost volume) has
        no stream or consumer any more and answers every pull "unavailable":
        that is named with the way out, and with `provision = "auto"` mended.
        """
        reason = str(error).strip() or type(error).__name__
        shape = puller.shape
        unavailable = nats.js.errors.ServiceUnavailableError | nats.js.errors.NotFoundError
        if shape is not None and isinstance(error, unavailable):
            if puller.failing is not None and PROVISION_HINT in puller.failing:
                return  # known gone: the pulls go on failing alike, nothing new to ask
            missing = None
            with contextlib.suppress(Exception):  # no answer: keep the fetch's reason
                missing = await self._missing_consumer(shape)
            if missing is not None:
                reason = f"{missing}: {PROVISION_HINT}"
            if missing is not None and self.provision == "auto":
                try:
                    await apply_plan(self._jetstream(), self.plan)
                    await _apply_consumer(self._jetstream(), shape)
                except Exception as refused:  # no rights, say: the operator must provision
                    reason += f' (provision = "auto" could not: {refused})'
                else:
                    logger.warning("nats: %s; provisioned again (provision = auto)", missing)
                    return
        if reason != puller.failing:
            logger.warning("nats: fetching %s fails: %s", puller.message_type, reason)
        puller.failing = reason

    async def _missing_consumer(self, shape: ConsumerShape) -> str | None:
        """Why `shape`'s consumer is not on the server (its stream gone, or itself)."""
        try:
            await self._jetstream().consumer_info(shape.stream, shape.name)
        except nats.js.errors.NotFoundError:
            return (
                f"consumer {shape.name} of stream {shape.stream} is gone "
                "(did the server lose its JetStream state?)"
            )
        return None

    def _fetch_works(self, puller: _Puller) -> None:
        if puller.failing is not None:
            logger.info("nats: fetching %s works again", puller.message_type)
            puller.failing = None

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
            while True:
                try:
                    await puller.consumer(envelope)
                    break
                except OutageError:  # not the event's fault: held (kept alive), tried again
                    await asyncio.sleep(OUTAGE_RETRY)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the bus logged it; decide between retry and dead letter
            if isinstance(error, SerializationError) or attempt >= self.policy.max_deliveries:
                await self._dead_letter(puller, msg, str(error), attempt)
            else:
                await _settle(msg.nak(delay=self.policy.delay_before(attempt + 1)))
            return
        # One ack per event, sent without waiting for the server: nats-py buffers
        # it with the others written meanwhile, so a busy consumer's acks leave
        # in a few writes. `AckPolicy.ALL` would ack everything up to a sequence
        # in one message, but handlers finish out of order here: it would ack
        # events still being handled (lost if the process dies).
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
        """The dead letters of the cells this process consumes for, oldest first.

        Each cell reads its own through a short-lived consumer filtered on its
        subjects (`<cell>__dead_letters`): its user may create that one and no
        other, so no process reads another cell's dead letters.
        """
        js = self._jetstream()
        found: list[tuple[int, DeadLetter]] = []
        for group in sorted({puller.group for puller in self._pullers}):
            found += await self._read_dead_letters(js, group, limit)
        found.sort(key=lambda item: item[0])
        return [letter for _, letter in found[-limit:]]

    async def _read_dead_letters(
        self, js: JetStreamContext, group: str, limit: int
    ) -> list[tuple[int, DeadLetter]]:
        reader = f"{group}__{DEAD_LETTER_READER}"
        config = ConsumerConfig(
            name=reader,
            filter_subject=f"{self.namespace}.dead_letters.{group}.>",
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=READER_IDLE,
        )
        try:
            info = await js.add_consumer(self.dead_letter_stream, config)
            letters: list[tuple[int, DeadLetter]] = []
            pending = info.num_pending or 0
            if pending:
                subscription = await js.pull_subscribe_bind(
                    durable=reader, stream=self.dead_letter_stream
                )
                try:
                    while len(letters) < pending:
                        batch = await subscription.fetch(min(pending - len(letters), 256))
                        letters += [
                            (msg.metadata.sequence.stream, _dead_letter(msg)) for msg in batch
                        ]
                finally:
                    with contextlib.suppress(nats.errors.Error):
                        await subscription.unsubscribe()
            with contextlib.suppress(nats.errors.Error):
                await js.delete_consumer(self.dead_letter_stream, reader)
        except nats.errors.TimeoutError:
            raise UnavailableError(
                _timeout_reason(self._errors, redact_url(self.url), self.plan)
            ) from None
        except nats.js.errors.APIError as error:
            raise UnavailableError(
                f"nats: cannot read the dead letters of {group}: {error.description}"
            ) from None
        return letters[-limit:]

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

    async def _on_error(self, error: Exception) -> None:
        self._errors = [*self._errors[-9:], error]
        said = str(error).lower()
        if "permissions violation" in said:
            for puller in self._pullers:
                if puller.shape is not None and _pull_subject(puller.shape) in said:
                    puller.denied_at = time.monotonic()
        if self._nc is None:  # still connecting: keep the reason for the one-line error
            # The server's own refusal says most; a reset on the retry after it, little.
            refusal = isinstance(self._connect_error, nats.errors.Error) and not isinstance(
                error, nats.errors.Error
            )
            if not refusal:
                self._connect_error = error
            return  # said once, in the one line `start` raises
        # The client retries twice a second: the same error (a refused connection, a
        # denied pull) is logged once, until another one or a reconnection comes.
        said_here = str(error) or type(error).__name__  # a timeout says nothing itself
        if said_here != self._last_logged_error:
            logger.warning("nats: %s", said_here)
            self._last_logged_error = said_here

    async def _on_disconnected(self) -> None:
        if self._stopping or self._nc is None:  # never connected: `start` says why
            return
        logger.warning("nats: disconnected from %s; reconnecting", redact_url(self.url))

    async def _on_reconnected(self) -> None:
        self._last_logged_error = None
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


def _dead_letter(msg: Msg) -> DeadLetter:
    headers = dict(msg.headers or {})
    try:
        envelope = Envelope.from_headers(headers, msg.data or b"")
    except SerializationError:
        envelope = _error_envelope(SerializationError("undecodable dead letter"))
    return DeadLetter(
        group=headers.get(DEAD_LETTER_HEADER + "Group", ""),
        reason=headers.get(DEAD_LETTER_HEADER + "Reason", ""),
        attempts=int(headers.get(DEAD_LETTER_HEADER + "Attempts", "0")),
        envelope=envelope,
    )


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
