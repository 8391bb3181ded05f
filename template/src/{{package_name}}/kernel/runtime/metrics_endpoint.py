# Owned by the monocell template: `copier update` replaces this file.
"""The metrics endpoint: Prometheus text on a loopback port, for scrapers and `triggers check`.

It listens on 127.0.0.1 only: metrics name cells and message types, which is
internal detail; expose it further through your scraper's network, not the
gateway. It answers only requests whose Host is a loopback name (a web page
cannot read it through DNS rebinding) and leaves out the interpreter's version
(`python_info`, and wsgiref's `Server` header), which tells an attacker what to
try. Each connection gets a thread and `READ_TIMEOUT` seconds to send its
request: wsgiref alone serves one connection at a time with no timeout, so one
idle connection held every scrape back.
"""

import contextlib
import logging
import socketserver
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import typer
from prometheus_client import PLATFORM_COLLECTOR, REGISTRY, make_wsgi_app

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
READ_TIMEOUT = 10.0  # seconds for a connection to send its request and read the answer
SERVER = "metrics"  # wsgiref's own `Server` header names the interpreter and its version
logger = logging.getLogger(__name__)


class _Handler(WSGIRequestHandler):
    timeout = READ_TIMEOUT  # applied to the connection's socket (StreamRequestHandler)
    # The `Server` header of the refusals http.server writes itself (a malformed
    # request line); the app's answers set theirs (see `metrics_app`).
    server_version = SERVER
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: scrapes every few seconds would flood it."""


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    """One thread per connection, none left behind at exit."""

    daemon_threads = True


def metrics_app() -> Callable[..., Iterable[bytes]]:
    """The WSGI app: /metrics for a loopback Host, 400 for any other Host."""
    metrics = make_wsgi_app(REGISTRY)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def respond(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            return start_response(status, [*headers, ("Server", SERVER)], *rest)

        host = environ.get("HTTP_HOST", "")
        name = host.rpartition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]
        if name.lower() not in LOOPBACK_HOSTS:
            respond("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"host: this Host header is not served here\n"]
        answer: Iterable[bytes] = metrics(environ, respond)
        return answer

    return app


def serve_metrics(port: int, host: str = "127.0.0.1") -> WSGIServer:
    """Start serving /metrics in a background thread; a taken port stops start-up."""
    with contextlib.suppress(KeyError):  # already left out
        REGISTRY.unregister(PLATFORM_COLLECTOR)
    try:
        server = make_server(
            host, port, metrics_app(), server_class=_ThreadingServer, handler_class=_Handler
        )
    except OSError as error:
        typer.echo(
            f"error: --metrics-port: cannot listen on {host}:{port} ({error.strerror})", err=True
        )
        raise typer.Exit(2) from None
    threading.Thread(target=server.serve_forever, daemon=True, name="metrics").start()
    logger.info("metrics: http://%s:%d/metrics", host, port)
    return server
