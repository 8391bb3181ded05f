# Owned by the monocell template: `copier update` replaces this file.
"""The one codec of the bus: msgspec JSON, strict, used by every transport.

The memory transport encodes and decodes too, so a payload that cannot cross a
process boundary fails in the first test, not in production. Decoding checks
the contract (types, constraints, unknown fields); every failure becomes a
`SerializationError` naming the message type and the offending field.
"""

from typing import Any, TypeVar

import msgspec

from ..core.errors import (
    BusError,
    RejectedError,
    SerializationError,
    error_for,
)

S = TypeVar("S", bound=msgspec.Struct)

# The CloudEvents type of a reply that carries an error instead of the reply.
ERROR_TYPE = "kernel.BusError.v1"

_encoder = msgspec.json.Encoder()
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


class ErrorBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What crosses the bus instead of a reply when `send` fails: code and text only."""

    code: str
    detail: str
    reason: str = ""


def encode(message: msgspec.Struct) -> bytes:
    """Encode a message to JSON, refusing values its contract cannot carry."""
    try:
        return _encoder.encode(message)
    except (TypeError, ValueError, OverflowError) as error:
        name = getattr(type(message), "message_type", type(message).__qualname__)
        raise SerializationError(f"{name}: cannot encode: {error}") from None


def decode(data: bytes, cls: type[S]) -> S:
    """Decode JSON into `cls`, checking the contract; failures name the field."""
    decoder = _decoders.get(cls)
    if decoder is None:
        decoder = _decoders[cls] = msgspec.json.Decoder(cls)
    try:
        return decoder.decode(data)  # type: ignore[no-any-return]
    except msgspec.DecodeError as error:
        name = getattr(cls, "message_type", cls.__qualname__)
        raise SerializationError(f"{name}: {error}") from None


def error_body(error: BusError) -> bytes:
    """The wire form of a typed error."""
    reason = error.reason if isinstance(error, RejectedError) else ""
    return encode(ErrorBody(code=error.code, detail=error.detail, reason=reason))


def error_from_body(data: bytes) -> BusError:
    """The typed error a wire error stands for (unknown codes become HandlerFailedError)."""
    body = decode(data, ErrorBody)
    return error_for(body.code, body.detail, body.reason)
