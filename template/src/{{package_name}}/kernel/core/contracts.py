# Owned by the monocell template: `copier update` replaces this file.
"""Message contracts: the public, typed, versioned messages cells exchange.

Every message is a strict msgspec Struct: unknown fields are rejected, fields
are keyword-only and values are immutable. Each concrete message class names
its wire type in `message_type`, `<cell>.<Name>.v<N>` (for example
`orders.PlaceOrder.v1`). That string is the CloudEvents `type` on the bus, so
it must stay stable; bump the version for a breaking change.

A command names its reply type as a type parameter, `class PlaceOrder(
Command[OrderAccepted])`, so `await bus.send(PlaceOrder(...))` is typed as
`OrderAccepted` and the bus knows how to decode the reply: written once.
"""

import re
import typing
from typing import ClassVar, Generic, TypeVar

import msgspec

MESSAGE_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[A-Z][A-Za-z0-9]*\.v[1-9][0-9]*$")


class Message(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every public message; subclasses set `message_type`."""

    message_type: ClassVar[str]


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
