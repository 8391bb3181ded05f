# Owned by the monocell template: `copier update` replaces this file.
"""The sandbox worker: a child process that restricts itself, then runs one cell's handlers.

Started by the pool as `python -I -m <package>.kernel.sandbox.worker SETUP`
with an empty environment (`-I`: no PYTHON* variables, no user site, no
current directory on the path), SETUP being the JSON of `frames.Setup`.
It moves its pipes away from stdin/stdout (so a handler's `print` cannot
corrupt the frames), applies every layer of `layers`, and only then loads the
cell and reads its first call.
"""

import asyncio
import importlib
import os
import sys
import traceback
from typing import Any

import msgspec

from ..cell import Cell
from ..contracts import Command, Event, message_type_of, reply_type_of
from ..errors import BusError, HandlerFailedError, RejectedError, UnavailableError
from .frames import HEADER, MAX_FRAME, Call, Hello, Outcome, Published, Setup, Target, pack, unpack
from .layers import confine, level_of


class SandboxContext:
    """The `Context` of a sandboxed handler: events are collected for the parent to publish."""

    def __init__(self, correlation_id: str) -> None:
        self._correlation_id = correlation_id
        self.published: list[Published] = []

    @property
    def correlation_id(self) -> str:
        return self._correlation_id

    async def send(self, command: Command[Any], /) -> Any:
        raise UnavailableError("a sandboxed handler cannot send commands; publish an event")

    async def publish(self, event: Event, /) -> None:
        data = msgspec.json.encode(event)
        self.published.append(Published(message_type_of(type(event)), data))


def main() -> None:
    setup = msgspec.json.decode(sys.argv[1].encode(), type=Setup)
    channel_in, channel_out = _take_pipes()
    layers = confine(setup)
    sys.path[:0] = setup.import_paths
    try:
        cell = _load(setup.target)
    except Exception as error:  # reported to the parent, which refuses to start the cell
        _write(channel_out, pack(Hello(layers, level_of(layers), f"cannot load cell: {error!r}")))
        return
    _write(channel_out, pack(Hello(layers, level_of(layers))))
    if cell is not None:
        _serve(cell, channel_in, channel_out)


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


def _serve(cell: Cell, channel_in: int, channel_out: int) -> None:
    commands = {message_type_of(cls): (cls, handler) for cls, handler in cell.commands.items()}
    events = {message_type_of(cls): (cls, handler) for cls, handler in cell.events.items()}
    loop = asyncio.new_event_loop()
    while True:
        header = _read(channel_in, HEADER.size)
        if header is None:
            return
        (size,) = HEADER.unpack(header)
        body = _read(channel_in, size) if size <= MAX_FRAME else None
        if body is None:
            return
        call = unpack(body)
        if not isinstance(call, Call):
            return
        table: dict[str, tuple[type[Any], Any]] = commands if call.kind == "command" else events
        outcome = loop.run_until_complete(_handle(call, table))
        _write(channel_out, pack(outcome))


async def _handle(call: Call, table: dict[str, tuple[type[Any], Any]]) -> Outcome:
    context = SandboxContext(call.correlation_id)
    try:
        cls, handler = table[call.message_type]
        message = msgspec.json.decode(call.data, type=cls)
        result = await handler(message, context)
        if call.kind == "event":
            return Outcome(events=context.published)
        reply_cls = reply_type_of(cls)
        if not isinstance(result, reply_cls):
            raise TypeError(f"handler returned {type(result).__qualname__}")
        data = msgspec.json.encode(result)
        return Outcome(message_type_of(reply_cls), data, context.published)
    except BusError as error:
        reason = error.reason if isinstance(error, RejectedError) else ""
        return Outcome(code=error.code, reason=reason, detail=error.detail, failure=repr(error))
    except Exception as error:
        detail = f"{call.message_type}: the handler failed; see its log"
        failure = "".join(traceback.format_exception_only(error)).strip()[:2000]
        return Outcome(code=HandlerFailedError.code, detail=detail, failure=failure)


def _read(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


if __name__ == "__main__":
    main()
