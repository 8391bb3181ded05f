# Owned by the monocell template: `copier update` replaces this file.
"""The envelope every message travels in: CloudEvents 1.0 attributes around a JSON body.

Attributes: `id`, `source`, `type` (the message type, e.g. `orders.OrderPlaced.v1`),
`specversion`, `time`, `datacontenttype`, plus the extensions `traceparent`
(W3C Trace Context), `correlationid` (one id for everything a request causes),
`deadline` (when the sender stops waiting, epoch seconds) and, on a command
that may be retried, `idempotencykey` (the same key twice runs once), and on a
command that came through the gateway `principal` and `scopes` (who asked,
space-separated scopes; see `core.principal`). CloudEvents
extension names are lowercase letters and digits only, hence `correlationid`.

On NATS, events (in JetStream) use the CloudEvents binary content mode: each
attribute is a `ce-<name>` header, `datacontenttype` is `Content-Type`, and the
body is the message's JSON. Commands and replies (core NATS request/reply) use
the structured mode: one JSON object holding the attributes and `data`, with no
headers, since nats-py parses header lines character by character and that
was the largest cost of a round trip. Either way any NATS client can read the
traffic without this code, and a receiver accepts both modes.
"""

import datetime
import os
import time
from collections.abc import Mapping

import msgspec

from ..core.errors import SerializationError
from ..core.principal import ANONYMOUS, Principal

SPEC_VERSION = "1.0"
JSON = "application/json"
HEADER_PREFIX = "ce-"
CONTENT_TYPE = "Content-Type"
REQUIRED_HEADERS = ("id", "source", "type", "specversion")


class _Structured(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The CloudEvents structured mode (JSON): the attributes, and the body as raw JSON."""

    specversion: str
    id: str
    source: str
    type: str
    time: str = ""
    datacontenttype: str = JSON
    correlationid: str = ""
    traceparent: str = ""
    deadline: float | None = None
    idempotencykey: str = ""
    principal: str = ""
    scopes: str = ""
    data: msgspec.Raw = msgspec.Raw(b"null")


_encode_structured = msgspec.json.Encoder().encode
_decode_structured = msgspec.json.Decoder(_Structured).decode


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """One message on the bus: CloudEvents attributes and the encoded body."""

    id: str
    source: str
    type: str
    data: bytes
    correlationid: str
    traceparent: str
    time: str = ""
    specversion: str = SPEC_VERSION
    datacontenttype: str = JSON
    deadline: float | None = None
    idempotencykey: str = ""
    principal: str = ""
    scopes: str = ""  # space-separated, sorted

    @classmethod
    def new(
        cls,
        message_type: str,
        data: bytes,
        *,
        source: str,
        correlation_id: str | None,
        traceparent: str,
        message_id: str | None = None,
        deadline: float | None = None,
        idempotency_key: str = "",
        principal: Principal = ANONYMOUS,
    ) -> "Envelope":
        """A message about to be sent: a fresh id (unless given), now as its time, and
        its own id as the correlation id when it starts a conversation."""
        envelope_id = message_id or new_id()
        return cls(
            id=envelope_id,
            source=source,
            type=message_type,
            time=now_rfc3339(),
            correlationid=correlation_id or envelope_id,
            traceparent=traceparent,
            deadline=deadline,
            idempotencykey=idempotency_key,
            principal=principal.subject,
            scopes=" ".join(sorted(principal.scopes)) if principal.subject else "",
            data=data,
        )

    @property
    def caller(self) -> Principal:
        """Who asked (`ANONYMOUS` when the message did not come through the gateway)."""
        if not self.principal:
            return ANONYMOUS
        return Principal(self.principal, frozenset(self.scopes.split()))

    def to_headers(self) -> dict[str, str]:
        """The binary-mode headers (`ce-*` and `Content-Type`) of this envelope."""
        headers = {
            "ce-id": self.id,
            "ce-source": self.source,
            "ce-type": self.type,
            "ce-specversion": self.specversion,
            "ce-time": self.time,
            "ce-correlationid": self.correlationid,
            "ce-traceparent": self.traceparent,
            CONTENT_TYPE: self.datacontenttype,
        }
        if self.deadline is not None:
            headers["ce-deadline"] = repr(self.deadline)
        if self.idempotencykey:
            headers["ce-idempotencykey"] = self.idempotencykey
        if self.principal:
            headers["ce-principal"] = self.principal
            headers["ce-scopes"] = self.scopes
        return headers

    def to_structured(self) -> bytes:
        """The structured-mode JSON of this envelope (the body is embedded as is)."""
        return _encode_structured(
            _Structured(
                specversion=self.specversion,
                id=self.id,
                source=self.source,
                type=self.type,
                time=self.time,
                datacontenttype=self.datacontenttype,
                correlationid=self.correlationid,
                traceparent=self.traceparent,
                deadline=self.deadline,
                idempotencykey=self.idempotencykey,
                principal=self.principal,
                scopes=self.scopes,
                data=msgspec.Raw(self.data),
            )
        )

    @classmethod
    def from_structured(cls, body: bytes) -> "Envelope":
        """Rebuild an envelope from structured-mode JSON; a malformed one is refused."""
        try:
            found = _decode_structured(body)
        except msgspec.DecodeError as error:
            raise SerializationError(f"envelope: not a CloudEvent in JSON: {error}") from None
        if found.specversion != SPEC_VERSION:
            raise SerializationError(
                f"envelope: specversion must be {SPEC_VERSION}, got {found.specversion!r}"
            )
        if not (found.id and found.source and found.type):
            raise SerializationError("envelope: id, source and type must not be empty")
        return cls(
            id=found.id,
            source=found.source,
            type=found.type,
            specversion=found.specversion,
            time=found.time,
            datacontenttype=found.datacontenttype,
            correlationid=found.correlationid or found.id,
            traceparent=found.traceparent,
            deadline=found.deadline,
            idempotencykey=found.idempotencykey,
            principal=found.principal,
            scopes=found.scopes,
            data=bytes(found.data),
        )

    @classmethod
    def received(cls, headers: Mapping[str, str] | None, body: bytes) -> "Envelope":
        """An envelope as it arrived in either mode: `ce-*` headers, or structured JSON."""
        if headers and HEADER_PREFIX + "id" in headers:
            return cls.from_headers(headers, body)
        return cls.from_structured(body)

    @classmethod
    def from_headers(cls, headers: Mapping[str, str] | None, data: bytes) -> "Envelope":
        """Rebuild an envelope from binary-mode headers; a missing attribute is refused."""
        headers = headers or {}
        for name in REQUIRED_HEADERS:
            if not headers.get(HEADER_PREFIX + name):
                raise SerializationError(f"envelope: missing header {HEADER_PREFIX}{name}")
        version = headers["ce-specversion"]
        if version != SPEC_VERSION:
            raise SerializationError(
                f"envelope: ce-specversion must be {SPEC_VERSION}, got {version!r}"
            )
        deadline_text = headers.get("ce-deadline")
        try:
            deadline = float(deadline_text) if deadline_text else None
        except ValueError:
            raise SerializationError(
                f"envelope: ce-deadline must be epoch seconds, got {deadline_text!r}"
            ) from None
        return cls(
            id=headers["ce-id"],
            source=headers["ce-source"],
            type=headers["ce-type"],
            specversion=headers["ce-specversion"],
            time=headers.get("ce-time", ""),
            datacontenttype=headers.get(CONTENT_TYPE, JSON),
            correlationid=headers.get("ce-correlationid") or headers["ce-id"],
            traceparent=headers.get("ce-traceparent", ""),
            deadline=deadline,
            idempotencykey=headers.get("ce-idempotencykey", ""),
            principal=headers.get("ce-principal", ""),
            scopes=headers.get("ce-scopes", ""),
            data=data,
        )


def new_id() -> str:
    """A fresh, unique message id (also the dedupe key): 128 random bits in hex."""
    return os.urandom(16).hex()


_second: list[tuple[int, str]] = [(-1, "")]  # the last whole second, formatted


def now_rfc3339() -> str:
    """The CloudEvents `time` attribute: RFC 3339 in UTC, to the microsecond.

    Two per message: the date and time part is formatted once per second (the
    same text `datetime.isoformat` gives), only the microseconds every time.
    """
    now = time.time_ns() // 1000
    second, micros = divmod(now, 1_000_000)
    cached, text = _second[0]
    if cached != second:
        text = datetime.datetime.fromtimestamp(second, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second[0] = (second, text)
    return f"{text}.{micros:06d}+00:00"
