# Owned by the monocell template: `copier update` replaces this file.
"""`cell new`, `cell list`, `cell check`: cells as the unit of change.

`cell record`, `replay`, `regenerated` and `context` (a cell from its spec) are in
`cell_specs`.
"""

import subprocess
import sys
from pathlib import Path
from typing import Annotated, get_args

import typer

from ... import COMMAND_NAME
from ..config.topology import Placement, TopologyError, load_topology
from ..core.cell import Risk
from ..core.message_names import misnamed_messages
from ..devtools import budget, provenance, scaffold
from ..runtime.registry import PACKAGE, load_cells
from . import cell_specs
from .dev_only import require_development_libraries

app = typer.Typer(help="Add, list and check cells.", no_args_is_help=True)

PLACEMENTS: tuple[str, ...] = get_args(Placement)


def _project() -> scaffold.Project:
    root = Path.cwd()
    if not (root / "src" / PACKAGE / "app.py").is_file():
        typer.echo(
            f"error: run this from the project root (src/{PACKAGE}/app.py not found)", err=True
        )
        raise typer.Exit(2)
    return scaffold.Project(root=root, package=PACKAGE, command_name=COMMAND_NAME)


def _ask(
    name: str | None, purpose: str | None, risk: Risk | None, placement: str | None
) -> scaffold.Request:
    """Fill the missing answers with questionary prompts (a terminal is attached)."""
    import questionary  # imported here: only the interactive path needs it

    project = _project()

    def valid_name(value: str) -> bool | str:
        try:
            scaffold.check_name(project, value)
        except scaffold.ScaffoldError as error:
            return str(error)
        return True

    def valid_purpose(value: str) -> bool | str:
        try:
            scaffold.check_purpose(value)
        except scaffold.ScaffoldError as error:
            return str(error)
        return True

    name = (
        name
        or questionary.text(
            "Cell name (lowercase identifier, e.g. billing):", validate=valid_name
        ).unsafe_ask()
    )
    purpose = (
        purpose or questionary.text("Purpose, in one line:", validate=valid_purpose).unsafe_ask()
    )
    if risk is None:
        risk = Risk(
            questionary.select(
                "Risk (high: parses untrusted input, runs user code, calls fragile native code):",
                choices=[r.value for r in Risk],
            ).unsafe_ask()
        )
    if placement is None:
        placement = questionary.select(
            "Placement (where it runs; topology.toml can change it later):",
            choices=list(PLACEMENTS),
            default="sandbox" if risk is Risk.HIGH and "sandbox" in PLACEMENTS else "inprocess",
        ).unsafe_ask()
    return scaffold.Request(name=name, purpose=purpose, risk=risk, placement=placement)


@app.command()
def new(
    name: Annotated[str | None, typer.Argument(help="Cell name: a lowercase identifier.")] = None,
    purpose: Annotated[str | None, typer.Option(help="What the cell is for, in one line.")] = None,
    risk: Annotated[Risk | None, typer.Option(help="low, or high for risky work.")] = None,
    placement: Annotated[
        str | None, typer.Option(help=f"Where it runs: {', '.join(PLACEMENTS)}.")
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not prompt; use flags and defaults.")
    ] = False,
) -> None:
    """Create a working cell, with tests, registered in app.py, topology.toml and contracts/."""
    require_development_libraries("cell new")
    project = _project()
    interactive = not yes and sys.stdin.isatty() and sys.stdout.isatty()
    try:
        if interactive:
            request = _ask(name, purpose, risk, placement)
        else:
            if name is None or purpose is None:
                raise scaffold.ScaffoldError(
                    "cell new: NAME and --purpose are required without a terminal (or use prompts)"
                )
            request = scaffold.Request(
                name=name,
                purpose=purpose,
                risk=risk or Risk.LOW,
                # A high-risk cell starts in the sandbox (serve refuses it in-process).
                placement=placement or ("sandbox" if risk is Risk.HIGH else "inprocess"),
            )
        topology = project.root / "topology.toml"
        transport = load_topology(topology).bus.transport if topology.exists() else "memory"
        if request.placement == "remote" and transport != "nats":
            raise scaffold.ScaffoldError(
                "placement: 'remote' needs [bus] transport = \"nats\" in topology.toml"
            )
        result = scaffold.plan(project, request, PLACEMENTS)
        created = scaffold.apply(project, request, result)
    except (scaffold.ScaffoldError, TopologyError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    except scaffold.ApplyError as error:  # a file could not be written: rolled back
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    except OSError as error:  # app.py or topology.toml could not be read
        name = error.filename or "a project file"
        typer.echo(f"error: cell new: cannot read {name} ({error.strerror or error})", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("cell new: interrupted; nothing was written", err=True)
        raise typer.Exit(130) from None
    relative = created.relative_to(project.root)
    typer.echo(f"created {relative}/ (placement {request.placement}, risk {request.risk})")
    typer.echo(f"registered in src/{PACKAGE}/app.py, topology.toml and contracts/")
    # A fresh interpreter sees the new cell; the generated docs and deployment follow
    # it, its examples are recorded and its code recorded as produced by `cell new`.
    # One that fails is named with its reason; the others still run.
    failed = 0
    for arguments in (
        ["contracts", "export"],  # the AsyncAPI document and docs/messages.md list it too
        ["topology", "diagram"],
        ["topology", "deploy"],
        ["cell", "record", request.name],
        ["cell", "regenerated", request.name, "--model", "cell-new", "--instructions", "skeleton"],
    ):
        done = subprocess.run(  # noqa: S603 -- this program, with fixed arguments
            [sys.executable, "-m", PACKAGE, *arguments],
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            failed += 1
            lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
            reason = lines[-1].removeprefix("error: ") if lines else f"status {done.returncode}"
            typer.echo(
                f"error: cell new: `uv run {COMMAND_NAME} {' '.join(arguments)}` failed "
                f"({reason}); run it again once that is fixed",
                err=True,
            )
    if failed:
        raise typer.Exit(1)
    typer.echo(
        f"next: edit {relative}/contracts.py and handlers.py, then `uv run {COMMAND_NAME} gate`"
    )


@app.command("list")
def list_cells() -> None:
    """Show every cell: placement, risk, public commands, size."""
    project = _project()
    try:
        topology = load_topology(project.root / "topology.toml")
    except TopologyError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{'cell':<16} {'placement':<10} {'risk':<5} {'tokens':>7}  public commands")
    for cell in load_cells():
        report = budget.measure(project.root, PACKAGE, cell.name)
        public = ", ".join(f"{r.method} {r.path}" for r in cell.public) or "-"
        typer.echo(
            f"{cell.name:<16} {topology.placement_of(cell.name):<10} {cell.risk.value:<5} "
            f"{report.tokens:>7}  {public}"
        )


@app.command()
def check() -> None:
    """Fail on a cell over budget, reaching into another cell, misnaming a message, or whose
    spec or code changed since its regeneration record."""
    project = _project()
    try:
        limit = budget.read_budget(project.root / "pyproject.toml")
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    problems: list[str] = []
    for cell in load_cells():
        report = budget.measure(project.root, PACKAGE, cell.name)
        uses = ", ".join(report.uses_contracts_of) or "none"
        typer.echo(
            f"{cell.name}: ~{report.tokens} tokens in {report.files} files "
            f"(budget {limit}); uses contracts of: {uses}"
        )
        if report.tokens > limit:
            problems.append(
                f"{cell.name}: ~{report.tokens} tokens is over the budget of {limit}; "
                "split the cell or move code out"
            )
        problems += [f"{cell.name}: {line}" for line in report.boundary_breaks]
        cell_package = f"{PACKAGE}.cells.{cell.name}"
        problems += [f"{cell.name}: {line}" for line in misnamed_messages(cell, cell_package)]
        directory = project.source / "cells" / cell.name
        if not provenance.governed(directory):
            typer.echo(
                f"{cell.name}: no SPEC.md, examples.toml or regeneration.toml yet: not held "
                f"to a spec (write them, `uv run {COMMAND_NAME} cell record {cell.name}`, then "
                f"`uv run {COMMAND_NAME} cell regenerated {cell.name} --model human`)"
            )
        problems += [
            f"{cell.name}: {line}"
            for line in provenance.problems(directory, cell.name, PACKAGE, COMMAND_NAME)
        ]
    for problem in problems:
        typer.echo(f"FAIL {problem}", err=True)
    if problems:
        raise typer.Exit(1)


app.command()(cell_specs.record)
app.command()(cell_specs.replay)
app.command()(cell_specs.regenerated)
app.command()(cell_specs.context)
