# Owned by the monocell template: `copier update` replaces this file.
"""The `worker` subcommand: run some cells in their own process, over NATS.

`worker` hosts the cells placed `remote` in topology.toml, or the cells named on
its command line. It prints one `ready` line when its cells are registered, and
on SIGTERM, SIGINT or SIGHUP stops taking messages, finishes what it holds and
exits 0.
It runs on uvloop where that is installed, as `serve` does. With
`--health-port` it answers `/healthz` and `/readyz` for probes
(`health_endpoint`).
"""

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from ..config.topology import (
    ENV_PATH,
    Topology,
    TopologyError,
    load_topology,
    redact_url,
)
from ..core.cell import Cell
from ..core.errors import UnavailableError
from ..gateway.health import Readiness
from ..sandbox.placement import preflight
from ..storage import StorageError
from .composition import READINESS, hosted_cells, running
from .health_endpoint import listen, serving_health
from .logs import LogLevelError, configure_logging
from .metrics_endpoint import serve_metrics
from .registry import load_cells

logger = logging.getLogger(__name__)
HEALTH_HOST = "127.0.0.1"


def worker(
    cells: Annotated[
        list[str] | None,
        typer.Argument(help="Cells to run (default: those placed 'remote').", show_default=False),
    ] = None,
    topology: Annotated[Path, typer.Option(help="The topology file.", envvar=ENV_PATH)] = Path(
        "topology.toml"
    ),
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics (for `triggers check`).",
            min=1,
            max=65535,
        ),
    ] = None,
    health_port: Annotated[
        int | None,
        typer.Option(
            help="Answer probes on HOST:PORT/healthz and /readyz (see --health-host).",
            min=1,
            max=65535,
        ),
    ] = None,
    health_host: Annotated[
        str, typer.Option(help="The address --health-port listens on.")
    ] = HEALTH_HOST,
) -> None:
    """Run cells in this process, connected to the others over NATS."""
    try:
        configure_logging()
    except LogLevelError as error:  # <PKG>_LOG_LEVEL=LOUD
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if health_port is None and health_host != HEALTH_HOST:  # given, and it would do nothing
        typer.echo("error: --health-host: needs --health-port", err=True)
        raise typer.Exit(2)
    if metrics_port is not None and metrics_port == health_port:  # else "already in use"
        typer.echo(
            f"error: --metrics-port: {metrics_port} is also --health-port; give each its own",
            err=True,
        )
        raise typer.Exit(2)
    health = listen(health_host, health_port) if health_port is not None else None
    try:
        settings = load_topology(topology)
        hosted = hosted_cells(
            settings, load_cells(), role="worker", names=cells or (), source=str(topology)
        )
        preflight(settings, hosted)  # a sandboxed cell below its minimum level: refused here
    except TopologyError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if metrics_port is not None:
        serve_metrics(metrics_port)
    try:
        run_loop(serve_until_stopped(settings, hosted, health))
    except UnavailableError as error:  # NATS unreachable: say so in one line
        typer.echo(f"error: {error.detail}", err=True)
        raise typer.Exit(1) from None
    except StorageError as error:  # a database unreachable, or migrations pending
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop, or on asyncio's own loop where uvloop is not installed
    (it is not on Windows): the NATS path is faster on it (see CHANGELOG)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


async def serve_until_stopped(
    settings: Topology, hosted: tuple[Cell, ...], health: socket.socket | None = None
) -> None:
    """Run `hosted` until SIGTERM, SIGINT or SIGHUP, then drain; print `ready` once serving.

    Probes on `health` are answered from the start (`/readyz`: 503 while starting)
    until the cells have drained. A signal while it is still starting (connecting
    to NATS, which may take its whole timeout) stops it there, exit 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGHUP too (a closed terminal or ssh session): drained, not killed mid-message.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    ready = Readiness()  # started once its cells run: its checks are set then
    serving = asyncio.create_task(_serve(settings, hosted, health, stop, ready))
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not serving.done() and not ready.started:  # stopped before it was ready
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        logger.info("worker: stopped while starting")
        return
    await serving  # serving drains on `stop` itself; its errors (NATS unreachable) raise


async def _serve(
    settings: Topology,
    hosted: tuple[Cell, ...],
    health: socket.socket | None,
    stop: asyncio.Event,
    ready: Readiness,
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        if health is not None:
            await stack.enter_async_context(serving_health(health, ready))
            host, port = health.getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            logger.info("health: http://%s:%d/healthz and /readyz", shown, port)
        bus = await stack.enter_async_context(running(settings, hosted))
        ready.checks = [make(bus) for make in READINESS]
        names = ", ".join(bus.cells)
        typer.echo(f"ready: worker hosting {names} on {redact_url(settings.bus.url)}", err=True)
        await stop.wait()
        logger.info("worker: stopping, draining in-flight messages")
