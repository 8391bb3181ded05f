# Owned by the monocell template: `copier update` replaces this file.
"""The one codec of the bus: msgspec JSON, strict, used by every transport.

The memory transport encodes and decodes too, so a payload that cannot cross a
process boundary fails in the first test, not in production. Decoding checks
the contract (types, constraints); every failure becomes a `SerializationError`
naming the message type and the offending field.

Fields this code does not know are the one thing decoding forgives: a message
from a producer one version ahead (a new optional field, which `contracts diff`
calls compatible) would otherwise be dead-lettered by every consumer still on
the old code during a rolling deploy. They are dropped, and said once per
message type and field. The contracts stay strict where input is untrusted:
the gateway decodes HTTP bodies with its own decoder and refuses unknown fields.
"""

import logging
from typing import Any, TypeVar

import msgspec
import msgspec.inspect

from ..core.errors import (
    BusError,
    RejectedError,
    SerializationError,
    error_for,
)

S = TypeVar("S", bound=msgspec.Struct)
logger = logging.getLogger(__name__)

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
        if str(error).startswith(_UNKNOWN_FIELD):
            return _decode_newer(data, cls, name, decoder, error)  # type: ignore[no-any-return]
        raise SerializationError(f"{name}: {error}") from None


_UNKNOWN_FIELD = "Object contains unknown field"
_told: set[tuple[str, str]] = set()  # (message type, field path) already logged
_shapes: dict[type[Any], msgspec.inspect.Type] = {}


def _decode_newer(
    data: bytes,
    cls: type[Any],
    name: str,
    decoder: msgspec.json.Decoder[Any],
    strict: msgspec.DecodeError,
) -> Any:
    """Decode a message that carries fields `cls` lacks: drop them, then decode the rest
    with the same strict decoder, so what is kept means what it always meant.

    The slow path (three passes), taken only when the fast strict decode met a field
    it does not know: msgspec has no per-decoder switch for unknown fields.
    """
    shape = _shapes.get(cls)
    if shape is None:
        shape = _shapes[cls] = msgspec.inspect.type_info(cls)
    dropped: list[str] = []
    try:
        known = _known_fields(msgspec.json.decode(data), shape, "", dropped)
        message = decoder.decode(_encoder.encode(known))
    except msgspec.DecodeError as error:  # what is wrong once the unknown fields are gone
        raise SerializationError(f"{name}: {error}") from None
    except (RecursionError, TypeError, ValueError, OverflowError):
        raise SerializationError(f"{name}: {strict}") from None
    for field in dropped:
        if (name, field) not in _told and len(_told) < 1000:  # bounded, whatever arrives
            _told.add((name, field))
            logger.warning(
                "%s: ignoring field %r this code does not know (sent by a newer version?)",
                name,
                field[:100],
            )
    return message


def _known_fields(value: Any, info: msgspec.inspect.Type, path: str, dropped: list[str]) -> Any:
    """`value` (decoded JSON) with the object keys `info`'s structs lack removed."""
    if isinstance(info, msgspec.inspect.Metadata):  # Annotated[...]: the type inside
        return _known_fields(value, info.type, path, dropped)
    if isinstance(info, msgspec.inspect.UnionType):
        member = _member_for(value, info)
        return value if member is None else _known_fields(value, member, path, dropped)
    if isinstance(info, msgspec.inspect.StructType) and isinstance(value, dict):
        fields = {field.encode_name: field.type for field in info.fields}
        known = {}
        for key, item in value.items():
            if key == info.tag_field:
                known[key] = item
            elif key in fields:
                known[key] = _known_fields(item, fields[key], f"{path}{key}.", dropped)
            else:
                dropped.append(f"{path}{key}")
        return known
    if isinstance(value, list):
        inside = f"{path.removesuffix('.')}[]."
        if isinstance(info, msgspec.inspect.TupleType):
            pairs = zip(value, info.item_types, strict=False)
            return [_known_fields(item, kind, inside, dropped) for item, kind in pairs]
        item_type = getattr(info, "item_type", None)
        if item_type is not None:
            return [_known_fields(item, item_type, inside, dropped) for item in value]
    if isinstance(value, dict) and isinstance(info, msgspec.inspect.DictType):
        return {
            key: _known_fields(item, info.value_type, f"{path}{key}.", dropped)
            for key, item in value.items()
        }
    return value


def _member_for(value: Any, union: msgspec.inspect.UnionType) -> msgspec.inspect.Type | None:
    """The one member of a union a JSON value can be, by its kind (and a struct's tag)."""
    inspect = msgspec.inspect
    members = [t.type if isinstance(t, inspect.Metadata) else t for t in union.types]
    candidates: list[inspect.Type] = []
    if isinstance(value, dict):
        structs = [t for t in members if isinstance(t, inspect.StructType)]
        candidates += [t for t in structs if t.tag_field and value.get(t.tag_field) == t.tag]
        if not candidates:
            kinds = (inspect.StructType, inspect.DictType)
            candidates += [t for t in members if isinstance(t, kinds)]
    elif isinstance(value, list):
        candidates += [
            t for t in members if isinstance(t, inspect.TupleType) or hasattr(t, "item_type")
        ]
    return candidates[0] if len(candidates) == 1 else None


def error_body(error: BusError) -> bytes:
    """The wire form of a typed error."""
    reason = error.reason if isinstance(error, RejectedError) else ""
    return encode(ErrorBody(code=error.code, detail=error.detail, reason=reason))


def error_from_body(data: bytes) -> BusError:
    """The typed error a wire error stands for (unknown codes become HandlerFailedError)."""
    body = decode(data, ErrorBody)
    return error_for(body.code, body.detail, body.reason)
