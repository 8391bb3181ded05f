# Owned by the monocell template: `copier update` replaces this file.
"""The cell declaration: the one place a cell says what it is and what it handles.

A cell's `__init__.py` builds one `Cell` and nothing else happens on import.
The composition root (`app.py`) lists the cells; the kernel reads everything it
needs from these declarations: bus subscriptions, gateway routes, topology and
sandbox policy, diagrams and contract snapshots.
"""

import enum
import keyword
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .contracts import (
    Command,
    Event,
    Reply,
    message_type_of,
    reply_type_of,
)

CELL_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class Risk(enum.StrEnum):
    """How much damage a bug or a hostile input in this cell can do.

    `high` marks cells that parse untrusted files, run user-supplied code or
    call fragile native libraries: they belong in the sandbox.
    """

    LOW = "low"
    HIGH = "high"


class Context(Protocol):
    """What a handler may do besides computing its answer: talk to the bus."""

    @property
    def correlation_id(self) -> str: ...

    async def send(self, command: Command[Any], /) -> Any: ...

    async def publish(self, event: Event, /) -> None: ...


CommandHandler = Callable[[Any, Context], Awaitable[Reply]]
EventHandler = Callable[[Any, Context], Awaitable[None]]


@dataclass(frozen=True)
class Public:
    """Marks a command as reachable through the gateway: method, path, scopes."""

    command: type[Command[Any]]
    method: str
    path: str
    scopes: tuple[str, ...] = ()
    summary: str = ""


@dataclass(frozen=True)
class Cell:
    """A cell's declaration. Validated on creation so mistakes fail at import."""

    name: str
    purpose: str
    risk: Risk = Risk.LOW
    commands: Mapping[type[Command[Any]], CommandHandler] = field(default_factory=dict)
    events: Mapping[type[Event], EventHandler] = field(default_factory=dict)
    public: tuple[Public, ...] = ()
    # Commands of other cells this cell's handlers send. The bus refuses any
    # other, in memory as on NATS (least-privilege users from `topology deploy`).
    sends: tuple[type[Command[Any]], ...] = ()

    def __post_init__(self) -> None:
        if not CELL_NAME_PATTERN.match(self.name) or keyword.iskeyword(self.name):
            raise ValueError(f"cell name must be a lowercase identifier, got {self.name!r}")
        for command in self.commands:
            message_type_of(command)
            message_type_of(reply_type_of(command))
        for event in self.events:
            message_type_of(event)
        for command in self.sends:
            message_type_of(command)
        for route in self.public:
            if route.command not in self.commands:
                raise ValueError(
                    f"cell {self.name!r} marks {route.command.__qualname__} public "
                    "but does not handle it"
                )
