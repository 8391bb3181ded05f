# Owned by the monocell template: `copier update` replaces this file.
"""The unit of work around a handler: its change, its inbox entry, its outbox, one commit.

    placed = stored(cell, database, state=..., relay=bus, outbox=OutboxRelay(database, bus))

returns a copy of the cell whose handlers each run inside one transaction of
the cell's database:

- an event whose id the inbox already holds is acknowledged without running
  (JetStream redelivers after a lost ack or a killed worker: applied once);
- a command with an idempotency key the cell has answered before gets the
  first reply again without running; the same key with another request is
  refused (`idempotency_key_reused`, 422 at the gateway);
- events the handler publishes are written to the outbox in the same
  transaction and relayed to the bus only after it commits, so a crash can
  neither lose an event of a committed change nor announce a rolled-back one.

A cell without storage runs its handlers as they are, with `context.state`.
"""

import asyncio
import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..bus.codec import decode, encode
from ..bus.envelope import Envelope
from ..core.cell import Cell, CommandHandler, EventHandler
from ..core.contracts import Command, Event, Reply, message_type_of, reply_type_of
from ..core.errors import RejectedError
from ..core.principal import Principal
from .database import CellDatabase
from .outbox import OutboxRelay
from .tables import idempotency, inbox, outbox

# The kernel's own statements are built once and given their values when run:
# building `insert(...).values(...)` anew for every message (and its cache key)
# was most of what the kernel's rows cost SQLAlchemy.
INSERT_OUTBOX = insert(outbox)
INSERT_IDEMPOTENCY = insert(idempotency)
INSERT_INBOX = {
    True: sqlite.insert(inbox).on_conflict_do_nothing(index_elements=["message_id"]),
    False: postgresql.insert(inbox).on_conflict_do_nothing(index_elements=["message_id"]),
}

ReplyT = TypeVar("ReplyT", bound=Reply)
logger = logging.getLogger(__name__)


class Relay(Protocol):
    """The part of the bus the unit of work needs (the `Bus` implements it)."""

    def event_envelope(
        self,
        event: Event,
        *,
        correlation_id: str | None,
        message_id: str | None,
        traceparent: str,
        source: str,
    ) -> Envelope: ...

    async def relay(self, envelope: Envelope) -> asyncio.Future[None] | None: ...


class Incoming(Protocol):
    """The context the bus (or a sandbox worker) gives the handler: one incoming message."""

    message_id: str
    idempotency_key: str

    @property
    def cell(self) -> str: ...

    @property
    def correlation_id(self) -> str: ...

    @property
    def traceparent(self) -> str: ...

    @property
    def principal(self) -> Principal: ...

    @property
    def source(self) -> str: ...

    @property
    def remaining(self) -> float | None: ...

    @property
    def session(self) -> AsyncSession: ...

    def check_publish(self, event: Event) -> str: ...

    async def send(self, command: Command[ReplyT], /) -> ReplyT: ...

    async def publish(self, event: Event, /) -> None: ...


@dataclass
class StoredCell:
    """What a hosted cell runs with: its database (if any) and what its lifespan yielded."""

    database: CellDatabase | None = None
    state: Any = None
    outbox: OutboxRelay | None = None
    relay: Relay | None = None


class UnitContext:
    """The `Context` of one handler call inside its unit of work."""

    __slots__ = ("_inner", "_relay", "_session", "_state", "envelopes")

    def __init__(
        self,
        inner: Incoming,
        session: AsyncSession | None,
        state: Any,
        relay: Relay | None,
    ) -> None:
        self._inner = inner
        self._session = session
        self._state = state
        self._relay = relay
        self.envelopes: list[Envelope] = []

    @property
    def correlation_id(self) -> str:
        return self._inner.correlation_id

    @property
    def remaining(self) -> float | None:
        return self._inner.remaining

    @property
    def principal(self) -> Principal:
        return self._inner.principal

    @property
    def traceparent(self) -> str:
        return self._inner.traceparent

    @property
    def state(self) -> Any:
        return self._state

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            return self._inner.session  # raises: the cell declares no storage
        return self._session

    async def send(self, command: Command[ReplyT], /) -> ReplyT:
        return await self._inner.send(command)

    async def publish(self, event: Event, /) -> None:
        if self._session is None or self._relay is None:
            await self._inner.publish(event)
            return
        self._inner.check_publish(event)
        envelope = self._relay.event_envelope(
            event,
            correlation_id=self._inner.correlation_id,
            message_id=None,
            traceparent=self._inner.traceparent,
            source=self._inner.source,
        )
        await self._session.execute(
            INSERT_OUTBOX,
            {
                "message_id": envelope.id,
                "type": envelope.type,
                "source": envelope.source,
                "time": envelope.time,
                "correlationid": envelope.correlationid,
                "traceparent": envelope.traceparent,
                "data": envelope.data,
            },
        )
        self.envelopes.append(envelope)


def stored(cell: Cell, resources: StoredCell) -> Cell:
    """A copy of `cell` whose handlers run in their unit of work (see the module doc)."""
    commands: Mapping[type[Command[Any]], CommandHandler] = {
        cls: _command(cls, handler, resources) for cls, handler in cell.commands.items()
    }
    events: Mapping[type[Event], EventHandler] = {
        cls: _event(cls, handler, resources) for cls, handler in cell.events.items()
    }
    return replace(cell, commands=commands, events=events)


def _inner(context: Any) -> Incoming:
    if not hasattr(context, "check_publish"):
        raise TypeError(f"expected the context of one message, got {type(context).__qualname__}")
    return context  # type: ignore[no-any-return]


def _command(
    command_cls: type[Command[Any]], handler: CommandHandler, resources: StoredCell
) -> CommandHandler:
    message_type = message_type_of(command_cls)
    reply_cls = reply_type_of(command_cls)

    async def run(command: Any, context: Any) -> Reply:
        inner = _inner(context)
        database = resources.database
        if database is None:
            return await handler(command, UnitContext(inner, None, resources.state, None))
        key = stored_key(inner.idempotency_key)
        request_hash = hashlib.sha256(message_type.encode() + b"\0" + encode(command)).hexdigest()
        async with database.transaction() as session:
            if key:
                first = await _first_reply(session, key, request_hash)
                if first is not None:
                    return decode(first, reply_cls)  # type: ignore[no-any-return]
            unit = UnitContext(inner, session, resources.state, resources.relay)
            reply = await handler(command, unit)
            if key and isinstance(reply, reply_cls):
                await _remember_reply(session, key, request_hash, reply)
        await _relay_committed(resources, unit.envelopes, inner.remaining)
        return reply

    return run


def _event(event_cls: type[Event], handler: EventHandler, resources: StoredCell) -> EventHandler:
    async def run(event: Any, context: Any) -> None:
        inner = _inner(context)
        database = resources.database
        if database is None:
            await handler(event, UnitContext(inner, None, resources.state, None))
            return
        async with database.transaction() as session:
            if not await _record_in_inbox(session, database.is_sqlite, inner.message_id):
                logger.info(
                    "%s: message %s already handled by %s; acknowledged without running",
                    message_type_of(event_cls),
                    inner.message_id[:64],
                    inner.cell,
                    extra={"cell": inner.cell, "message_id": inner.message_id[:64]},
                )
                return
            unit = UnitContext(inner, session, resources.state, resources.relay)
            await handler(event, unit)
        await _relay_committed(resources, unit.envelopes)

    return run


def stored_key(idempotency_key: str) -> str:
    """The key as the cell's table holds it: a SHA-256 digest of the whole key.

    Keys arrive scoped to their caller (the gateway's `<length>:<subject>:<key>`),
    so a long subject makes a long key; cut to the column's width, two callers'
    keys, or two keys of one caller, could share a prefix and so a reply. A
    digest has one width and keeps every byte of the key in the comparison.
    """
    if not idempotency_key:
        return ""
    return "sha256:" + hashlib.sha256(idempotency_key.encode()).hexdigest()


async def _first_reply(session: AsyncSession, key: str, request_hash: str) -> bytes | None:
    row = (
        await session.execute(
            select(idempotency.c.request_hash, idempotency.c.reply).where(idempotency.c.key == key)
        )
    ).first()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise RejectedError(
            "idempotency_key_reused",
            "this idempotency key was used with a different request; use a new key",
        )
    return bytes(row.reply)


async def _remember_reply(session: AsyncSession, key: str, request_hash: str, reply: Reply) -> None:
    values = {"key": key, "request_hash": request_hash, "reply": encode(reply)}
    try:
        async with session.begin_nested():  # a savepoint: the refusal below is all that fails
            await session.execute(INSERT_IDEMPOTENCY, {**values, "created_at": time.time()})
    except IntegrityError:  # a concurrent request with this key committed first
        raise RejectedError(
            "conflict", "a request with this idempotency key is already being handled"
        ) from None


def inbox_key(message_id: str) -> str:
    """The inbox key of a message id: itself, or its hash when too long to store."""
    if len(message_id) <= 128:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()


async def _record_in_inbox(session: AsyncSession, is_sqlite: bool, message_id: str) -> bool:
    """Insert the message id; False when it was there (a redelivery)."""
    values = {"message_id": inbox_key(message_id), "handled_at": time.time()}
    result = await session.execute(INSERT_INBOX[is_sqlite], values)
    return bool(getattr(result, "rowcount", 1))


async def _relay_committed(
    resources: StoredCell, envelopes: list[Envelope], sender_left: float | None = None
) -> None:
    if envelopes and resources.outbox is not None:
        await resources.outbox.relay_committed(envelopes, sender_left)
