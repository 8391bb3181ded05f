# Owned by the monocell template: `copier update` replaces this file.
"""The metrics endpoint: Prometheus text on a loopback port, for scrapers and `triggers check`.

It listens on 127.0.0.1 only: metrics name cells and message types, which is
internal detail; expose it further through your scraper's network, not the
gateway.
"""

import typer
from prometheus_client import start_http_server


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """Start serving /metrics in a background thread; a taken port stops start-up."""
    try:
        start_http_server(port, addr=host)
    except OSError as error:
        typer.echo(
            f"error: --metrics-port: cannot listen on {host}:{port} ({error.strerror})", err=True
        )
        raise typer.Exit(2) from None
    typer.echo(f"metrics: http://{host}:{port}/metrics", err=True)
