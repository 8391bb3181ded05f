# Owned by the monocell template: `copier update` replaces this file.
"""`nats provision` and `nats passwords`: what an operator does to a NATS deployment.

`nats provision` creates or updates the events stream, the dead-letter stream and
the durable consumer of every cell's every event subscription (`app.CELLS`), as
`[bus]` in topology.toml describes them. Run it with the `ops` user, before the
processes start and after every change of cells or `[bus]`: `serve` and `worker`
only check the provisioned shape and refuse to start without it. The URL comes
from `--url`, else `<PKG>_NATS_OPS_URL`, else the bus URL (`[bus] url` or
`<PKG>_BUS_URL`). `--dry-run` prints the plan (deploy/nats/jetstream.json) and
connects to nothing.

`nats passwords` prints a new password for each user of the deployment, in the
only alphabet nats-server reads back unchanged; `--check` checks the ones in
the environment instead.
"""

import asyncio
import os
import re
from pathlib import Path
from typing import Annotated

import msgspec
import typer

from ..bus import jetstream
from ..bus.nats_tls import TlsSettingsError, client_context
from ..config.topology import (
    ENV_PATH,
    NATS_URL,
    nats_url_problem,
    redact_url,
)
from ..core.errors import UnavailableError
from ..ops import nats_auth
from ..ops.deploy import ops_url_variable
from ..runtime.registry import PACKAGE
from .topology import load_registry

app = typer.Typer(help="Provision NATS JetStream and its users' passwords.", no_args_is_help=True)

TopologyOption = Annotated[Path, typer.Option(help="The topology file.", envvar=ENV_PATH)]
OPS_URL = ops_url_variable(PACKAGE)


@app.command()
def provision(
    topology: TopologyOption = Path("topology.toml"),
    url: Annotated[
        str | None,
        typer.Option(
            help="NATS URL with the ops user's credentials (default: the bus URL).",
            envvar=OPS_URL,
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan as JSON; connect to nothing.")
    ] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete consumers no cell consumes through any more.")
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            help="Seconds to wait for the server, per connection attempt and per request.",
            min=0.1,
            max=60,
        ),
    ] = 5.0,
) -> None:
    """Create or update the streams and every cell's durable consumers on NATS."""
    settings, cells = load_registry(topology)
    plan = jetstream.plan_for(PACKAGE, settings.bus, cells)
    if dry_run:
        typer.echo(plan.as_json(), nl=False)
        return
    target = url if url is not None else settings.bus.url
    if not re.match(NATS_URL, target):
        origin = OPS_URL if os.environ.get(OPS_URL) == url else "--url"
        typer.echo(
            f"error: {origin}: expected a URL like nats://ops:PASSWORD@host:4222, "
            f"got {redact_url(target)!r}",
            err=True,
        )
        raise typer.Exit(2)
    problem = nats_url_problem(target)
    if problem is not None:
        origin = "--url" if url is not None else "bus.url"
        origin = OPS_URL if url is not None and os.environ.get(OPS_URL) == url else origin
        typer.echo(f"error: {origin}: {problem}", err=True)
        raise typer.Exit(2)
    try:
        tls = client_context(msgspec.structs.replace(settings.bus, url=target))
    except TlsSettingsError as error:
        typer.echo(f"error: {error.detail}", err=True)
        raise typer.Exit(2) from None
    try:
        lines = asyncio.run(
            jetstream.provision(target, plan, prune=prune, timeout=timeout, tls=tls)
        )
    except UnavailableError as error:
        typer.echo(f"error: {error.detail}", err=True)
        raise typer.Exit(1) from None
    for line in lines:
        typer.echo(line)
    typer.echo(f"provisioned {redact_url(target)}")


@app.command()
def passwords(
    topology: TopologyOption = Path("topology.toml"),
    check: Annotated[
        bool,
        typer.Option("--check", help="Check the passwords in the environment instead."),
    ] = False,
) -> None:
    """Print a new password per NATS user (lines for an env file), or check the current ones."""
    settings, cells = load_registry(topology)
    found = nats_auth.accounts(settings, cells, PACKAGE)
    if check:
        problems = nats_auth.password_problems(found, PACKAGE, os.environ)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            typer.echo(f"error: {problems[0]}{more}", err=True)
            raise typer.Exit(2)
        typer.echo(f"{len(found)} password(s) fit nats-server.conf")
        return
    for account in found:
        typer.echo(f"{account.password_variable(PACKAGE)}={nats_auth.new_password()}")
