# Owned by the monocell template: `copier update` replaces this file.
"""`triggers check`: measured need against thresholds; exit 1 when a trigger fires."""

from pathlib import Path
from typing import Annotated

import tomlkit
import typer

from .. import COMMAND_NAME
from . import triggers
from .registry import load_cells
from .topology import ENV_PATH, TopologyError, check_cells, load_topology

app = typer.Typer(help="Decide placement from measurements.", no_args_is_help=True)


@app.command()
def check(
    metrics_url: Annotated[
        str | None, typer.Option(help="Read live metrics, e.g. http://127.0.0.1:9464/metrics.")
    ] = None,
    snapshot: Annotated[
        Path | None, typer.Option(help="Read metrics saved earlier with --save.", dir_okay=False)
    ] = None,
    save: Annotated[
        Path | None, typer.Option(help="Also save the metrics read, for later runs.")
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Write the recommended placements to topology.toml.")
    ] = False,
    topology: Annotated[Path, typer.Option(help="The topology file.", envvar=ENV_PATH)] = Path(
        "topology.toml"
    ),
) -> None:
    """Print each trigger, its threshold, the measured value, and what to do when one fires."""
    if (metrics_url is None) == (snapshot is None):
        typer.echo("error: give exactly one of --metrics-url or --snapshot", err=True)
        raise typer.Exit(2)
    try:
        settings = load_topology(topology)
        cells = load_cells()
        check_cells(settings, (cell.name for cell in cells))
        if snapshot is not None:
            try:
                text = snapshot.read_text(encoding="utf-8")
            except OSError as error:
                raise triggers.MetricsError(
                    f"--snapshot: cannot read {snapshot} ({error.strerror})"
                ) from None
        else:
            text = triggers.fetch(str(metrics_url))
        data = triggers.parse(text)
    except (TopologyError, triggers.MetricsError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if save is not None:
        save.write_text(text, encoding="utf-8")
    verdicts, recommendations = triggers.evaluate(settings, cells, data)
    typer.echo(triggers.render(verdicts), nl=False)
    if not any(verdict.fired for verdict in verdicts):
        typer.echo("no trigger fired: keep the current placements")
        return
    for r in recommendations:
        typer.echo(f"recommend: {r.cell}: {r.current} -> {r.recommended} ({r.because})")
    if apply:
        apply_placements(topology, recommendations)
    elif recommendations:
        source = f"--snapshot {snapshot}" if snapshot else f"--metrics-url {metrics_url}"
        typer.echo(f"apply with: {COMMAND_NAME} triggers check {source} --apply")
    raise typer.Exit(1)


def apply_placements(path: Path, recommendations: list[triggers.Recommendation]) -> None:
    """Edit topology.toml in place with tomlkit, keeping its comments and layout."""
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    cells = document.setdefault("cells", tomlkit.table(is_super_table=True))
    for r in recommendations:
        table = cells.setdefault(r.cell, tomlkit.table())
        table["placement"] = r.recommended
        typer.echo(f"applied: cells.{r.cell}.placement = {r.recommended!r}")
    if any(r.recommended == "remote" for r in recommendations):
        bus = document.setdefault("bus", tomlkit.table())
        if bus.get("transport") != "nats":
            bus["transport"] = "nats"
            typer.echo('applied: bus.transport = "nats" (remote cells talk over NATS)')
    path.write_text(tomlkit.dumps(document), encoding="utf-8")
