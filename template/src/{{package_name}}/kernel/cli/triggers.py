# Owned by the monocell template: `copier update` replaces this file.
"""`triggers check`: measured need against thresholds; exit 1 when a trigger fires
(0 once `--apply` has written the placements it recommends)."""

import shlex
from pathlib import Path
from typing import Annotated

import typer

from ... import COMMAND_NAME
from ..config.topology import (
    ENV_PATH,
    TopologyError,
    check_cells,
    load_topology,
)
from ..ops import files, triggers
from ..runtime.registry import load_cells
from .dev_only import require_development_libraries

app = typer.Typer(help="Decide placement from measurements.", no_args_is_help=True)
DEFAULT_TOPOLOGY = Path("topology.toml")


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
    topology: Annotated[
        Path, typer.Option(help="The topology file.", envvar=ENV_PATH)
    ] = DEFAULT_TOPOLOGY,
) -> None:
    """Print each trigger, its threshold, the measured value, and what to do when one fires."""
    if (metrics_url is None) == (snapshot is None):
        typer.echo("error: give exactly one of --metrics-url or --snapshot", err=True)
        raise typer.Exit(2)
    if apply:
        require_development_libraries("triggers check --apply")
    try:
        settings = load_topology(topology)
        cells = load_cells()
        check_cells(settings, (cell.name for cell in cells), str(topology))
        if snapshot is not None:
            try:
                text = snapshot.read_text(encoding="utf-8")
            except OSError as error:
                raise triggers.MetricsError(
                    f"--snapshot: cannot read {snapshot} ({error.strerror})"
                ) from None
            except UnicodeDecodeError:
                raise triggers.MetricsError(
                    f"--snapshot: {snapshot} is not UTF-8 text (expected a file saved by --save)"
                ) from None
            triggers.require_bus_metrics(text, f"in {snapshot} (expected a file saved by --save)")
        else:
            text = triggers.fetch(str(metrics_url))
        data = triggers.parse(text)
    except (TopologyError, triggers.MetricsError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if save is not None:
        try:
            files.write_text(save, text)
        except OSError as error:
            typer.echo(f"error: --save: cannot write {save} ({error})", err=True)
            raise typer.Exit(2) from None
    verdicts, recommendations = triggers.evaluate(settings, cells, data)
    typer.echo(triggers.render(verdicts), nl=False)
    if not any(verdict.fired for verdict in verdicts):
        typer.echo("no trigger fired: keep the current placements")
        return
    for r in recommendations:
        typer.echo(f"recommend: {r.cell}: {r.current} -> {r.recommended} ({r.because})")
    if apply and recommendations:
        try:
            apply_placements(topology, recommendations)
        except (OSError, UnicodeDecodeError) as error:
            typer.echo(f"error: --apply: cannot rewrite {topology} ({error})", err=True)
            raise typer.Exit(2) from None
        return  # done what the triggers asked for: exit 0
    if recommendations:
        # The same check, to paste: the same source and the same topology file.
        words = ["--snapshot", str(snapshot)] if snapshot else ["--metrics-url", str(metrics_url)]
        if topology != DEFAULT_TOPOLOGY:
            words += ["--topology", str(topology)]
        again = shlex.join(["uv", "run", COMMAND_NAME, "triggers", "check", *words, "--apply"])
        typer.echo(f"apply with: {again}")
    raise typer.Exit(1)


def apply_placements(path: Path, recommendations: list[triggers.Recommendation]) -> None:
    """Edit topology.toml in place with tomlkit, keeping its comments and layout.

    Raises OSError when the file cannot be read or rewritten; "applied" is printed only
    once the new file is in place, so a failed write claims no change.
    """
    import tomlkit  # a development dependency: imported where used, see cli/dev_only.py

    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    cells = document.setdefault("cells", tomlkit.table(is_super_table=True))
    changes: list[str] = []
    for r in recommendations:
        table = cells.setdefault(r.cell, tomlkit.table())
        table["placement"] = r.recommended
        changes.append(f"cells.{r.cell}.placement = {r.recommended!r}")
    if any(r.recommended == "remote" for r in recommendations):
        bus = document.setdefault("bus", tomlkit.table())
        if bus.get("transport") != "nats":
            bus["transport"] = "nats"
            changes.append('bus.transport = "nats" (remote cells talk over NATS)')
    files.write_text(path, tomlkit.dumps(document))
    for change in changes:
        typer.echo(f"applied: {change}")
