# Owned by the monocell template: `copier update` replaces this file.
"""`contracts export` and `contracts diff`: the public-API part of the gate."""

from pathlib import Path
from typing import Annotated

import typer

from . import snapshot
from .registry import PACKAGE, load_cells

app = typer.Typer(
    help="Snapshot the public message schemas and detect breaking changes.",
    no_args_is_help=True,
)

DirectoryOption = Annotated[
    Path, typer.Option("--dir", help="Where the snapshot lives.", file_okay=False)
]


@app.command()
def export(directory: DirectoryOption = Path("contracts")) -> None:
    """Write the JSON Schema of every public message into the snapshot directory."""
    messages = snapshot.public_messages(load_cells(), PACKAGE)
    written = snapshot.export(messages, directory)
    typer.echo(f"wrote {len(written)} message schemas to {directory}/")


@app.command()
def diff(
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            help="Compare with the snapshot committed at this git revision "
            "(default: the snapshot files on disk).",
        ),
    ] = None,
    directory: DirectoryOption = Path("contracts"),
) -> None:
    """Classify every change since the snapshot; exit 1 on a breaking change."""
    try:
        old = (
            snapshot.load_directory(directory)
            if against is None
            else snapshot.load_revision(against, directory.as_posix())
        )
    except snapshot.SnapshotError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    messages = snapshot.public_messages(load_cells(), PACKAGE)
    new = {name: snapshot.schema_of(message) for name, message in messages.items()}
    changes = snapshot.compare(old, new)
    for change in changes:
        typer.echo(str(change))
    broken = snapshot.breaking(changes)
    if broken:
        typer.echo(
            f"{len(broken)} breaking change(s): publish them as a new message version "
            "(cell.Name.v2) instead",
            err=True,
        )
        raise typer.Exit(1)
    if changes:
        typer.echo("no breaking change; run `contracts export` to update the snapshot")
    else:
        typer.echo("contracts unchanged")
