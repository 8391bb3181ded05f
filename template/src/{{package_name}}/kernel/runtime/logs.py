# Owned by the monocell template: `copier update` replaces this file.
"""Structured logs: one JSON object per line, with the correlation id when there is one.

The bus logs with `extra={"correlation_id": ..., "cell": ..., "message_type": ...}`;
this formatter writes those fields next to the message, so every line that one
request caused can be found with its correlation id.
"""

import asyncio
import json
import logging
import os
import sys
import weakref

import msgspec

PACKAGE = __package__.partition(".")[0]
LEVEL_ENV = f"{PACKAGE.upper()}_LOG_LEVEL"
FIELDS = ("correlation_id", "message_id", "cell", "message_type", "audit")
# Anything else a log call passes in `extra` is written as its str().
_encoder = msgspec.json.Encoder(enc_hook=str)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line.

    Every request writes one (the gateway's audit line), so the line is cheap:
    its time is formatted once per second, and msgspec encodes it.
    """

    _second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        second, text = self._second
        if second != int(record.created):
            text = self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z")
            self._second = (int(record.created), text)
        entry: dict[str, object] = {
            "time": text,
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:
            return _encoder.encode(entry).decode()
        except (TypeError, UnicodeEncodeError):  # a lone surrogate, an odd key: never lose the line
            return json.dumps(entry, default=str)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when lines are written (test runners swap it).

    INFO and DEBUG lines logged on a running event loop are written together at its
    next turn: one write for all the lines of a turn, where the gateway's audit line
    made a system call per request (with stderr on a pipe, as under a container
    runtime: 7% more requests per second). A thread would take them off the loop
    altogether, but on one interpreter it fights the loop for the GIL: measured, 22%
    fewer. Everything else is written at once, after the lines still waiting, so the
    order holds: a warning or an error (the line an operator needs when a process
    hangs or is killed next), a line logged outside a loop, a turn's
    `MAX_WAITING`th line. `flush` (run by `logging.shutdown` at exit) writes what
    waits; a forked child forgets it (the parent writes it).
    """

    MAX_WAITING = 1000

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self._waiting: list[str] = []
        self._flush_on: asyncio.AbstractEventLoop | None = None  # the loop a flush waits on
        forget = weakref.WeakMethod(self._forget_waiting)
        os.register_at_fork(after_in_child=lambda: (method := forget()) and method())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # as StreamHandler does: report it, never raise into the caller
            self.handleError(record)
            return
        self._waiting.append(line)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread
            loop = None
        at_once = record.levelno >= logging.WARNING or len(self._waiting) >= self.MAX_WAITING
        if loop is None or at_once:
            self._write_waiting()
        elif self._flush_on is not loop:  # none waits on this loop (another may have stopped)
            self._flush_on = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        self.acquire()
        try:
            self._write_waiting()
        finally:
            self.release()

    def _write_waiting(self) -> None:
        lines, self._waiting, self._flush_on = self._waiting, [], None
        self.stream = sys.stderr
        if not lines or self.stream is None:
            return
        try:
            self.stream.write(self.terminator.join(lines) + self.terminator)
            self.stream.flush()
        except Exception:  # a closed or broken stderr: said as logging says it, never raised
            self.handleError(logging.makeLogRecord({"msg": f"{len(lines)} log line(s) lost"}))

    def _forget_waiting(self) -> None:
        self._waiting, self._flush_on = [], None


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class LogLevelError(ValueError):
    """<PKG>_LOG_LEVEL names no level; the message is one line."""


def log_level(level: str | None = None) -> str:
    """The level to log at: `level`, else <PKG>_LOG_LEVEL (empty is unset), else INFO."""
    chosen = (level or os.environ.get(LEVEL_ENV, "") or "INFO").strip().upper()
    if chosen not in LEVELS:
        raise LogLevelError(
            f"{LEVEL_ENV}: expected one of {', '.join(LEVELS)}, got {chosen.lower()!r}"
        )
    return chosen


def configure_logging(level: str | None = None) -> None:
    """Send the service's logs to stderr as JSON lines; level from <PKG>_LOG_LEVEL or INFO.

    Safe to call again: it replaces only the handler it installed before. A level
    that is none (`LOUD`) is a `LogLevelError` before anything changes.
    """
    chosen = log_level(level)
    # The lines carry none of these: skip collecting them for every record (the
    # logging HOWTO's "Optimization").
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # Python 3.12+ also looks up the current asyncio task for every record.
    setattr(logging, "logAsyncioTasks", False)  # noqa: B010 - unknown to 3.11's type stubs
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        old.flush()  # what it still holds comes first
        root.removeHandler(old)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(chosen)
