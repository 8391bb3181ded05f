# Owned by the monocell template: `copier update` replaces this file.
"""The parent's ends of a worker's two pipes: calls written, frames read as they arrive.

    with new_pipes() as ends:                      # the worker is given its two ends
        ...                                        # (closed here once it has them)
    pipes = await connect(ends.calls, ends.outcomes)
    await pipes.write(pack(call))
    body = await pipes.next_frame()                # raises EOFError at the end

Written here rather than read with `asyncio.StreamReader`: that one is read
twice a frame (its length, then its body), each read a coroutine that copies
and trims its buffer; a warm sandboxed call's whole parent side was a few
microseconds more than the raw pipe it rides on. `FrameReader` cuts the
frames as the loop hands it the bytes (a reply is usually one chunk, taken
whole) and wakes the one waiting call once. It holds at most one frame beyond
what the service has taken: past that it stops reading the pipe until the
service asks for more, so a worker that writes without end fills its pipe,
not the service's memory.
"""

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple, cast

from .frames import HEADER, MAX_FRAME

# Unread bytes the reader holds before it stops reading (as StreamReader's limit).
HELD_BYTES = 128 * 1024


class FrameReader(asyncio.Protocol):
    """Frames from a worker's outcome pipe, as an asyncio protocol (see the module)."""

    def __init__(self) -> None:
        self._buffer = bytearray()  # the start of a frame not yet complete
        self._frames: deque[bytes] = deque()
        self._held = 0  # bytes in `_frames` and `_buffer`
        self._end: BaseException | None = None  # why no frame will follow the queued ones
        self._waiter: asyncio.Future[None] | None = None
        self._transport: asyncio.ReadTransport | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.ReadTransport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        if self._end is not None:
            return
        if not self._buffer and len(data) > HEADER.size:  # the usual case: one whole frame
            (size,) = HEADER.unpack_from(data)
            if size == len(data) - HEADER.size and size <= MAX_FRAME:
                self._queue(data[HEADER.size :])
                return
        buffer = self._buffer
        buffer += data
        self._held += len(data)
        start = 0
        while len(buffer) - start >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer, start)
            if size > MAX_FRAME:
                self._finish(ConnectionError(f"frame of {size} bytes exceeds the limit"))
                return
            end = start + HEADER.size + size
            if len(buffer) < end:
                break
            self._held -= HEADER.size + size
            self._queue(bytes(buffer[start + HEADER.size : end]))
            start = end
        del buffer[:start]

    def eof_received(self) -> bool:
        self._finish(EOFError("the worker closed its pipe"))
        return False  # let the transport close

    def connection_lost(self, error: Exception | None) -> None:
        self._finish(error or EOFError("the worker closed its pipe"))

    async def next_frame(self) -> bytes:
        """The next frame's body; raises EOFError (or ConnectionError) when none follows."""
        while not self._frames:
            if self._end is not None:
                raise self._end
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        body = self._frames.popleft()
        self._held -= len(body)
        # Read on once the service has taken enough, or nothing is queued (a frame
        # larger than the limit is still being read: it must be read whole).
        ready = self._held < HELD_BYTES or not self._frames
        if self._paused and ready and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return body

    def _queue(self, body: bytes) -> None:
        self._frames.append(body)
        self._held += len(body)
        if self._held >= HELD_BYTES and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def _finish(self, error: BaseException) -> None:
        if self._end is None:
            self._end = error
            self._buffer.clear()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


@dataclass(eq=False)
class Pipes:
    """A worker's calls pipe (written) and outcomes pipe (read), connected to the loop."""

    writer: asyncio.StreamWriter
    reader: FrameReader
    transports: tuple[asyncio.BaseTransport, ...]

    async def write(self, data: bytes) -> None:
        writer = self.writer
        writer.write(data)
        # Back-pressure: a worker that reads nothing fills its pipe, and the rest waits
        # here. Nothing waits when the pipe took it all (the usual case: no drain).
        if writer.transport.get_write_buffer_size():
            await writer.drain()

    async def next_frame(self) -> bytes:
        return await self.reader.next_frame()

    def close(self) -> None:
        """Close both ends (the read side stays open after the worker's end otherwise)."""
        for transport in self.transports:
            transport.close()


class PipeEnds(NamedTuple):
    """The two pipes of a worker about to start: the ends it gets, and this process's."""

    worker_calls: int  # the worker reads its calls here (its stdin)
    worker_outcomes: int  # and writes its outcomes here (its stdout)
    calls: int
    outcomes: int


@contextlib.contextmanager
def new_pipes() -> Iterator[PipeEnds]:
    """Two new pipes. The worker's ends are closed on leaving the block (the worker
    holds its own copies by then); this process's ends too when the block fails."""
    worker_calls, calls = os.pipe()
    outcomes, worker_outcomes = os.pipe()
    try:
        yield PipeEnds(worker_calls, worker_outcomes, calls, outcomes)
    except BaseException:
        os.close(calls)
        os.close(outcomes)
        raise
    finally:
        os.close(worker_calls)
        os.close(worker_outcomes)


async def connect(calls: int, outcomes: int) -> Pipes:
    """Connect this process's ends of the two pipes; closes both descriptors on failure."""
    loop = asyncio.get_running_loop()
    outcomes_file, calls_file = os.fdopen(outcomes, "rb", 0), os.fdopen(calls, "wb", 0)
    reading: asyncio.BaseTransport | None = None
    try:
        reading, reader = await loop.connect_read_pipe(FrameReader, outcomes_file)
        writing, protocol = await loop.connect_write_pipe(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()), calls_file
        )
    except BaseException:
        if reading is not None:  # connected before the write side failed
            reading.close()
        outcomes_file.close()
        calls_file.close()
        raise
    writer = asyncio.StreamWriter(writing, protocol, None, loop)
    return Pipes(writer, reader, (reading, writing))
