# Owned by the monocell template: `copier update` replaces this file.
"""topology.toml: where each cell runs and how the bus connects. Ops as code.

    [bus]
    transport = "memory"              # or "nats"
    url = "nats://127.0.0.1:4222"     # used by the nats transport
    # optional: timeout, drain_timeout (seconds), max_deliveries, ack_wait (seconds),
    # concurrency (handlers of one message type at once), fetch_batch (NATS: events
    # fetched ahead of busy handlers)
    # JetStream (see BusSettings): provision, retention, replicas, max_age,
    # max_msgs, max_bytes, dead_letter_max_msgs
    # TLS (see kernel/bus/nats_tls.py): tls_ca, tls_cert, tls_key (relative to this file)

    [storage]                         # each cell's own database
    data_dir = "data"                 # a SQLite file per cell here (relative to this file)
    # url = "postgresql+asyncpg://user:pass@host/db"   # or a schema per cell in PostgreSQL

    [cells.orders]
    placement = "inprocess"           # or "remote" (run by a `worker` process),
                                      # or "sandbox" (restricted worker processes)
    # optional: concurrency, fetch_batch (this cell's event handlers, overriding [bus])
    [cells.orders.sandbox]            # only with placement = "sandbox": see
    min_level = 2                     # kernel/config/sandbox_policy.py for every key

A cell without a table runs in-process. The file is checked strictly: an
unknown key or cell, or a value of the wrong type, stops the service with one
line naming the key and what was expected. `<PKG>_BUS_TRANSPORT` and
`<PKG>_BUS_URL` (PKG = the package name in upper case) override `[bus]`, as
`<PKG>_BUS_TLS_CA`, `<PKG>_BUS_TLS_CERT` and `<PKG>_BUS_TLS_KEY` do its TLS files;
`<PKG>_STORAGE_URL`, `<PKG>_STORAGE_DATA_DIR` and `<PKG>_STORAGE_URL_<CELL>`
override `[storage]` and a cell's `storage_url` (so passwords stay out of the file).
Any other `<PKG>_BUS_*` or `<PKG>_STORAGE_*` variable is refused, as a misspelt key is.
"""

import os
import re
import tomllib
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import msgspec

from .sandbox_policy import SandboxPolicy
from .thresholds import ThresholdOverrides, Thresholds
from .validation import split_message

PACKAGE = __package__.partition(".")[0]
ENV_PREFIX = PACKAGE.upper()
ENV_TRANSPORT = f"{ENV_PREFIX}_BUS_TRANSPORT"
ENV_URL = f"{ENV_PREFIX}_BUS_URL"
TLS_SETTINGS = ("tls_ca", "tls_cert", "tls_key")
ENV_PATH = f"{ENV_PREFIX}_TOPOLOGY"
ENV_STORAGE_URL = f"{ENV_PREFIX}_STORAGE_URL"
ENV_DATA_DIR = f"{ENV_PREFIX}_STORAGE_DATA_DIR"

Transport = Literal["memory", "nats"]
Placement = Literal["inprocess", "remote", "sandbox"]
Provision = Literal["check", "auto"]
Retention = Literal["interest", "limits"]
TRANSPORTS: tuple[str, ...] = get_args(Transport)
PLACEMENTS: tuple[str, ...] = get_args(Placement)
PROVISIONS: tuple[str, ...] = get_args(Provision)
RETENTIONS: tuple[str, ...] = get_args(Retention)

NATS_URL = r"^(nats|tls|ws|wss)://[^\s]+$"
# The two databases a cell may keep its data in (SQLAlchemy async URLs).
STORAGE_URL = r"^(sqlite\+aiosqlite:///[^\s]*|postgresql\+asyncpg://[^\s]+)\Z"
STORAGE_EXAMPLE = "sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user@host/db"
Seconds = Annotated[float, msgspec.Meta(gt=0, le=3600)]
# [bus] concurrency and fetch_batch, and a cell's own (see BusSettings).
Concurrency = Annotated[int, msgspec.Meta(ge=1, le=1024)]
FetchBatch = Annotated[int, msgspec.Meta(ge=1, le=512)]

# What a key expects, for messages clearer than a regular expression.
EXPECTED: dict[str, str] = {
    "url": "a NATS URL like nats://127.0.0.1:4222",
    "storage.url": STORAGE_EXAMPLE,
    "storage_url": STORAGE_EXAMPLE,
    "data_dir": "a directory path, without control characters, relative to topology.toml",
    **dict.fromkeys(
        TLS_SETTINGS, "a file path, without control characters, relative to topology.toml"
    ),
}
# Keys whose allowed values are a closed list, for messages that name them.
CHOICES: dict[str, tuple[str, ...]] = {
    "transport": TRANSPORTS,
    "placement": PLACEMENTS,
    "provision": PROVISIONS,
    "retention": RETENTIONS,
}


S = TypeVar("S", bound=msgspec.Struct)


class TopologyError(ValueError):
    """topology.toml, or an override of it, is not valid; the message is one line."""


class BusSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The `[bus]` table.

    The JetStream keys describe what `<command> nats provision` creates: the events
    stream (`retention`, `replicas`, `max_age` in seconds, `max_msgs`, and `max_bytes`
    when set; no byte limit otherwise, since a limit reserves that much of the server's
    storage), the dead-letter stream (`replicas`, `dead_letter_max_msgs`) and a durable
    consumer per cell and event type.

    `provision` says who creates them:

    - `"check"` (the default, for production): an operator runs `nats provision` with
      the `ops` user; `serve` and `worker` only check, at start, that the streams and
      their consumers have the expected shape and refuse to start otherwise. Their
      NATS users have no right to create or change a stream or a consumer.
    - `"auto"`: `serve` and `worker` provision at start, as `nats provision` would
      (every consumer of every cell, so no event is lost before a worker first
      starts). For a development server without users; with the generated
      least-privilege users it fails, which is the point.

    Auto is a setting and not a guess from the URL (no credentials = development):
    a production server reached without credentials would then be changed by
    whichever process started first.
    """

    transport: Transport = "memory"
    url: Annotated[str, msgspec.Meta(pattern=NATS_URL)] = "nats://127.0.0.1:4222"
    timeout: Seconds = 5.0
    drain_timeout: Seconds = 10.0
    max_deliveries: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    # Events of one cell and type handled at once in a process (on NATS also how
    # many are fetched in flight; a pull asks for the free slots), and commands
    # of one type answered at once.
    concurrency: Concurrency = 16
    # On NATS: events fetched ahead of the busy handlers, so they never wait on a
    # fetch round trip (held, and kept alive, with the ones being handled).
    fetch_batch: FetchBatch = 64
    ack_wait: Seconds = 30.0
    provision: Provision = "check"
    # "interest": an event is kept until every consuming cell acknowledged it (their
    # consumers exist from `nats provision` on); "limits": kept until max_age/max_msgs.
    retention: Retention = "interest"
    replicas: Annotated[int, msgspec.Meta(ge=1, le=5)] = 1
    max_age: Annotated[float, msgspec.Meta(gt=0, le=315_360_000)] = 604_800.0  # 7 days
    max_msgs: Annotated[int, msgspec.Meta(ge=1)] = 1_000_000
    max_bytes: Annotated[int, msgspec.Meta(ge=1)] | None = None
    dead_letter_max_msgs: Annotated[int, msgspec.Meta(ge=1)] = 100_000
    # TLS files (PEM), relative to topology.toml; see kernel.bus.nats_tls.
    tls_ca: Annotated[str, msgspec.Meta(pattern=r"^[^\x00-\x1f]*\Z")] = ""
    tls_cert: Annotated[str, msgspec.Meta(pattern=r"^[^\x00-\x1f]*\Z")] = ""
    tls_key: Annotated[str, msgspec.Meta(pattern=r"^[^\x00-\x1f]*\Z")] = ""


# Cells share a PostgreSQL database (a schema each), never a SQLite file: its
# migrations' version table and its lock would be every cell's at once.
SHARED_SQLITE = (
    "one SQLite file for every cell cannot work (they would share its migrations' "
    "version table); leave it unset for a file per cell under [storage] data_dir, "
    "or give a cell its own storage_url"
)


class StorageSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The `[storage]` table: where cells keep their data."""

    # A SQLite file per cell (`<data_dir>/<cell>/<cell>.db`), relative to topology.toml.
    data_dir: Annotated[str, msgspec.Meta(min_length=1, pattern=r"^[^\x00-\x1f]+\Z")] = "data"
    # One PostgreSQL database for all cells, a schema (and role) per cell; empty: SQLite.
    url: Annotated[str, msgspec.Meta(pattern=r"^(" + STORAGE_URL[1:-2] + r")?\Z")] = ""

    def __post_init__(self) -> None:
        if self.url.startswith("sqlite"):
            raise ValueError(SHARED_SQLITE)


class CellSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """One `[cells.<name>]` table."""

    placement: Placement = "inprocess"
    # A high-risk cell runs in the sandbox; `serve` refuses it in its own process
    # unless this says the owner accepts the risk.
    allow_unsandboxed: bool = False
    # Thresholds for this cell only (see kernel.config.thresholds).
    triggers: ThresholdOverrides | None = None
    sandbox: SandboxPolicy | None = None
    # This cell's own database, overriding [storage] (e.g. a cell moved to its own server).
    storage_url: Annotated[str, msgspec.Meta(pattern=r"^(" + STORAGE_URL[1:-2] + r")?\Z")] = ""
    # This cell's event handlers, overriding [bus] (None: [bus]'s): how many of one
    # type run at once in a process and, on NATS, how many are fetched ahead.
    concurrency: Concurrency | None = None
    fetch_batch: FetchBatch | None = None


class Topology(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The whole file."""

    bus: BusSettings = BusSettings()
    storage: StorageSettings = StorageSettings()
    cells: dict[str, CellSettings] = {}
    # The `[triggers]` table: when measurements say a cell should move.
    triggers: Thresholds = Thresholds()
    # The `[gateway]` table, checked by `kernel.config.gateway_settings`.
    gateway: dict[str, Any] = {}

    def placement_of(self, cell: str) -> str:
        """Where `cell` runs; a cell the file does not mention runs in-process."""
        settings = self.cells.get(cell)
        return settings.placement if settings is not None else "inprocess"

    def allows_unsandboxed(self, cell: str) -> bool:
        """True when `[cells.<cell>] allow_unsandboxed = true` accepts running it in-process."""
        settings = self.cells.get(cell)
        return settings.allow_unsandboxed if settings is not None else False

    def sandbox_of(self, cell: str) -> SandboxPolicy:
        """The sandbox policy of `cell` (the defaults when its table has none)."""
        settings = self.cells.get(cell)
        policy = settings.sandbox if settings is not None else None
        return policy if policy is not None else SandboxPolicy()

    def storage_url_of(self, cell: str) -> str:
        """The database URL of `cell`: its own override, else `[storage]`, else its SQLite file."""
        settings = self.cells.get(cell)
        if settings is not None and settings.storage_url:
            return settings.storage_url
        if self.storage.url:
            return self.storage.url
        # A directory per cell: a sandboxed cell may write in its own alone.
        return f"sqlite+aiosqlite:///{Path(self.storage.data_dir) / cell / cell}.db"


def load_topology(path: Path, environ: Mapping[str, str] | None = None) -> Topology:
    """Read, check and apply the environment overrides; raise `TopologyError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TopologyError(f"{path}: cannot read: {error}") from None
    topology = parse_topology(text, source=str(path), environ=environ)
    # Relative paths are relative to the file, not to where a command runs.
    here = path.parent.absolute()
    data_dir = here / topology.storage.data_dir
    storage = msgspec.structs.replace(topology.storage, data_dir=str(data_dir))
    tls = {
        name: str(here / value) for name in TLS_SETTINGS if (value := getattr(topology.bus, name))
    }
    bus = msgspec.structs.replace(topology.bus, **tls)
    return msgspec.structs.replace(topology, storage=storage, bus=bus)


def parse_topology(
    text: str, *, source: str = "topology.toml", environ: Mapping[str, str] | None = None
) -> Topology:
    """Check TOML text as a topology; see `load_topology`."""
    try:
        raw = tomllib.loads(text)
    except ValueError as error:  # TOMLDecodeError, or an integer of more than 4300 digits
        raise TopologyError(f"{source}: not valid TOML: {error}") from None
    except RecursionError:  # arrays or inline tables nested thousands deep
        raise TopologyError(f"{source}: not valid TOML: nested too deeply") from None
    cells = raw.get("cells")
    if isinstance(cells, dict):  # one by one, so an error names the cell
        for name, table in cells.items():
            settings = _convert(table, CellSettings, source, f"cells.{name}")
            if settings.sandbox is not None and settings.placement != "sandbox":
                raise TopologyError(
                    f'{source}: cells.{name}.sandbox: only for placement = "sandbox", '
                    f"got placement = {settings.placement!r}"
                )
    topology = _convert(raw, Topology, source, "")
    return _with_overrides(topology, os.environ if environ is None else environ)


def check_cells(
    topology: Topology,
    cell_names: Iterable[str],
    source: str = "topology.toml",
    environ: Mapping[str, str] | None = None,
) -> None:
    """Refuse a `[cells.<name>]` table (or `<PKG>_STORAGE_URL_<CELL>`) naming no cell."""
    known = sorted(cell_names)
    listed = f"(known: {', '.join(known) or 'none'})"
    environ = os.environ if environ is None else environ
    for name in topology.cells:
        variable = f"{ENV_STORAGE_URL}_{name.upper()}"
        if name not in known and environ.get(variable):  # where the name came from
            raise TopologyError(f"{variable}: no such cell {name!r} in app.CELLS {listed}")
        if name not in known:
            raise TopologyError(f"{source}: cells.{name}: no such cell in app.CELLS {listed}")


def _with_overrides(topology: Topology, environ: Mapping[str, str]) -> Topology:
    _refuse_unknown_variables(environ)
    bus = topology.bus
    transport = environ.get(ENV_TRANSPORT)
    if transport is not None:
        if transport not in TRANSPORTS:
            raise TopologyError(
                f"{ENV_TRANSPORT}: expected one of {', '.join(TRANSPORTS)}, got {transport!r}"
            )
        bus = msgspec.structs.replace(bus, transport=transport)
    url = environ.get(ENV_URL)
    if url is not None:
        if not re.match(NATS_URL, url):
            raise TopologyError(
                f"{ENV_URL}: expected a URL like nats://host:4222, got {redact_url(url)!r}"
            )
        bus = msgspec.structs.replace(bus, url=url)
    problem = nats_url_problem(bus.url)
    if problem is not None:
        raise TopologyError(f"{ENV_URL if url is not None else 'bus.url'}: {problem}")
    for setting in TLS_SETTINGS:
        path = environ.get(f"{ENV_PREFIX}_BUS_{setting.upper()}")
        if path is not None:
            if any(ord(char) < 32 for char in path):
                raise TopologyError(
                    f"{ENV_PREFIX}_BUS_{setting.upper()}: expected a file path, got {path!r}"
                )
            bus = msgspec.structs.replace(bus, **{setting: path})
    return _with_storage_overrides(msgspec.structs.replace(topology, bus=bus), environ)


_NEXT_SERVER = re.compile(r",\s*(?=[a-z]+://)")  # a comma before a scheme; passwords may have one


def nats_servers(url: str) -> list[str]:
    """The server URLs of `[bus] url`: one, or a comma-separated cluster list."""
    return [server.strip() for server in _NEXT_SERVER.split(url.strip())]


def nats_url_problem(url: str) -> str | None:
    """Why `url` (one server or a comma-separated cluster list) cannot be connected to,
    or None. nats-py would only fail on the first connection, with a traceback for a
    port that is not a number and silently for a trailing comma."""
    if url.rstrip().endswith(","):
        return f"a trailing comma in {redact_url(url)!r}: list the servers as a,b,c"
    for server in nats_servers(url):
        scheme, _, rest = server.partition("://")
        shown = redact_url(server)
        if scheme in ("ws", "wss"):
            return (
                f"{shown}: WebSocket connections are not supported (they need aiohttp, "
                "and TLS and credentials are set up for nats:// and tls://); use those"
            )
        if scheme not in ("nats", "tls"):
            return f"{shown}: expected nats:// or tls://"
        host = rest.rpartition("@")[2]  # credentials may hold any character
        try:
            parts = urllib.parse.urlsplit(f"//{host}")
        except ValueError:  # `[::1` without its `]`
            return f"{shown}: expected an IPv6 address in brackets, like [::1]:4222"
        try:
            port = parts.port
        except ValueError:
            return f"{shown}: the port is not a number from 1 to 65535"
        if port == 0:
            return f"{shown}: the port is not a number from 1 to 65535"
        if not parts.hostname:
            return f"{shown}: no host"
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            return f"{shown}: expected host:port and nothing after it"
    return None


def _refuse_unknown_variables(environ: Mapping[str, str]) -> None:
    """A `<PKG>_BUS_*` or `<PKG>_STORAGE_*` variable that overrides nothing is refused:
    misspelt (`_BUS_TRANSPRT`), it would leave the file's value in force unnoticed."""
    bus = (ENV_TRANSPORT, ENV_URL, *(f"{ENV_PREFIX}_BUS_{s.upper()}" for s in TLS_SETTINGS))
    for name in environ:
        if name.startswith(f"{ENV_PREFIX}_BUS_") and name not in bus:
            raise TopologyError(f"{name}: unknown variable; expected one of {', '.join(bus)}")
        if name.startswith(f"{ENV_PREFIX}_STORAGE_") and not (
            name == ENV_DATA_DIR or name.startswith(ENV_STORAGE_URL)  # _URL[_<CELL>]: below
        ):
            raise TopologyError(
                f"{name}: unknown variable; expected {ENV_STORAGE_URL}, "
                f"{ENV_STORAGE_URL}_<CELL> or {ENV_DATA_DIR}"
            )


def _with_storage_overrides(topology: Topology, environ: Mapping[str, str]) -> Topology:
    storage, cells = topology.storage, dict(topology.cells)
    for name, value in environ.items():
        if not name.startswith(ENV_STORAGE_URL):
            continue
        cell = name.removeprefix(ENV_STORAGE_URL).lower()
        if cell and not (cell.startswith("_") and cell[1:]):
            raise TopologyError(f"{name}: unknown variable; expected {ENV_STORAGE_URL}_<CELL>")
        if not value:  # empty counts as unset: compose passes `${VAR:-}` through per cell
            continue
        if not re.match(STORAGE_URL, value):
            raise TopologyError(f"{name}: expected {STORAGE_EXAMPLE}, got {redact_url(value)!r}")
        if not cell:
            if value.startswith("sqlite"):
                raise TopologyError(f"{name}: {SHARED_SQLITE}")
            storage = msgspec.structs.replace(storage, url=value)
        else:
            settings = cells.get(cell[1:], CellSettings())
            cells[cell[1:]] = msgspec.structs.replace(settings, storage_url=value)
    data_dir = environ.get(ENV_DATA_DIR)
    if data_dir is not None:
        if not data_dir or any(ord(char) < 32 for char in data_dir):
            raise TopologyError(f"{ENV_DATA_DIR}: expected a directory path, got {data_dir!r}")
        storage = msgspec.structs.replace(storage, data_dir=data_dir)
    return msgspec.structs.replace(topology, storage=storage, cells=cells)


def _convert(raw: object, cls: type[S], source: str, prefix: str) -> S:
    try:
        return msgspec.convert(raw, cls)
    except msgspec.ValidationError as error:
        raise TopologyError(f"{source}: {_explain(str(error), prefix)}") from None


def _explain(message: str, prefix: str) -> str:
    """Turn msgspec's `<what> - at `$.a.b`` into `a.b: <what>`, naming what was expected."""
    what, where = split_message(message)
    where = ".".join(part for part in (prefix, where) if part) or "(top level)"
    key_first = re.match(r"([a-z_]+): (.+)", what)  # a table's own check names its key
    if key_first:
        where, what = f"{where}.{key_first[1]}", key_first[2]
    what = what.replace("Object contains unknown field", "unknown key")
    what = what.replace(" | null`", "`")  # an optional key: TOML has no null to offer
    key = where.rpartition(".")[2]
    if what.startswith("Invalid enum value") and key in CHOICES:
        what = f"expected one of {', '.join(CHOICES[key])}, got {what.partition(' value ')[2]}"
    elif "Expected `str`" in what and (where in EXPECTED or key in EXPECTED):
        what = f"expected {EXPECTED.get(where) or EXPECTED[key]}"
    return f"{where}: {what}"


def redact_url(url: str) -> str:
    """`url` fit for a message: `nats://user:pass@host` becomes `nats://user:***@host`.

    A user without a password is a token in NATS, so it is hidden whole.
    """
    scheme, separator, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not separator or not at:
        return url
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user + ':***' if colon else '***'}@{host}"
