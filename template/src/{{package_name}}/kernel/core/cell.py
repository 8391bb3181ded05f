# Owned by the monocell template: `copier update` replaces this file.
"""The cell declaration: the one place a cell says what it is and what it handles.

A cell's `__init__.py` builds one `Cell` and nothing else happens on import.
The composition root (`app.py`) lists the cells; the kernel reads everything it
needs from these declarations: bus subscriptions, gateway routes, topology and
sandbox policy, diagrams and contract snapshots.
"""

import enum
import inspect
import keyword
import re
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .contracts import (
    Command,
    Event,
    Message,
    Reply,
    message_type_of,
    reply_type_of,
)
from .principal import Principal
from .storage import Storage

if TYPE_CHECKING:  # only annotated: a sandbox worker of a cell without storage never imports it
    from sqlalchemy.ext.asyncio import AsyncSession

CELL_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\Z")
ReplyT = TypeVar("ReplyT", bound=Reply)


class Risk(enum.StrEnum):
    """How much damage a bug or a hostile input in this cell can do.

    `high` marks cells that parse untrusted files, run user-supplied code or
    call fragile native libraries: they belong in the sandbox.
    """

    LOW = "low"
    HIGH = "high"


class Context(Protocol):
    """What a handler may use besides its message: the bus, its data, its time left.

    `session` is the cell's own database session, inside the transaction that
    also records the message as handled and the events `publish` announces
    (they reach the bus once it commits). `remaining` is the seconds left
    before the sender stops waiting (None for events). `state` is what the
    cell's `lifespan` yielded (None without one). `principal` is who asked:
    the caller the gateway authenticated, or `ANONYMOUS` (see `core.principal`).
    """

    @property
    def correlation_id(self) -> str: ...

    @property
    def principal(self) -> Principal: ...

    @property
    def session(self) -> "AsyncSession": ...

    @property
    def remaining(self) -> float | None: ...

    @property
    def state(self) -> Any: ...

    async def send(self, command: Command[ReplyT], /) -> ReplyT: ...

    async def publish(self, event: Event, /) -> None: ...


CommandHandler = Callable[[Any, Context], Awaitable[Reply]]
EventHandler = Callable[[Any, Context], Awaitable[None]]


MessageT = TypeVar("MessageT", bound=Message)


class On:
    """One handler, registered for one command or event: `On(PlaceOrder, place_order)`.

    The pair is typed, so `mypy --strict` fails a handler registered for a
    message it does not take (a `{PlaceOrder: get_order}` mapping cannot say that).
    The class is not generic on purpose: its constructor's type variable is then
    solved from the two arguments alone, never widened by where the pair goes.
    """

    __slots__ = ("handler", "message")

    def __init__(
        self, message: type[MessageT], handler: Callable[[MessageT, Context], Awaitable[Any]]
    ) -> None:
        if not (isinstance(message, type) and issubclass(message, Message)):
            raise TypeError(f"On(...): expected a command or event class, got {message!r}")
        name = getattr(handler, "__qualname__", repr(handler))
        if not callable(handler) or (
            inspect.isfunction(handler) and not inspect.iscoroutinefunction(handler)
        ):
            raise TypeError(
                f"On({message.__qualname__}, {name}): the handler must be an `async def` function"
            )
        self.message: type[Message] = message
        self.handler: Callable[[Any, Context], Awaitable[Any]] = handler

    def __repr__(self) -> str:
        return f"On({self.message.__qualname__}, {getattr(self.handler, '__qualname__', '?')})"


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
    # Not released yet: changes to this cell's messages are not breaking
    # (`contracts diff` says "draft"). Remove it to make them public API.
    draft: bool = False
    # Typed registrations, `On(Command, handler)` or `On(Event, handler)`: moved
    # into `commands` and `events` on creation (so this reads empty afterwards,
    # and a copy made with `dataclasses.replace` does not register them twice).
    handlers: tuple[On, ...] = ()
    # The cell's own tables and migrations (see kernel.core.storage); handlers
    # then get `context.session`. None: the cell keeps no data.
    storage: Storage | None = None
    # Opened when the cell starts and closed when it stops (clients, caches):
    # `lifespan()` is an async context manager; what it yields is `context.state`.
    lifespan: Callable[[], AbstractAsyncContextManager[Any]] | None = None

    def __post_init__(self) -> None:
        if not CELL_NAME_PATTERN.match(self.name) or keyword.iskeyword(self.name):
            raise ValueError(f"cell name must be a lowercase identifier, got {self.name!r}")
        if "__" in self.name:
            # `__` joins a cell's name to a message type in its NATS consumer names:
            # cell a's consumer of b__c.Done.v1 would be cell a__b's of c.Done.v1.
            raise ValueError(f"cell name must not contain '__', got {self.name!r}")
        if not isinstance(self.draft, bool):
            raise ValueError(f"cell {self.name!r}: draft must be True or False, got {self.draft!r}")
        if self.storage is not None and not isinstance(self.storage, Storage):
            raise ValueError(
                f"cell {self.name!r}: storage must be Storage(metadata, migrations=...), "
                f"got {self.storage!r}"
            )
        if self.lifespan is not None and not callable(self.lifespan):
            raise ValueError(
                f"cell {self.name!r}: lifespan must be callable, got {self.lifespan!r}"
            )
        if self.handlers:
            self._merge_handlers()
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

    def _merge_handlers(self) -> None:
        if not isinstance(self.handlers, tuple) or not all(
            isinstance(on, On) for on in self.handlers
        ):
            raise ValueError(
                f"cell {self.name!r}: handlers must be a tuple of On(Message, handler), "
                f"got {self.handlers!r}"
            )
        commands = dict(self.commands)
        events = dict(self.events)
        for on in self.handlers:
            if issubclass(on.message, Command):
                table: dict[Any, Any] = commands
            elif issubclass(on.message, Event):
                table = events
            else:
                raise ValueError(
                    f"cell {self.name!r}: On({on.message.__qualname__}, ...) needs a command "
                    "or an event"
                )
            if on.message in table:
                raise ValueError(
                    f"cell {self.name!r} registers two handlers for {on.message.__qualname__}"
                )
            table[on.message] = on.handler
        # A frozen dataclass: the merged tables replace the given ones once, here.
        object.__setattr__(self, "commands", commands)
        object.__setattr__(self, "events", events)
        object.__setattr__(self, "handlers", ())
