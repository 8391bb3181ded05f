# Owned by the monocell template: `copier update` replaces this file.
"""The sandbox worker: a child process that restricts itself, then runs one cell's handlers.

Forked by its pool's zygote (see `zygote`), which was started as `python -I`
with an empty environment (no PYTHON* variables, no user site, no current
directory on the path), and given SETUP, the JSON of `frames.Setup`; `python
-I -m <package>.kernel.sandbox.worker SETUP` starts one the same way. It
moves its pipes away from stdin/stdout (so a handler's `print` cannot corrupt
the frames), applies every layer of `layers`, and only then loads the
cell and reads its first call.
"""

import asyncio
import gc
import importlib
import os
import sys
import threading
import traceback
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from ..core.cell import Cell
from ..core.contracts import (
    Command,
    Event,
    message_type_of,
    reply_type_of,
)
from ..core.deadline import remaining
from ..core.errors import (
    BusError,
    HandlerFailedError,
    RejectedError,
    UnavailableError,
    UndeclaredError,
    error_for,
)
from ..core.principal import ANONYMOUS, Principal
from .frames import (
    HEADER,
    MAX_FRAME,
    Answer,
    Call,
    Hello,
    Outcome,
    Published,
    Send,
    Setup,
    Target,
    pack,
    unpack,
)
from .layers import confine, level_of
from .linux import name_process

if TYPE_CHECKING:
    from ..bus.envelope import Envelope

# Storage (SQLAlchemy: most of the start of a worker whose cell has it) is
# imported only by workers of a cell with storage: a worker is started for
# every call of a cell with `fresh_worker_per_call`.
STORAGE = f"{__package__.rpartition('.')[0]}.storage"


class SandboxContext:
    """The `Context` of a sandboxed handler.

    Events are collected for the parent to check and publish after the call.
    A command goes to the parent as a `Send` frame, and the handler waits for
    the `Answer`: the parent checks it against `Cell.sends` and its contract,
    then sends it on the bus. Reading the answer blocks the worker's loop,
    which is idle anyway (one call at a time), so sends run one after another;
    the lock keeps threads of one handler from interleaving their frames.
    """

    def __init__(
        self, call: Call, frames: "_Frames", out: int, pipe: threading.Lock, cell: str = ""
    ) -> None:
        self._call = call
        self._frames = frames
        self._out = out
        self._pipe = pipe  # the worker's one lock (see `_serve_calls`)
        self.published: list[Published] = []
        self.cell = cell
        # Read by the cell's unit of work (kernel.storage), as on the bus's context.
        self.message_id = call.message_id
        self.idempotency_key = call.idempotency_key

    @property
    def correlation_id(self) -> str:
        return self._call.correlation_id

    @property
    def traceparent(self) -> str:
        return self._call.traceparent

    @property
    def principal(self) -> Principal:
        if not self._call.principal:
            return ANONYMOUS
        return Principal(self._call.principal, frozenset(self._call.scopes))

    @property
    def source(self) -> str:
        return ""

    @property
    def remaining(self) -> float | None:
        return remaining(self._call.deadline)

    @property
    def session(self) -> Any:
        raise UndeclaredError(f"cell {self.cell!r} uses context.session but declares no storage")

    @property
    def state(self) -> Any:
        return None

    def check_publish(self, event: Event) -> str:
        """The parent checks every event again; this only fails early and clearly."""
        message_type = message_type_of(type(event))
        if message_type.partition(".")[0] != self.cell:
            raise UndeclaredError(f"cell {self.cell!r} may publish only its own events")
        return message_type

    async def send(self, command: Command[Any], /) -> Any:
        command_cls = type(command)
        request = Send(
            message_type_of(command_cls), msgspec.json.encode(command), self._call.number
        )
        with self._pipe:
            _write(self._out, pack(request))
            body = self._frames.next()
        answer = unpack(body) if body is not None else None
        if not isinstance(answer, Answer):
            raise UnavailableError("sandbox: the service sent no answer to the send")
        if answer.code:
            raise error_for(answer.code, answer.detail, answer.reason)
        return msgspec.json.decode(answer.data, type=reply_type_of(command_cls))

    async def publish(self, event: Event, /) -> None:
        data = msgspec.json.encode(event)
        self.published.append(Published(message_type_of(type(event)), data))


def main() -> None:
    """`python -m` entry: the Setup on the command line (the zygote calls `run`)."""
    try:
        if len(sys.argv) != 2:
            raise ValueError
        setup = msgspec.json.decode(sys.argv[1].encode(), type=Setup)
    except (ValueError, msgspec.DecodeError) as error:
        usage = f"usage: python -I -m {__package__}.worker SETUP_JSON (a sandbox pool starts it)"
        print(usage + (f": {error}" if str(error) else ""), file=sys.stderr)
        sys.exit(2)
    run(setup)


def run(setup: Setup) -> None:
    """Restrict this process as `setup` says, load the cell, serve calls on stdin/stdout."""
    name_process(f"sbx:{setup.target.cell or 'probe'}")
    channel_in, channel_out = _take_pipes()
    close_inherited(keep={0, 1, 2, channel_in, channel_out})
    if setup.database:  # imported before any layer, as the rest of the kernel is
        importlib.import_module(STORAGE)
    layers = confine(setup)
    sys.path[:0] = setup.import_paths
    try:
        cell = _load(setup.target)
    except Exception as error:  # reported to the parent, which refuses to start the cell
        _write(channel_out, pack(Hello(layers, level_of(layers), f"cannot load cell: {error!r}")))
        return
    _write(channel_out, pack(Hello(layers, level_of(layers))))
    if cell is not None:
        _serve(_with_storage(cell, setup), channel_in, channel_out)


def _with_storage(cell: Cell, setup: Setup) -> Cell:
    """The cell inside its unit of work on its own SQLite file (as it is in-process).

    Its events go to the outbox table; the parent checks them and relays them.
    """
    if not setup.database or cell.storage is None:
        return cell
    from ..storage import StoredCell, open_database, stored  # imported by `main` already

    database = open_database(cell.name, setup.database)
    return stored(cell, StoredCell(database=database, relay=_Envelopes(setup.source)))


class _Envelopes:
    """Builds the envelopes of published events for the outbox (the parent relays them)."""

    def __init__(self, source: str) -> None:
        self.source = source

    def event_envelope(
        self,
        event: Event,
        *,
        correlation_id: str | None,
        message_id: str | None,
        traceparent: str,
        source: str,
    ) -> "Envelope":
        from ..bus.envelope import Envelope  # imported by `..storage` already

        return Envelope.new(
            message_type_of(type(event)),
            msgspec.json.encode(event),
            source=self.source,
            correlation_id=correlation_id,
            traceparent=traceparent,
            message_id=message_id,
        )

    async def relay(self, envelope: "Envelope") -> None:
        raise UnavailableError("sandbox: events leave through the outbox")


def close_inherited(keep: set[int]) -> None:
    """Close every descriptor but `keep`, before any restriction applies.

    The parent spawns with close_fds, but not every event loop honours it (uvloop
    does not), and uvicorn marks its listening socket inheritable: without this a
    worker of `serve --workers 2` could accept the gateway's connections. An
    explicit allowlist holds whatever the parent's loop did. `os.closerange`
    closes the gaps between the kept ones (one close_range call each on Linux).
    """
    limit = os.sysconf("SC_OPEN_MAX")
    start = 0
    for fd in [*sorted(keep), limit]:
        if fd > start:  # never an empty range: CPython closes from `start` to the end then
            os.closerange(start, fd)
        start = fd + 1


def _take_pipes() -> tuple[int, int]:
    """Keep the pipes on private descriptors; stdin becomes /dev/null, stdout goes to stderr."""
    channel_in, channel_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    os.close(null)
    return channel_in, channel_out


def _load(target: Target) -> Cell | None:
    if not target.module:
        return None
    module = importlib.import_module(target.module)
    candidates = [*getattr(module, "CELLS", ()), getattr(module, "cell", None)]
    for candidate in candidates:
        if isinstance(candidate, Cell) and candidate.name == target.cell:
            return candidate
    raise LookupError(f"no cell named {target.cell!r} in {target.module}")


class _Route(NamedTuple):
    """What the worker needs to run one message type, prepared once."""

    decoder: msgspec.json.Decoder[Any]
    handler: Any
    reply_cls: type[Any] | None  # None for events
    reply_type: str


def _serve(cell: Cell, channel_in: int, channel_out: int) -> None:
    routes: dict[tuple[str, str], _Route] = {}
    for command_cls, command_handler in cell.commands.items():
        reply_cls = reply_type_of(command_cls)
        decoder = msgspec.json.Decoder(command_cls)
        reply_type = message_type_of(reply_cls)
        routes["command", message_type_of(command_cls)] = _Route(
            decoder, command_handler, reply_cls, reply_type
        )
    for event_cls, event_handler in cell.events.items():
        routes["event", message_type_of(event_cls)] = _Route(
            msgspec.json.Decoder(event_cls), event_handler, None, ""
        )
    asyncio.run(_serve_calls(routes, _Frames(channel_in), channel_out, cell.name))


async def _serve_calls(
    routes: dict[tuple[str, str], _Route], frames: "_Frames", out: int, cell: str
) -> None:
    """One long-lived task runs every handler: the loop is running, no task per call.

    Reading the next call blocks the loop on purpose: between calls the worker
    has nothing else to do (a handler's background tasks run only during calls).
    """
    pipe = threading.Lock()  # a handler's threads send one at a time (see SandboxContext)
    # The loaded kernel and cell live as long as the worker: frozen, the collector
    # never walks them again (a call's garbage is all it sees).
    gc.freeze()
    while (body := frames.next()) is not None:
        call = unpack(body)
        if not isinstance(call, Call):
            return
        context = SandboxContext(call, frames, out, pipe, cell)
        outcome = await _handle(call, routes.get((call.kind, call.message_type)), context)
        _write(out, pack(outcome))


async def _handle(call: Call, route: _Route | None, context: SandboxContext) -> Outcome:
    """The call's `Outcome`, numbered as the call."""
    number = call.number
    try:
        if route is None:
            raise LookupError(f"this cell does not handle {call.kind} {call.message_type}")
        result = await route.handler(route.decoder.decode(call.data), context)
        if route.reply_cls is None:
            return Outcome(events=context.published, number=number)
        if not isinstance(result, route.reply_cls):
            raise TypeError(f"handler returned {type(result).__qualname__}")
        data = msgspec.json.encode(result)
        return Outcome(route.reply_type, data, context.published, number=number)
    except BusError as error:
        reason = error.reason if isinstance(error, RejectedError) else ""
        return Outcome(code=error.code, reason=reason, detail=error.detail, number=number)
    except Exception as error:
        detail = f"{call.message_type}: the handler failed; see its log"
        failure = "".join(traceback.format_exception_only(error)).strip()[:2000]
        return Outcome(code=HandlerFailedError.code, detail=detail, failure=failure, number=number)


class _Frames:
    """Length-prefixed frames from a pipe, read in large chunks (fewer system calls)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()

    def next(self) -> bytes | None:
        """The next frame's body; None at the end of input or on an oversized frame."""
        if not self.buffer:  # the usual case: one read, one whole frame
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            if len(chunk) > HEADER.size:
                (size,) = HEADER.unpack_from(chunk)
                if size == len(chunk) - HEADER.size and size <= MAX_FRAME:
                    return chunk[HEADER.size :]
            self.buffer += chunk
        if not self._fill(HEADER.size):
            return None
        (size,) = HEADER.unpack_from(self.buffer)
        if size > MAX_FRAME or not self._fill(HEADER.size + size):
            return None
        body = bytes(self.buffer[HEADER.size : HEADER.size + size])
        del self.buffer[: HEADER.size + size]
        return body

    def _fill(self, size: int) -> bool:
        while len(self.buffer) < size:
            chunk = os.read(self.fd, max(65536, size - len(self.buffer)))
            if not chunk:
                return False
            self.buffer += chunk
        return True


def _write(fd: int, data: bytes) -> None:
    written = os.write(fd, data)  # the whole frame, but for a large one
    if written < len(data):
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view) :]


if __name__ == "__main__":
    main()
