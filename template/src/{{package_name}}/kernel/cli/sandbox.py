# Owned by the monocell template: `copier update` replaces this file.
"""The `sandbox` subcommands: `sandbox probe` prints the level this machine reaches."""

import asyncio
from typing import Annotated

import typer

from ..config.sandbox_policy import LEVELS, level_name
from ..sandbox.probe import probe

app = typer.Typer(
    help="The sandbox that runs high-risk cells.", no_args_is_help=True, rich_markup_mode=None
)


@app.command("probe")
def probe_command(
    require: Annotated[
        int | None,
        typer.Option(
            min=0, max=max(LEVELS), help="Exit 1 when the level reached is below this one."
        ),
    ] = None,
) -> None:
    """Start a restricted worker; print the level it reached and each layer's state."""
    report = asyncio.run(probe())
    for line in report.lines():
        typer.echo(line)
    if require is not None and report.level < require:
        typer.echo(
            f"error: sandbox level {level_name(report.level)} is below the required "
            f"{level_name(require)}",
            err=True,
        )
        raise typer.Exit(1)
