# Owned by the monocell template: `copier update` replaces this file.
"""`serve` (run the gateway) and `gateway hash-key` (make an API key to configure)."""

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from ..logs import configure_logging
from ..metrics_endpoint import serve_metrics
from ..sandbox.placement import preflight
from ..topology import ENV_PATH, TopologyError
from .keys import hash_key, new_key
from .routes import RouteError
from .serve import APP_FACTORY, load_service
from .settings import ENV_PREFIX, SettingsError

app = typer.Typer(
    help="The HTTP gateway: API keys and settings.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [gateway.host].")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port [gateway.port].")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [gateway.workers].")] = None,
    topology: Annotated[Path, typer.Option(help="The topology file.", envvar=ENV_PATH)] = Path(
        "topology.toml"
    ),
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics (one worker process only).",
            min=1,
            max=65535,
        ),
    ] = None,
) -> None:
    """Serve the HTTP gateway with the cells placed in this process."""
    configure_logging()
    # Flags become environment overrides, so every uvicorn worker process sees them.
    flags = {"HOST": host, "PORT": port, "WORKERS": workers}
    overrides = {
        ENV_PREFIX + name: str(value) for name, value in flags.items() if value is not None
    }
    overrides[ENV_PATH] = str(topology)
    try:
        service = load_service(topology, {**os.environ, **overrides})
        # A sandboxed cell this machine cannot isolate enough is refused here, in
        # one line, before anything listens (not as a traceback from the lifespan).
        preflight(service.topology, service.hosted)
    except (TopologyError, SettingsError, RouteError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    os.environ.update(overrides)
    settings = service.settings
    if metrics_port is not None:
        if settings.workers != 1:
            # Each uvicorn worker process keeps its own metrics; one endpoint would lie.
            typer.echo("error: --metrics-port: needs exactly one worker process", err=True)
            raise typer.Exit(2)
        serve_metrics(metrics_port)
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,  # the gateway writes its own audit line per request
        server_header=False,
        log_config=None,
        timeout_graceful_shutdown=int(service.topology.bus.drain_timeout) + 1,
    )


@app.command("hash-key")
def hash_key_command(
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Hash a key read from standard input.")
    ] = False,
) -> None:
    """Print a new random API key and the hash to store in [[gateway.api_keys]]."""
    key = sys.stdin.readline().strip() if stdin else new_key()
    try:
        hashed = hash_key(key)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if not stdin:
        typer.echo(f"key:  {key}    (give this to the caller; it is not stored)")
    typer.echo(f"hash: {hashed}")
