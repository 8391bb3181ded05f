# Owned by the monocell template: `copier update` replaces this file.
"""`serve` (run the gateway) and `gateway hash-key` (make an API key to configure)."""

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from ..config.gateway_settings import ENV_PREFIX, SettingsError
from ..config.topology import ENV_PATH, Topology, TopologyError
from ..core.cell import Cell
from ..core.errors import UnavailableError
from ..gateway.keys import hash_key, new_key
from ..gateway.routes import RouteError
from ..runtime.composition import build_transport, check_storage
from ..runtime.listening import listen_problem
from ..runtime.logs import LogLevelError, configure_logging
from ..runtime.metrics_endpoint import serve_metrics
from ..runtime.serve import APP_FACTORY, load_service, uvicorn_options
from ..sandbox.placement import preflight
from ..storage import StorageError

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
    try:
        configure_logging()
    except LogLevelError as error:  # <PKG>_LOG_LEVEL=LOUD
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if host is not None and not host.strip():  # as a variable, empty means unset: not here
        typer.echo(f"error: --host: expected an address to bind, got {host!r}", err=True)
        raise typer.Exit(2)
    # Flags become environment overrides, so every uvicorn worker process sees them;
    # a bad one is still reported under the flag's name.
    flags = {"--host": ("HOST", host), "--port": ("PORT", port), "--workers": ("WORKERS", workers)}
    names = {ENV_PREFIX + key: flag for flag, (key, value) in flags.items() if value is not None}
    overrides = {ENV_PREFIX + key: str(value) for key, value in flags.values() if value is not None}
    overrides[ENV_PATH] = str(topology)
    try:
        service = load_service(topology, {**os.environ, **overrides}, names)
        # A sandboxed cell this machine cannot isolate enough is refused here, in
        # one line, before anything listens (not as a traceback from the lifespan).
        preflight(service.topology, service.hosted)
    except (TopologyError, SettingsError, RouteError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    settings = service.settings

    def origin(key: str) -> str:
        """Where the value of `gateway.<key>` came from, for messages."""
        variable = ENV_PREFIX + key.upper()
        return names.get(variable) or (
            variable if variable in os.environ else f"{topology}: gateway.{key}"
        )

    if metrics_port is not None:
        if settings.workers != 1:
            # Each uvicorn worker process keeps its own metrics; one endpoint would lie.
            typer.echo("error: --metrics-port: needs exactly one worker process", err=True)
            raise typer.Exit(2)
        if metrics_port == settings.port:
            typer.echo(
                f"error: --metrics-port: {metrics_port} is also the gateway's port "
                f"({origin('port')}); choose another",
                err=True,
            )
            raise typer.Exit(2)
    problem = listen_problem(settings.host, settings.port, origin("host"), origin("port"))
    if problem is not None:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2)
    try:
        asyncio.run(check_storage(service.topology, service.hosted))
        asyncio.run(_check_bus(service.topology, service.hosted))
    except UnavailableError as error:  # NATS unreachable: say so in one line, as `worker` does
        typer.echo(f"error: {error.detail}", err=True)
        raise typer.Exit(1) from None
    except (StorageError, TopologyError) as error:  # a database unreachable or behind
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    os.environ.update(overrides)
    if metrics_port is not None:
        serve_metrics(metrics_port)
    # uvicorn drains on SIGTERM/SIGINT, then raises the signal again for the handler it
    # found: with Python's defaults a clean drain would end as 143 (or a KeyboardInterrupt).
    # A clean shutdown exits 0, as `worker` does.
    found = {sig: signal.signal(sig, _exit_cleanly) for sig in (signal.SIGTERM, signal.SIGINT)}
    # A closed terminal or ssh session (SIGHUP) stops it as SIGTERM does, draining, where
    # Python's default would kill it mid-request. (`--workers 2`: uvicorn's own SIGHUP.)
    found[signal.SIGHUP] = signal.signal(signal.SIGHUP, _stop_as_on_sigterm)
    try:
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            **uvicorn_options(settings, service.topology.bus.drain_timeout),
        )
    finally:
        for sig, handler in found.items():
            signal.signal(sig, handler)


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _stop_as_on_sigterm(signum: int, frame: object) -> None:
    os.kill(os.getpid(), signal.SIGTERM)


async def _check_bus(topology: Topology, hosted: tuple[Cell, ...]) -> None:
    """Connect to the bus once and let go: unreachable NATS, or streams and consumers
    that are not provisioned, raise `UnavailableError` here."""
    transport = build_transport(topology, hosted)
    await transport.start()
    await transport.close(drain_timeout=0)


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
