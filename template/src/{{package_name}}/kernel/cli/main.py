# Owned by the monocell template: `copier update` replaces this file.
"""The command-line program: one console script, one subcommand per concern.

Each kernel concern adds its subcommands here (serve, worker, sandbox,
topology, triggers, contracts, cell, nats, docs), so `--help` is the map of what the
service can do. Bad flags exit with status 2 and a usage line (Click's rule).
"""

import platform
from typing import Annotated

import typer

from ... import COMMAND_NAME, PROJECT_NAME, __version__
from ..devtools import gate as gate_steps
from ..runtime.registry import PACKAGE, load_cells
from ..runtime.worker import worker
from . import (
    cells as cells_cli,
)
from . import (
    contracts as contracts_cli,
)
from . import db as db_cli
from . import docs as docs_cli
from . import gateway as gateway_cli
from . import nats as nats_cli
from . import sandbox as sandbox_cli
from . import (
    topology as topology_cli,
)
from . import (
    triggers as triggers_cli,
)

app = typer.Typer(
    name=COMMAND_NAME,
    help=f"{PROJECT_NAME}: command-line program of the service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"{COMMAND_NAME} {__version__}")
        raise typer.Exit


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Run `COMMAND --help` for the subcommands."""


app.add_typer(cells_cli.app, name="cell")
app.add_typer(contracts_cli.app, name="contracts")
app.add_typer(topology_cli.app, name="topology")
app.add_typer(triggers_cli.app, name="triggers")
app.add_typer(db_cli.app, name="db")
app.add_typer(docs_cli.app, name="docs")
app.add_typer(gateway_cli.app, name="gateway")
app.add_typer(sandbox_cli.app, name="sandbox")
app.add_typer(nats_cli.app, name="nats")


@app.command()
def info() -> None:
    """Print what the service is made of: version, Python, cells and their messages."""
    cells = load_cells()
    typer.echo(f"project: {PROJECT_NAME} {__version__}")
    typer.echo(f"python:  {platform.python_version()}")
    typer.echo(f"cells:   {len(cells)}")
    for cell in cells:
        commands = ", ".join(sorted(c.message_type for c in cell.commands)) or "-"
        events = ", ".join(sorted(e.message_type for e in cell.events)) or "-"
        typer.echo(f"  {cell.name} (risk {cell.risk}): {cell.purpose}")
        typer.echo(f"    handles: {commands}")
        typer.echo(f"    consumes: {events}")


@app.command()
def gate(
    skip_tests: Annotated[
        bool, typer.Option("--skip-tests", help="Run every check except the test suite.")
    ] = False,
) -> None:
    """Run every check a change must pass: merges, lint, format, boundaries, types, tests."""
    selected = gate_steps.steps(PACKAGE)
    if skip_tests:
        selected = [step for step in selected if not step.name.startswith("tests")]
    raise typer.Exit(gate_steps.run(selected))


app.command()(worker)
app.command()(gateway_cli.serve)


def main() -> None:
    """Entry point of the console script and of `python -m`."""
    app(prog_name=COMMAND_NAME)
