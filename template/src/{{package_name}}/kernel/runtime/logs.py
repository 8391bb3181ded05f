# Owned by the monocell template: `copier update` replaces this file.
"""Structured logs: one JSON object per line, with the correlation id when there is one.

The bus logs with `extra={"correlation_id": ..., "cell": ..., "message_type": ...}`;
this formatter writes those fields next to the message, so every line that one
request caused can be found with its correlation id.
"""

import asyncio
import contextlib
import json
import logging
import os
import sys

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

    Lines logged on a running event loop are written together at its next turn: one
    write for all the lines of a turn, where the gateway's audit line made a system
    call per request (with stderr on a pipe, as under a container runtime: 7% more
    requests per second). A thread would take them off the loop altogether, but on
    one interpreter it fights the loop for the GIL: measured, 22% fewer. A line logged
    outside a loop is written at once, after any still waiting, so the order holds;
    `flush` (run by `logging.shutdown` at exit) writes what waits.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self._waiting: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # as StreamHandler does: report it, never raise into the caller
            self.handleError(record)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread: at once
            self._waiting.append(line)
            self._write_waiting()
            return
        if not self._waiting:
            loop.call_soon(self.flush)
        self._waiting.append(line)

    def flush(self) -> None:
        with self.lock or contextlib.nullcontext():
            self._write_waiting()

    def _write_waiting(self) -> None:
        lines, self._waiting = self._waiting, []
        self.stream = sys.stderr
        if not lines or self.stream is None:
            return
        try:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
        except Exception:  # a closed or broken stderr: said as logging says it, never raised
            self.handleError(logging.makeLogRecord({"msg": f"{len(lines)} log line(s) lost"}))


def configure_logging(level: str | None = None) -> None:
    """Send the service's logs to stderr as JSON lines; level from <PKG>_LOG_LEVEL or INFO.

    Safe to call again: it replaces only the handler it installed before.
    """
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
    root.setLevel((level or os.environ.get(LEVEL_ENV, "INFO")).upper())
