# Owned by the monocell template: `copier update` replaces this file.
"""`db upgrade`, `db downgrade`, `db status`, `db revision`: each cell's migrations.

Every cell with storage has its own database and its own history (see
`kernel.storage.migrations`); these commands act on all of them, or on the
cells named. `serve` and `worker` refuse to start while one is behind, so a
deploy runs `db upgrade` first (the compose file does it in a one-shot job).
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from ..config.topology import ENV_PATH, Topology
from ..core.cell import Cell
from ..core.storage import Storage
from ..runtime.registry import load_cells
from ..storage import CellDatabase, StorageError, migrations, open_database
from .topology import load_registry

app = typer.Typer(
    help="Each cell's database: migrations up, down, and where they stand.", no_args_is_help=True
)

T = TypeVar("T")
TopologyOption = Annotated[Path, typer.Option(help="The topology file.", envvar=ENV_PATH)]
CellsArgument = Annotated[
    list[str] | None,
    typer.Argument(help="Cells to act on (default: every cell with storage).", show_default=False),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _chosen(
    topology_path: Path, names: Sequence[str]
) -> tuple[Topology, list[tuple[Cell, Storage]]]:
    topology, cells = load_registry(topology_path)
    by_name = {cell.name: cell for cell in cells}
    keeping = ", ".join(sorted(cell.name for cell in cells if cell.storage is not None))
    for name in names:
        if name not in by_name:
            raise _fail(f"no cell named {name!r} (cells keeping data: {keeping or 'none'})", 2)
        if by_name[name].storage is None:
            raise _fail(f"cell {name!r} declares no storage", 2)
    chosen = [by_name[name] for name in dict.fromkeys(names)] if names else list(cells)
    return topology, [(cell, cell.storage) for cell in chosen if cell.storage is not None]


def _each(
    topology: Topology,
    chosen: list[tuple[Cell, Storage]],
    action: Callable[[CellDatabase, Storage], Awaitable[T]],
) -> list[T]:
    async def run() -> list[T]:
        results = []
        for cell, storage in chosen:
            database = open_database(cell.name, topology.storage_url_of(cell.name))
            try:
                await database.check_reachable()
                results.append(await action(database, storage))
            finally:
                await database.close()
        return results

    try:
        return asyncio.run(run())
    except StorageError as error:
        raise _fail(str(error)) from None


@app.command()
def upgrade(cells: CellsArgument = None, topology: TopologyOption = Path("topology.toml")) -> None:
    """Apply every pending migration (the kernel's tables, then the cell's), cell by cell."""
    settings, chosen = _chosen(topology, cells or ())

    async def apply(database: CellDatabase, storage: Storage) -> str:
        before = await migrations.migration_status(database, storage)
        await migrations.upgrade(database, storage)
        applied = len(before.pending)
        return f"{database.cell}: {'up to date' if not applied else f'applied {applied}'}"

    for line in _each(settings, chosen, apply):
        typer.echo(line)
    if not chosen:
        typer.echo("no cell declares storage")


@app.command()
def downgrade(
    cell: Annotated[str, typer.Argument(help="The cell whose migrations to undo.")],
    revision: Annotated[
        str,
        typer.Argument(
            help="The revision to go back to (0001, or <cell>:0001 as `db status` shows it), "
            "or 'base'."
        ),
    ],
    topology: TopologyOption = Path("topology.toml"),
) -> None:
    """Undo a cell's migrations down to REVISION (its tables' data may be lost)."""
    settings, chosen = _chosen(topology, [cell])

    async def undo(database: CellDatabase, storage: Storage) -> str:
        # To base, the cell's data goes: its outbox, inbox and idempotency keys too, or a
        # replayed key would answer with an order that no longer exists.
        everything = revision.rpartition(":")[2] == "base"  # `orders:base` as well
        await migrations.downgrade(database, storage, revision, kernel_too=everything)
        if database.missing_file:
            return f"{database.cell}: no database yet ({database.describe()}); nothing to undo"
        kernel = " (with its outbox, inbox and idempotency keys)" if everything else ""
        return f"{database.cell}: at {revision}{kernel}"

    for line in _each(settings, chosen, undo):
        typer.echo(line)


@app.command()
def status(cells: CellsArgument = None, topology: TopologyOption = Path("topology.toml")) -> None:
    """Print each cell's database, its current revisions and what is pending (exit 1 if any)."""
    settings, chosen = _chosen(topology, cells or ())

    async def read(
        database: CellDatabase, storage: Storage
    ) -> tuple[str, migrations.MigrationStatus]:
        return database.describe(), await migrations.migration_status(database, storage)

    behind = 0
    for (url, cell_status), (cell, _) in zip(_each(settings, chosen, read), chosen, strict=True):
        state = "up to date" if cell_status.up_to_date else f"{len(cell_status.pending)} pending"
        typer.echo(f"{cell.name}: {state} ({url})")
        typer.echo(f"  current: {', '.join(cell_status.current) or 'none'}")
        if cell_status.pending:
            typer.echo(f"  pending: {', '.join(cell_status.pending)}")
            behind += 1
    if not chosen:
        typer.echo("no cell declares storage")
    raise typer.Exit(1 if behind else 0)


@app.command()
def revision(
    cell: Annotated[str, typer.Argument(help="The cell the migration belongs to.")],
    message: Annotated[str, typer.Option("-m", "--message", help="What the migration does.")],
) -> None:
    """Write an empty migration at the head of CELL's history, to fill in by hand."""
    # It becomes the migration's docstring: a quote or a backslash would end or
    # change that literal (and run what follows as Python when the file loads).
    if not message.strip():
        raise _fail("--message: expected what the migration does, got nothing", 2)
    if any(ord(char) < 32 or char in '"\\\x7f' for char in message):
        raise _fail(
            "--message: expected one line of text without control characters (tabs too), "
            "double quotes or backslashes",
            2,
        )
    # It also names the file (`v0002_add_a_column.py`): a Python module name.
    if not message.isascii() or not any(char.isalnum() for char in message):
        raise _fail("--message: expected ASCII text with a letter or digit (it names the file)", 2)
    storage = next((c.storage for c in load_cells() if c.name == cell), None)
    if storage is None:
        raise _fail(f"no cell named {cell!r} that declares storage", 2)
    try:
        path = migrations.new_revision(cell, storage, message.strip())
    except StorageError as error:
        raise _fail(str(error)) from None
    typer.echo(f"wrote {path}")
