# Owned by the monocell template: `copier update` replaces this file.
"""Message contracts: the public, typed, versioned messages cells exchange.

Every message is a strict msgspec Struct: unknown fields are rejected, fields
are keyword-only and values are immutable. Each message has a wire type,
`message_type` = `<cell>.<Name>.v<N>` (for example `orders.PlaceOrder.v1`),
the CloudEvents `type` on the bus: it must stay stable. A class defined in a
cell's package gets it derived: the cell from the module path
(`<package>.cells.orders.contracts`), the name from the class, the version 1,
or N when the class name ends in `V<N>` (`PlaceOrderV2` is
`orders.PlaceOrder.v2`, the way to publish a breaking change next to v1).
Setting `message_type` on the class overrides the derived one.

A command names its reply type as a type parameter, `class PlaceOrder(
Command[OrderAccepted])`, so `await bus.send(PlaceOrder(...))` is typed as
`OrderAccepted` and the bus knows how to decode the reply: written once.
"""

import re
import typing
from typing import Any, ClassVar, Generic, TypeVar

import msgspec

MESSAGE_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[A-Z][A-Za-z0-9]*\.v[1-9][0-9]*\Z")
_VERSIONED_NAME = re.compile(r"^(?P<name>[A-Z][A-Za-z0-9]*?)V(?P<version>[1-9][0-9]*)\Z")


class Message(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every public message; its `message_type` is derived or set (see above)."""

    message_type: ClassVar[str]

    def __init_subclass__(cls, **options: Any) -> None:
        super().__init_subclass__(**options)
        if "message_type" not in vars(cls):
            derived = derived_message_type(cls.__module__, cls.__name__)
            if derived is not None:
                cls.message_type = derived


def derived_message_type(module: str, class_name: str) -> str | None:
    """`<cell>.<Name>.v<N>` for a class of a cell's package; None outside one."""
    _, marker, rest = module.partition(".cells.")
    cell = rest.partition(".")[0]
    if not marker or not cell:
        return None
    versioned = _VERSIONED_NAME.match(class_name)
    if versioned:
        return f"{cell}.{versioned['name']}.v{versioned['version']}"
    return f"{cell}.{class_name}.v1"


class Reply(Message):
    """The answer to one command."""


class Event(Message):
    """A fact that happened; any number of cells may consume it."""


ReplyT = TypeVar("ReplyT", bound=Reply)


class Command(Message, Generic[ReplyT]):
    """A request handled by exactly one cell, answered by a `ReplyT`."""


def message_type_of(cls: type[Message]) -> str:
    """Return the wire type of a message class, refusing a missing or malformed one."""
    name = getattr(cls, "message_type", None)
    if not isinstance(name, str) or not MESSAGE_TYPE_PATTERN.match(name):
        raise TypeError(
            f"{cls.__qualname__}.message_type must look like 'cell.Name.v1', got {name!r}"
        )
    return name


def reply_type_of(cls: type[Command[ReplyT]]) -> type[ReplyT]:
    """Return the reply class a command declared as `Command[ReplyClass]`."""
    for base in getattr(cls, "__orig_bases__", ()):
        if typing.get_origin(base) is Command:
            (reply,) = typing.get_args(base)
            if isinstance(reply, type) and issubclass(reply, Reply):
                return typing.cast(type[ReplyT], reply)
    for parent in cls.__mro__[1:]:
        if parent is not Command and isinstance(parent, type) and issubclass(parent, Command):
            return reply_type_of(parent)
    raise TypeError(f"{cls.__qualname__} must subclass Command[SomeReply]")


def ecma_pattern(pattern: str) -> str:
    """`pattern` as JSON Schema readers (ECMA-262) read it: `\\A` and `\\Z` as `^` and `$`.

    Contracts anchor with `\\Z` because Python's `$` also matches before a final
    newline. In ECMA-262 (no `m` flag) `$` matches only at the very end, which
    is what `\\Z` means, while `\\Z` itself is an error in unicode mode and a
    literal `Z` otherwise: a client validating against the published schema
    would misjudge every value.
    """
    if pattern.startswith("\\A"):
        pattern = "^" + pattern[2:]
    head = pattern[:-2]
    escapes = len(head) - len(head.rstrip("\\"))  # odd: `\Z`'s own backslash is escaped
    if pattern.endswith("\\Z") and escapes % 2 == 0:
        pattern = head + "$"
    return pattern


def ecma_patterns(schema: Any) -> Any:
    """`schema` (a JSON Schema, as msgspec writes it) with every `pattern` made ECMA-262."""
    if isinstance(schema, dict):
        return {
            key: ecma_pattern(value)
            if key == "pattern" and isinstance(value, str)
            else ecma_patterns(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [ecma_patterns(item) for item in schema]
    return schema
