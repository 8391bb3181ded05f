# Owned by the monocell template: `copier update` replaces this file.
"""The metrics endpoint: Prometheus text on a loopback port, for scrapers and `triggers check`.

It listens on 127.0.0.1 only: metrics name cells and message types, which is
internal detail; expose it further through your scraper's network, not the
gateway. It answers only requests whose Host is a loopback name (a web page
cannot read it through DNS rebinding) and leaves out the interpreter's version
(`python_info`), which tells an attacker what to try.
"""

import contextlib
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import typer
from prometheus_client import PLATFORM_COLLECTOR, REGISTRY, make_wsgi_app

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log: scrapes every few seconds would flood it."""


def metrics_app() -> Callable[..., Iterable[bytes]]:
    """The WSGI app: /metrics for a loopback Host, 400 for any other Host."""
    metrics = make_wsgi_app(REGISTRY)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST", "")
        name = host.rpartition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]
        if name.lower() not in LOOPBACK_HOSTS:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"host: this Host header is not served here\n"]
        answer: Iterable[bytes] = metrics(environ, start_response)
        return answer

    return app


def serve_metrics(port: int, host: str = "127.0.0.1") -> WSGIServer:
    """Start serving /metrics in a background thread; a taken port stops start-up."""
    with contextlib.suppress(KeyError):  # already left out
        REGISTRY.unregister(PLATFORM_COLLECTOR)
    try:
        server = make_server(host, port, metrics_app(), handler_class=_Quiet)
    except OSError as error:
        typer.echo(
            f"error: --metrics-port: cannot listen on {host}:{port} ({error.strerror})", err=True
        )
        raise typer.Exit(2) from None
    threading.Thread(target=server.serve_forever, daemon=True, name="metrics").start()
    typer.echo(f"metrics: http://{host}:{port}/metrics", err=True)
    return server
