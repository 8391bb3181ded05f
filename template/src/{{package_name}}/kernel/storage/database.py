# Owned by the monocell template: `copier update` replaces this file.
"""Opening one cell's database: a SQLite file of its own, or its schema in PostgreSQL.

SQLite runs in WAL mode with a busy timeout, so several processes (uvicorn
workers, sandbox workers) can share a cell's file, and every transaction
begins with `BEGIN IMMEDIATE`: the write lock is taken up front instead of on
the first write, where two readers upgrading at once would fail with
"database is locked". Taking BEGIN over from the driver also makes DDL
transactional, so a migration that fails half-way leaves nothing behind.
Within one process, a SQLite database's transactions take turns before they
begin (`CellDatabase.transaction`): see there why.

In PostgreSQL a cell's tables live in a schema named after the cell (the
connection's `search_path`); `topology deploy` writes the roles and grants
that keep each cell's user inside its own schema.
"""

import asyncio
import contextlib
import functools
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from ..config.topology import redact_url
from ..core.errors import OutageError

BUSY_TIMEOUT_MS = 30_000


class StorageError(RuntimeError):
    """A cell's database cannot be used; the message is one line naming the cell."""


@dataclass(eq=False)  # identity: tracked in a WeakSet for readiness
class CellDatabase:
    """One cell's engine and session factory."""

    cell: str
    url: URL
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    problem: str | None = None  # why the last transaction could not reach the database
    # Why the outbox relay's last read of the outbox table failed though the
    # database answered (its tables gone: `db downgrade` run under a live service).
    outbox_problem: str | None = None
    _turns: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed when the block ends, rolled back on error.

        On SQLite the transactions of this process take turns (an asyncio lock)
        before `BEGIN IMMEDIATE`. Two connections of one process asking for the
        file's write lock at once would meet SQLite's busy handler instead,
        which sleeps 1, 2, 5, 10... ms between tries (32 concurrent orders
        through the gateway, in one run: 112-128 a second without turns,
        145-164 with). Other processes sharing the file still wait in the busy
        handler; PostgreSQL needs no turns.
        """
        turns = self._turns if self.is_sqlite else contextlib.nullcontext()
        try:
            async with turns, self.sessions() as session, session.begin():
                await self._connect(session)
                yield session
        except DBAPIError as error:
            if error.connection_invalidated:  # the connection died on the way
                raise self._unreachable(error) from None
            if _outage(error):  # the file or the server cannot take it now (a full disk)
                raise self._unreachable(error, "use") from None
            raise  # a statement's own error: the handler's

    async def _connect(self, session: AsyncSession) -> None:
        """Take the connection before the block runs, so a database that is down is told
        apart from the block's own errors: an `UnavailableError` (the gateway's 503 with
        Retry-After), and `problem` for readiness, until a transaction connects again."""
        try:
            await session.connection()
        except Exception as error:  # whatever connecting raised (OSError, the driver's)
            raise self._unreachable(error) from None
        self.problem = None

    def _unreachable(self, error: BaseException, verb: str = "reach") -> OutageError:
        self.problem = f"cells.{self.cell}: cannot {verb} its database: {_one_line(error)}"
        return OutageError(self.problem)

    @property
    def missing_file(self) -> bool:
        """True for a SQLite file that does not exist yet: only `db upgrade` makes it.

        Connecting would create it (and its directory, once made): a mistyped data
        directory, or a check by `db status` or a refused `serve`, would leave a
        fresh, empty database behind that the next start takes for the real one.
        """
        path = self.sqlite_path
        return path is not None and not path.exists()

    @property
    def sqlite_path(self) -> Path | None:
        """The file of a SQLite database (None for PostgreSQL or an in-memory one)."""
        name = self.url.database or ""
        if not self.is_sqlite or name in ("", ":memory:") or name.startswith("file:"):
            return None
        return Path(name)

    def make_directory(self) -> None:
        """Create the SQLite file's directory (for `db upgrade`); a `StorageError` if not."""
        path = self.sqlite_path
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageError(
                f"cells.{self.cell}: cannot create the data directory {path.parent}: "
                f"{error.strerror}"
            ) from None

    @property
    def schema(self) -> str | None:
        """The cell's PostgreSQL schema (None on SQLite, where the file is the cell's own)."""
        return None if self.is_sqlite else self.cell

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    def describe(self) -> str:
        """The URL, fit for a message (no password)."""
        return self.url.render_as_string(hide_password=True)

    async def check_reachable(self) -> None:
        """Connect once; an unreachable database is a `StorageError` naming the cell.

        A SQLite file not made yet is left unmade: its migrations are all pending,
        which the status check then says.
        """
        if self.missing_file:
            return
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError, ValueError) as error:
            # ValueError: a query value asyncpg refuses (command_timeout=abc).
            raise StorageError(
                f"cells.{self.cell}: cannot reach its database {self.describe()}: "
                f"{_one_line(error)}"
            ) from None

    async def close(self) -> None:
        await self.engine.dispose()


def parse_url(cell: str, url: str) -> URL:
    """The SQLAlchemy URL of `cell`'s database; a malformed or unsupported one is refused."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as error:  # ValueError: a port that is not a number
        why = ""
        if isinstance(error, ValueError):  # `user:p@ss@host`: the text after `:` read as a port
            why = " (its port is not a number"
            why += ": percent-encode @ : / in the password)" if url.count("@") > 1 else ")"
        raise StorageError(
            f"cells.{cell}: storage URL is not a database URL{why}: {redact_url(url)[:80]!r}"
        ) from None
    if parsed.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise StorageError(
            f"cells.{cell}: storage URL: expected sqlite+aiosqlite or postgresql+asyncpg, "
            f"got {parsed.drivername!r}"
        )
    if parsed.drivername.startswith("sqlite") and parsed.database in (None, "", ":memory:"):
        raise StorageError(
            f"cells.{cell}: storage URL: a SQLite database needs a file path "
            "(an in-memory database would differ per connection)"
        )
    if parsed.drivername == "postgresql+asyncpg":
        _check_postgres_url(cell, parsed)
    return parsed


def _check_postgres_url(cell: str, parsed: URL) -> None:
    """Refuse what asyncpg would only reject on the first connection, with a traceback:
    a port out of range, or a query key it has no parameter for (`sslmode` is libpq's
    spelling; asyncpg's is `ssl`). Values are checked when connecting (`check_reachable`).
    """
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise StorageError(f"cells.{cell}: storage URL: port {parsed.port} is not 1-65535")
    known = _asyncpg_query_keys()
    for key in parsed.query:
        if key in known:
            continue
        hint = "; asyncpg spells it ssl (ssl=require)" if key == "sslmode" else ""
        raise StorageError(
            f"cells.{cell}: storage URL: unknown query parameter {key!r}{hint} "
            f"(known: {', '.join(sorted(known))})"
        )


@functools.cache
def _asyncpg_query_keys() -> frozenset[str]:
    """The query keys a postgresql+asyncpg URL may carry: SQLAlchemy passes each to
    `asyncpg.connect` as a keyword, so they are its parameters (read from asyncpg
    itself, to follow its versions), less those the URL or this module already set,
    plus SQLAlchemy's own `prepared_statement_cache_size`."""
    import asyncpg  # type: ignore[import-untyped]  # loaded for PostgreSQL URLs only

    parameters = set(inspect.signature(asyncpg.connect).parameters)
    taken = {"dsn", "user", "password", "database", "port", "loop", "server_settings"}
    return frozenset(parameters - taken - {"connection_class", "record_class"}) | {
        "prepared_statement_cache_size"
    }


def open_database(cell: str, url: str) -> CellDatabase:
    """The engine of `cell`'s database (created lazily: nothing connects yet)."""
    parsed = parse_url(cell, url)
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(parsed, **options)
        _sqlite_pragmas(engine)
    else:
        # A server may drop idle connections (a restart, a proxy): check before use.
        options["pool_pre_ping"] = True
        options["connect_args"] = {"server_settings": {"search_path": cell}}
        try:
            engine = create_async_engine(parsed, **options)
        except ValueError as error:  # prepared_statement_cache_size=x, read here already
            raise StorageError(
                f"cells.{cell}: storage URL {parsed.render_as_string(hide_password=True)}: "
                f"{_one_line(error)}"
            ) from None
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    return CellDatabase(cell=cell, url=parsed, engine=engine, sessions=sessions)


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # BEGIN is ours (see the module doc)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# SQLite result codes (the low byte of `sqlite_errorcode`) that say the file cannot
# be used now, whatever the statement: a full disk, an I/O error, a read-only or
# vanished file, a lock held past the busy timeout.
SQLITE_OUTAGES = frozenset({5, 8, 10, 13, 14})  # BUSY, READONLY, IOERR, FULL, CANTOPEN
# PostgreSQL SQLSTATEs that say the same of the server: class 08 connection
# exception, 53 insufficient resources (disk full, out of memory, too many
# connections), 57P operator intervention (shutting down, cannot connect now;
# not 57014, a query cancelled by `statement_timeout`: the statement's own), and
# 25006 a read-only transaction (a standby, or a primary demoted by a failover).
POSTGRES_OUTAGES = ("08", "53", "57P", "25006")


def _outage(error: DBAPIError) -> bool:
    """True when the database, not the statement, failed: the handler may try again later."""
    original = error.orig
    code = getattr(original, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in SQLITE_OUTAGES
    state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return isinstance(state, str) and state.startswith(POSTGRES_OUTAGES)


def _one_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    message = str(original).strip().splitlines()
    return (message[0] if message else type(original).__name__)[:300]
