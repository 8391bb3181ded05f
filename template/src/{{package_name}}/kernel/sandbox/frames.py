# Owned by the monocell template: `copier update` replaces this file.
"""What the parent and a sandbox worker say to each other over the worker's pipes.

Each frame is a 4-byte big-endian length and a msgspec MessagePack body (never
pickle: a hostile worker's bytes are decoded as plain data, strictly, into
these structs). The worker speaks first with `Hello` (its layers and level),
then answers each `Call` with one `Outcome`. A cell with storage runs its
unit of work in the worker, on its own SQLite file: its events then reach the
parent through the outbox table, which the parent checks and relays. While it handles a call, the
worker may ask the parent to send a command for it (`Send`); the parent checks
it against the cell's declaration, sends it on the bus, and answers with one
`Answer` before the worker goes on. `Send` and `Outcome` repeat the number of
the `Call` they belong to: a frame with any other number means the worker is
out of step (buggy or hostile), and the service replaces it rather than hand
one caller's reply to another.
"""

import struct
from typing import Literal

import msgspec

from ..config.sandbox_policy import SandboxPolicy

HEADER = struct.Struct(">I")
MAX_FRAME = 16 * 1024 * 1024  # larger frames from a worker count as a violation
FRAME_MARGIN = 64 * 1024  # room for a frame's other fields next to its message bytes

LayerStatus = Literal["on", "off", "unavailable", "failed"]
CallKind = Literal["command", "event"]


class Target(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the worker finds the cell: a module and the cell's name.

    The module holds either `CELLS` (the composition root) or `cell`. An empty
    module starts a worker without a cell: the probe.
    """

    module: str
    cell: str


class Setup(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How a worker restricts itself and what it loads; passed on its command line."""

    target: Target
    policy: SandboxPolicy
    scratch: str
    parent_pid: int
    read_only: list[str]  # the filesystem allowlist (read and import only)
    import_paths: list[str] = []  # added to sys.path (e.g. a test-only cell's folder)
    # The cell's own SQLite database (a SQLAlchemy URL) and the directory holding
    # it, the one place besides scratch the worker may write; empty without storage.
    database: str = ""
    data_dir: str = ""
    source: str = ""  # the CloudEvents source of the events the cell publishes
    uid: int = 65534  # what a worker started by root drops to: its pool's (see `uids`)


class Layer(msgspec.Struct, frozen=True):
    """One isolation layer as the worker found it: on, off, unavailable or failed, and why."""

    name: str
    status: LayerStatus
    detail: str = ""


class Hello(msgspec.Struct, frozen=True, tag=True):
    layers: list[Layer]
    level: int
    error: str = ""  # the cell could not be loaded


class Call(msgspec.Struct, frozen=True, tag=True, omit_defaults=True):
    kind: CallKind
    message_type: str
    data: bytes
    correlation_id: str
    number: int = 0  # repeated by the call's `Send` and `Outcome` frames
    # What the cell's unit of work needs (a cell with storage runs it in the worker).
    message_id: str = ""
    idempotency_key: str = ""
    traceparent: str = ""
    deadline: float | None = None
    principal: str = ""  # who asked (core.principal), for a handler that checks ownership
    scopes: tuple[str, ...] = ()


class Published(msgspec.Struct, frozen=True):
    message_type: str
    data: bytes


class Outcome(msgspec.Struct, frozen=True, tag=True, omit_defaults=True):
    """A handler's result: a reply (`reply_type`, `data`) or an error (`code` set)."""

    reply_type: str = ""
    data: bytes = b""
    events: list[Published] = []
    code: str = ""  # a kernel.core.errors code when the handler failed or refused
    reason: str = ""
    detail: str = ""
    failure: str = ""  # what went wrong inside, for the parent's log only
    number: int = 0  # the `Call` this answers


class Send(msgspec.Struct, frozen=True, tag=True, omit_defaults=True):
    """A command the handler sends to another cell, encoded with its contract."""

    message_type: str
    data: bytes
    number: int = 0  # the `Call` being handled


class Answer(msgspec.Struct, frozen=True, tag=True, omit_defaults=True):
    """The parent's answer to a `Send`: the reply (`data`) or an error (`code` set)."""

    data: bytes = b""
    code: str = ""
    reason: str = ""
    detail: str = ""


Frame = Hello | Call | Outcome | Send | Answer
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Frame)


def pack(frame: Frame) -> bytes:
    body = _encoder.encode(frame)
    return HEADER.pack(len(body)) + body


def unpack(body: bytes) -> Frame:
    """Decode one frame body; raises `msgspec.DecodeError` on anything else."""
    frame: Frame = _decoder.decode(body)
    return frame
