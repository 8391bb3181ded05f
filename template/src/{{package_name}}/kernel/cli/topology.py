# Owned by the monocell template: `copier update` replaces this file.
"""`topology show`, `diagram` and `deploy`: the registry as text, a diagram, deployment files."""

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from ... import COMMAND_NAME, DIST_NAME
from ..bus.nats_tls import TlsSettingsError
from ..config.gateway_settings import SettingsError, load_gateway_settings
from ..config.topology import (
    ENV_PATH,
    Topology,
    TopologyError,
    check_cells,
    load_topology,
)
from ..core.cell import Cell
from ..devtools.checks import project_root
from ..gateway.routes import RouteError
from ..ops import (
    deploy,
    deploy_tls,
    diagram,
    files,
    nats_auth,
)
from ..ops.postgres_roles import RoleNameError
from ..runtime.registry import PACKAGE, load_cells
from ..runtime.serve import load_service

app = typer.Typer(help="Where cells run and what flows between them.", no_args_is_help=True)

TopologyOption = Annotated[Path, typer.Option(help="The topology file.", envvar=ENV_PATH)]


def load_registry(topology: Path) -> tuple[Topology, tuple[Cell, ...]]:
    """The topology file and the cells of `app.CELLS`, checked together; exit 2 in one line.

    The whole file is checked, [gateway] too, so deployment files are never written
    from a file `serve` refuses; but for [gateway.jwt], whose key is a secret that
    only the service's environment holds, and the environment's overrides, which are
    `serve`'s to check where it runs.
    """
    try:
        settings = load_topology(topology)
        gateway = {key: value for key, value in settings.gateway.items() if key != "jwt"}
        load_gateway_settings(gateway, source=str(topology), environ={})
        cells = load_cells()
        check_cells(settings, (cell.name for cell in cells), str(topology))
    except (TopologyError, SettingsError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    return settings, cells


def _views(topology: Path) -> list[diagram.CellView]:
    settings, cells = load_registry(topology)
    placements = {cell.name: settings.placement_of(cell.name) for cell in cells}
    return diagram.describe(cells, placements)


@app.command()
def show(topology: TopologyOption = Path("topology.toml")) -> None:
    """Print each cell, where it runs and the messages it handles, consumes and publishes.

    The file is checked as `serve` reads it, [gateway] and the environment's
    overrides included: what `show` accepts, `serve` does not refuse for it.
    """
    views = _views(topology)
    try:
        load_service(topology, os.environ)
    except (TopologyError, SettingsError, RouteError) as error:
        _fail(str(error))
    typer.echo(diagram.render_table(views), nl=False)


@app.command("diagram")
def write_diagram(
    output: Annotated[Path, typer.Option(help="The page to write.")] = Path("docs/topology.md"),
    topology: TopologyOption = Path("topology.toml"),
) -> None:
    """Write the Mermaid diagram of the cells into the docs (docs/topology.md)."""
    page = diagram.render_page(_views(topology))
    try:
        existing = _current(output, "--output")
        if existing == page:
            typer.echo(f"{output} is up to date")
            return
        if existing is not None and diagram.GENERATED_MARK not in existing:
            _fail(f"--output: {output} was not written by `topology diagram`; pick another page")
        files.write_text(output, page)
    except OSError as error:
        _fail(f"--output: cannot write {output} ({error})")
    typer.echo(f"wrote {output}")


@app.command("deploy")
def write_deploy(
    directory: Annotated[Path, typer.Option(help="Where the deployment files live.")] = Path(
        "deploy"
    ),
    topology: TopologyOption = Path("topology.toml"),
) -> None:
    """Write NATS config and plan, compose file and Kubernetes manifests for the placements."""
    # The project the command runs in builds the image, not the folder of the topology
    # file (`--topology` may name a copy kept anywhere).
    project_folder = project_root(Path.cwd())
    if directory.resolve() == project_folder.resolve():
        _fail(
            f"--directory: {directory} is the project folder itself; give the deployment "
            "files a folder of their own (deploy by default)"
        )
    settings, cells = load_registry(topology)
    try:
        generated = deploy.deployment_files(
            settings, cells, PACKAGE, DIST_NAME, directory, project_folder
        )
        tls = deploy_tls.deploy_tls(settings.bus, directory)
    except TlsSettingsError as error:
        _fail(error.detail)
    except (RoleNameError, deploy.DeployNameError) as error:
        _fail(str(error))
    try:
        changed = {
            directory / relative: text
            for relative, text in generated.items()
            if _current(directory / relative, "--directory") != text
        }
        files.write_files(changed)  # all or none: never half a deployment
        for path in changed:
            typer.echo(f"wrote {path}")
        for stale in sorted((directory / "k8s").glob("*.yaml")):
            if f"k8s/{stale.name}" not in generated and _generated_by_us(stale):
                stale.unlink()
                typer.echo(f"removed {stale} (no such process any more)")
    except OSError as error:
        _fail(f"--directory: cannot write {directory} ({error})")
    for account in nats_auth.accounts(settings, cells, PACKAGE):
        typer.echo(f"{account.user}: password from ${account.password_variable(PACKAGE)}")
    typer.echo(
        f"new passwords: `uv run {COMMAND_NAME} nats passwords`; then, with the ops user: "
        f"`uv run {COMMAND_NAME} nats provision`"
    )
    for line in tls.instructions(DIST_NAME, directory) if tls else ():
        typer.echo(line)


def _current(path: Path, flag: str) -> str | None:
    """What `path` holds (None when absent); raises OSError when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8") if path.exists() else None
    except UnicodeDecodeError:
        _fail(f"{flag}: {path} is not UTF-8 text (not a generated file?): move it aside")


def _generated_by_us(path: Path) -> bool:
    """Whether a k8s manifest was written by `topology deploy` (so it may be removed)."""
    if not path.is_file():
        return False
    try:
        return deploy.HEADER in path.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # not ours: we only write UTF-8
        return False


def _fail(message: str) -> NoReturn:
    """Report a file that cannot be written in one line; exit 2 like other bad input."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
