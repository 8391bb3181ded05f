# Owned by the monocell template: `copier update` replaces this file.
"""A worker's health endpoint: `/healthz` and `/readyz`, for compose and Kubernetes probes.

`worker --health-port PORT` serves them from the worker's own event loop, so a
loop that hangs stops answering `/healthz` and the probe restarts the
process. `/readyz` runs the checks `serve`'s does (the bus and its consumers,
the sandbox pools, the cells' databases) and, as there, its 503 names only the
parts that are not ready; the reasons go to the worker's log.

It serves nothing else: no cell is reached through it. It listens on
127.0.0.1 unless told otherwise; a kubelet probes the pod's address, so the
Kubernetes manifests pass `--health-host 0.0.0.0`. The socket is bound before
the worker connects to NATS: a taken port stops start-up with one line.
uvicorn speaks the HTTP with the gateway's bounded protocol (a head of at most
8 KB, sent within 5 s); only its signal handling is left out, because the
worker's own stops it and drains the cells.
"""

import asyncio
import contextlib
import functools
import socket
from collections.abc import AsyncIterator, Iterator
from typing import cast

import typer
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..gateway.health import Readiness, not_ready_detail
from ..gateway.problems import Problem, problem_response
from ..gateway.protocol import GatewayProtocol
from .listening import bound_socket

RETRY_AFTER = {"Retry-After": "1"}
HEAD_BYTES = 8192  # a probe's request line and headers
READ_TIMEOUT = 5.0  # seconds for a probe to send them


def listen(host: str, port: int) -> socket.socket:
    """The listening socket of `--health-host`:`--health-port`; exits 2 when it cannot be."""
    if not host.strip():  # the empty name would mean every address, unasked
        typer.echo("error: --health-host: expected an address (0.0.0.0 for every one)", err=True)
        raise typer.Exit(2)
    try:
        return bound_socket(host, port, "--health-host", "--health-port")
    except OSError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


def health_app(ready: Readiness) -> Starlette:
    """GET (or HEAD) /healthz and /readyz; 404 for any other path."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if not ready.started:
            return problem_response(
                Problem(503, "not ready: the worker is starting", headers=RETRY_AFTER)
            )
        problems = await ready.problems()
        if problems:
            return problem_response(Problem(503, not_ready_detail(problems), headers=RETRY_AFTER))
        return JSONResponse({"status": "ready"})

    app = Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz)])
    app.router.redirect_slashes = False  # `/healthz/` is a 404, not a redirect to any Host
    return app


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave SIGTERM and SIGINT to the worker, which stops this server when it drains."""
        yield


@contextlib.asynccontextmanager
async def serving_health(sock: socket.socket, ready: Readiness) -> AsyncIterator[None]:
    """Answer probes on `sock` while the block runs; `ready.checks` are set by the caller."""
    config = uvicorn.Config(
        health_app(ready),
        # The gateway's bounded protocol: a probe's head is small and quick, and the
        # port may be open to a whole cluster network (`--health-host 0.0.0.0`).
        http=cast(  # uvicorn calls it as it calls a protocol class (serve does the same)
            "type[asyncio.Protocol]",
            functools.partial(
                GatewayProtocol, max_header_bytes=HEAD_BYTES, read_timeout=READ_TIMEOUT
            ),
        ),
        ws="none",
        lifespan="off",
        log_config=None,  # the worker's logging (runtime/logs.py) is already set up
        access_log=False,  # a probe every few seconds would flood the log
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=2,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="health-endpoint")
    try:
        yield
    finally:
        server.should_exit = True
        await task
