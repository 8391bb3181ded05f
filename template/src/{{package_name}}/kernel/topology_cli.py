# Owned by the monocell template: `copier update` replaces this file.
"""`topology show` and `topology diagram`: the running registry, in text and as a diagram."""

from pathlib import Path
from typing import Annotated

import typer

from . import diagram, nats_auth
from .registry import PACKAGE, load_cells
from .topology import ENV_PATH, TopologyError, check_cells, load_topology

app = typer.Typer(help="Where cells run and what flows between them.", no_args_is_help=True)

TopologyOption = Annotated[Path, typer.Option(help="The topology file.", envvar=ENV_PATH)]


def _views(topology: Path) -> list[diagram.CellView]:
    try:
        settings = load_topology(topology)
        cells = load_cells()
        check_cells(settings, (cell.name for cell in cells))
    except TopologyError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    placements = {cell.name: settings.placement_of(cell.name) for cell in cells}
    return diagram.describe(cells, placements)


@app.command()
def show(topology: TopologyOption = Path("topology.toml")) -> None:
    """Print each cell, where it runs and the messages it handles, consumes and publishes."""
    typer.echo(diagram.render_table(_views(topology)), nl=False)


@app.command("diagram")
def write_diagram(
    output: Annotated[Path, typer.Option(help="The page to write.")] = Path("docs/topology.md"),
    topology: TopologyOption = Path("topology.toml"),
) -> None:
    """Write the Mermaid diagram of the cells into the docs (docs/topology.md)."""
    page = diagram.render_page(_views(topology))
    if output.exists() and output.read_text(encoding="utf-8") == page:
        typer.echo(f"{output} is up to date")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    typer.echo(f"wrote {output}")


@app.command("nats-config")
def nats_config(
    output: Annotated[Path, typer.Option(help="Where to write the server configuration.")] = Path(
        "deploy/nats/nats-server.conf"
    ),
    topology: TopologyOption = Path("topology.toml"),
) -> None:
    """Write a nats-server configuration with one least-privilege user per process."""
    try:
        settings = load_topology(topology)
        cells = load_cells()
        check_cells(settings, (cell.name for cell in cells))
    except TopologyError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    found = nats_auth.accounts(settings, cells, PACKAGE)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(nats_auth.server_config(found, PACKAGE), encoding="utf-8")
    typer.echo(f"wrote {output} with users: {', '.join(a.user for a in found)}")
    for account in found:
        typer.echo(f"  {account.user}: password from ${account.password_variable(PACKAGE)}")
