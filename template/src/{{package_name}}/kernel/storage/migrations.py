# Owned by the monocell template: `copier update` replaces this file.
"""Alembic migrations per cell: the kernel's tables first, then the cell's own.

Two histories run on every cell's database, each with its version table
there: the kernel's (`versions/` beside this module, table
`kernel_alembic_version`) and the cell's (its `migrations/versions` package,
table `alembic_version`), so a cell's history moves with the cell and a kernel
change never needs a migration in every cell. Alembic is driven from here
instead of an `env.py` per cell: the cell's database and history come from
its declaration, so there is nothing for a cell to configure.

Each run is one transaction: on PostgreSQL (transactional DDL) and on SQLite
(`kernel.storage.database` takes BEGIN over from the driver, and SQLite's
DDL is transactional), a migration that fails half-way leaves the database
as it was.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from ..core.storage import Storage
from .database import CellDatabase, StorageError, _one_line
from .tables import metadata as kernel_metadata

HERE = Path(__file__).parent
KERNEL_VERSIONS = HERE / "versions"
KERNEL_VERSION_TABLE = "kernel_alembic_version"
CELL_VERSION_TABLE = "alembic_version"
FILE_TEMPLATE = "v%(rev)s_%(slug)s"
# Alembic narrates every step at INFO; `db upgrade` prints its own one line per cell.
logging.getLogger("alembic").setLevel(logging.WARNING)


@dataclass(frozen=True)
class History:
    """One migration history on a cell's database: where its scripts are, its version table."""

    label: str
    versions: Path
    version_table: str
    target_metadata: Any

    def scripts(self) -> ScriptDirectory:
        return ScriptDirectory(
            HERE, version_locations=[str(self.versions)], file_template=FILE_TEMPLATE
        )


@dataclass(frozen=True)
class MigrationStatus:
    """Where a cell's database stands: current and head revision of both histories."""

    cell: str
    current: tuple[str, ...]
    heads: tuple[str, ...]
    pending: tuple[str, ...]

    @property
    def up_to_date(self) -> bool:
        return not self.pending


def histories(cell: str, storage: Storage) -> tuple[History, History]:
    """The kernel's history and the cell's, in the order they are applied."""
    try:
        versions = storage.versions_directory()
    except (LookupError, ImportError) as error:
        raise StorageError(f"cells.{cell}: migrations: {error}") from None
    if not versions.is_dir():
        raise StorageError(f"cells.{cell}: migrations: no directory {versions}")
    return (
        History("kernel", KERNEL_VERSIONS, KERNEL_VERSION_TABLE, kernel_metadata),
        History(cell, versions, CELL_VERSION_TABLE, storage.metadata),
    )


async def upgrade(database: CellDatabase, storage: Storage, target: str = "heads") -> None:
    """Apply the kernel's migrations, then the cell's up to `target`, in one transaction."""
    kernel, own = histories(database.cell, storage)
    await _run(database, [(kernel, "heads", True), (own, target, True)])


async def downgrade(
    database: CellDatabase, storage: Storage, target: str, *, kernel_too: bool = False
) -> None:
    """Undo the cell's migrations down to `target` ("base": all; `kernel_too`: the kernel's too)."""
    kernel, own = histories(database.cell, storage)
    label, colon, revision = target.rpartition(":")  # as `db status` shows it: orders:0001
    if colon and label != own.label:
        raise StorageError(
            f"cells.{database.cell}: revision {target[:80]!r}: a downgrade goes back in the "
            f"cell's own migrations ({own.label}:...), see `db status`"
        )
    target = revision if colon else target
    _require_target(database.cell, own, target)
    steps: list[tuple[History, str, bool]] = [(own, target, False)]
    if kernel_too:
        steps.append((kernel, "base", False))
    await _run(database, steps)


async def migration_status(database: CellDatabase, storage: Storage) -> MigrationStatus:
    """The current and head revisions of both histories, and what upgrading would apply."""
    current: list[str] = []
    heads: list[str] = []
    pending: list[str] = []
    for history in histories(database.cell, storage):
        scripts = _checked_scripts(database.cell, history)
        here = await _current(database, history)
        _require_known(database.cell, history, scripts, here)
        head = scripts.get_heads()
        current += [f"{history.label}:{rev}" for rev in here]
        heads += [f"{history.label}:{rev}" for rev in head]
        ahead = scripts.iterate_revisions(tuple(head), tuple(here) or "base")  # newest first
        pending += reversed([f"{history.label}:{script.revision}" for script in ahead])
    return MigrationStatus(database.cell, tuple(current), tuple(heads), tuple(pending))


async def require_up_to_date(database: CellDatabase, storage: Storage, command: str) -> None:
    """Refuse to serve a cell whose database lags its migrations, in one line."""
    status = await migration_status(database, storage)
    if status.pending:
        count = len(status.pending)
        raise StorageError(
            f"cells.{database.cell}: {count} migration{'s' if count > 1 else ''} pending "
            f"({', '.join(status.pending[:3])}{', ...' if count > 3 else ''}); "
            f"run `{command} db upgrade` first"
        )


def _checked_scripts(cell: str, history: History) -> ScriptDirectory:
    scripts = history.scripts()
    try:
        heads = scripts.get_heads()
    except CommandError as error:
        raise StorageError(f"cells.{cell}: migrations of {history.label}: {error}") from None
    if len(heads) > 1:
        raise StorageError(
            f"cells.{cell}: migrations of {history.label} have {len(heads)} heads "
            f"({', '.join(heads)}); give one a down_revision so they form one line"
        )
    return scripts


def _require_target(cell: str, history: History, target: str) -> None:
    """Refuse a downgrade target the cell's migrations do not hold, before anything is
    opened: a database not made yet would otherwise be reported "at" any text."""
    if target == "base":
        return
    try:
        found = _checked_scripts(cell, history).get_revision(target) if target else None
    except CommandError:
        found = None
    if found is None or found.revision != target:  # no partial ids or names: as `db status`
        raise StorageError(
            f"cells.{cell}: no {history.label} revision {target[:80]!r}: give one `db status` "
            f"shows ({history.label}:0001, ...) or 'base'"
        )


def _require_known(
    cell: str, history: History, scripts: ScriptDirectory, current: Sequence[str]
) -> None:
    """Refuse a database at a revision the code has no script for, in one line."""
    for revision in current:
        try:
            scripts.get_revision(revision)
        except CommandError:
            raise StorageError(
                f"cells.{cell}: its database is at {history.label} revision {revision!r}, "
                "which the code has no migration for: restore that migration file "
                "(or the database is newer than this code)"
            ) from None


def _heads(connection: Connection, database: CellDatabase, history: History) -> tuple[str, ...]:
    """The revisions the history's version table records (none before the first upgrade)."""
    context = MigrationContext.configure(
        connection,
        opts={"version_table": history.version_table, "version_table_schema": database.schema},
    )
    return tuple(context.get_current_heads())


async def _current(database: CellDatabase, history: History) -> tuple[str, ...]:
    if database.missing_file:  # nothing applied; reading would create the file
        return ()
    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(_heads, database, history)
    except (SQLAlchemyError, OSError, ValueError) as error:  # as check_reachable
        raise StorageError(
            f"cells.{database.cell}: cannot read its migration state from "
            f"{database.describe()}: {_one_line(error)}"
        ) from None


Step = tuple[History, str, bool]


async def _run(database: CellDatabase, steps: Sequence[Step]) -> None:
    """Run each (history, target, upward) step inside one transaction."""
    if database.missing_file:
        if not any(up for _, _, up in steps):  # nothing to undo where nothing was applied
            return
        database.make_directory()
    prepared = [
        (history, _checked_scripts(database.cell, history), target, up)
        for history, target, up in steps
    ]

    def migrate(connection: Connection) -> None:
        if database.schema is not None:
            _ensure_schema(connection, database.schema)
        for history, scripts, target, up in prepared:
            _require_known(database.cell, history, scripts, _heads(connection, database, history))
            _apply(connection, database, history, scripts, target, up)

    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(migrate)
    except StorageError:
        raise
    except CommandError as error:
        raise StorageError(f"cells.{database.cell}: migrations: {error}") from None
    except Exception as error:  # the failing migration's own error: name it, undo everything
        raise StorageError(
            f"cells.{database.cell}: migration failed, nothing applied: "
            f"{type(error).__name__}: {_one_line(error)}"
        ) from error


def _apply(
    connection: Connection,
    database: CellDatabase,
    history: History,
    scripts: ScriptDirectory,
    target: str,
    up: bool,
) -> None:
    def steps(revision: Any, _context: Any) -> Any:
        if up:
            return scripts._upgrade_revs(target, revision)
        return scripts._downgrade_revs(target, revision)

    environment = EnvironmentContext(Config(), scripts, fn=steps)
    with environment:
        environment.configure(
            connection=connection,
            target_metadata=history.target_metadata,
            version_table=history.version_table,
            version_table_schema=database.schema,
            transactional_ddl=True,
        )
        environment.run_migrations()


def _ensure_schema(connection: Connection, schema: str) -> None:
    exists = connection.execute(
        text("SELECT 1 FROM pg_namespace WHERE nspname = :schema"), {"schema": schema}
    ).first()
    if exists is None:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))


def next_revision_id(scripts: ScriptDirectory) -> str:
    """The next four-digit revision id of a history (`0001`, `0002`, ...)."""
    numbers = [
        int(script.revision) for script in scripts.walk_revisions() if script.revision.isdigit()
    ]
    return f"{max(numbers, default=0) + 1:04d}"


def new_revision(cell: str, storage: Storage, message: str) -> Path:
    """Write an empty migration script at the head of the cell's history."""
    own = histories(cell, storage)[1]
    scripts = _checked_scripts(cell, own)
    revision = next_revision_id(scripts)
    created = scripts.generate_revision(revision, message, head="head", refresh=True)
    if created is None:
        raise StorageError(f"cells.{cell}: could not write a migration")
    return Path(created.path)
