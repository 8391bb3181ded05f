# Owned by the monocell template: `copier update` replaces this file.
"""`topology show` and `topology diagram`: the running registry, in text and as a diagram."""

from pathlib import Path
from typing import Annotated

import typer

from .. import DIST_NAME
from . import deploy, diagram, nats_auth
from .cell import Cell
from .registry import PACKAGE, load_cells
from .topology import ENV_PATH, Topology, TopologyError, check_cells, load_topology

app = typer.Typer(help="Where cells run and what flows between them.", no_args_is_help=True)

TopologyOption = Annotated[Path, typer.Option(help="The topology file.", envvar=ENV_PATH)]


def _registry(topology: Path) -> tuple[Topology, tuple[Cell, ...]]:
    try:
        settings = load_topology(topology)
        cells = load_cells()
        check_cells(settings, (cell.name for cell in cells))
    except TopologyError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    return settings, cells


def _views(topology: Path) -> list[diagram.CellView]:
    settings, cells = _registry(topology)
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


@app.command("deploy")
def write_deploy(
    directory: Annotated[Path, typer.Option(help="Where the deployment files live.")] = Path(
        "deploy"
    ),
    topology: TopologyOption = Path("topology.toml"),
) -> None:
    """Write NATS config, compose file and Kubernetes manifests for the current placements."""
    settings, cells = _registry(topology)
    files = deploy.deployment_files(settings, cells, PACKAGE, DIST_NAME)
    for relative, text in files.items():
        path = directory / relative
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {path}")
    for stale in sorted((directory / "k8s").glob("*.yaml")):
        if f"k8s/{stale.name}" not in files and deploy.HEADER in stale.read_text(encoding="utf-8"):
            stale.unlink()
            typer.echo(f"removed {stale} (no such process any more)")
    for account in nats_auth.accounts(settings, cells, PACKAGE):
        typer.echo(f"{account.user}: password from ${account.password_variable(PACKAGE)}")
