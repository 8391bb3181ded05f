# Owned by the monocell template: `copier update` replaces this file.
"""`contracts export` and `contracts diff`: the public-API part of the gate."""

from pathlib import Path
from typing import Annotated

import typer

from ..devtools import asyncapi, snapshot
from ..runtime.registry import PACKAGE, load_cells

app = typer.Typer(
    help="Snapshot the public message schemas and detect breaking changes.",
    no_args_is_help=True,
)

# A string, not a Path: Path("") is ".", and an empty --dir must be refused, not
# taken to mean the current directory.
DirectoryOption = Annotated[str, typer.Option("--dir", help="Where the snapshot lives.")]


def _directory(value: str) -> Path:
    if not value.strip():
        typer.echo("error: --dir: expected a directory path, got an empty string", err=True)
        raise typer.Exit(2)
    return Path(value)


@app.command()
def export(
    directory: DirectoryOption = "contracts",
    page: Annotated[
        str, typer.Option("--page", help="Where the Markdown list of channels and messages goes.")
    ] = "docs/messages.md",
) -> None:
    """Write the JSON Schema of every public message, and the AsyncAPI document of them all."""
    target = _directory(directory)
    if target.exists() and not target.is_dir():
        typer.echo(f"error: --dir {target}: expected a directory, found a file", err=True)
        raise typer.Exit(2)
    if not page.strip():
        typer.echo("error: --page: expected a file path, got an empty string", err=True)
        raise typer.Exit(2)
    if Path(page).is_dir():
        typer.echo(f"error: --page {page}: expected a file, found a directory", err=True)
        raise typer.Exit(2)
    cells = load_cells()
    schemas = snapshot.current_schemas(cells, PACKAGE)
    catalogue = asyncapi.document(cells, PACKAGE, namespace=PACKAGE, title=PACKAGE)
    beside = {
        target / asyncapi.FILENAME: asyncapi.render(catalogue),
        Path(page): asyncapi.render_page(catalogue),
    }
    try:
        written = snapshot.export(schemas, target, beside)
    except OSError as error:
        detail = error.strerror or str(error)
        where = f"--dir {target}: cannot write the snapshot"
        if _within_only(error.filename, Path(page), target):
            where = f"--page {page}: cannot write the page"
        typer.echo(f"error: {where} ({detail})", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"wrote {len(written)} message schemas and {asyncapi.FILENAME} to {target}/, and {page}"
    )


def _within_only(failed: object, page: Path, directory: Path) -> bool:
    """Whether the path an OSError names is the page or a folder only the page is in."""
    if not isinstance(failed, str):
        return False
    path = Path(failed)
    ours = {page, *page.parents} - {directory, *directory.parents}
    staged = path.parent == page.parent and path.name.startswith(f".{page.name}.")
    return path in ours or staged


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
    directory: DirectoryOption = "contracts",
) -> None:
    """Classify every change since the snapshot; exit 1 on a breaking change."""
    source = _directory(directory)
    new = snapshot.current_schemas(load_cells(), PACKAGE)
    try:
        if against is not None:
            old = snapshot.load_revision(against, source.as_posix())
            # A revision without the directory predates the snapshot (nothing to break),
            # but only while it is here now: a mistyped --dir would pass every change.
            if new:
                snapshot.require_directory(source)
        elif not new and not source.exists():
            old = {}  # no message and no snapshot yet: a project without cells
        else:
            old = snapshot.load_directory(source)  # refuses a missing directory
    except snapshot.SnapshotError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
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
