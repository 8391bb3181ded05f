# Owned by the monocell template: `copier update` replaces this file.
"""The served gateway: settings, cells and bus put together, run by uvicorn.

`serve` (in `cli`) checks everything once in the parent process, so a bad
setting fails with one line before anything listens; then uvicorn (uvloop +
httptools) calls `create_app` in each worker process. SIGTERM stops taking
connections, lets in-flight requests finish and drains the bus.
"""

import functools
import ipaddress
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import PROJECT_NAME, __version__
from ..config.gateway_settings import GatewaySettings, load_gateway_settings
from ..config.topology import ENV_PATH, Topology, load_topology
from ..core.cell import Cell
from ..gateway.app import Gateway, build_app
from ..gateway.protocol import GatewayProtocol
from ..gateway.routes import route_table
from .composition import READINESS, hosted_cells, running, unsandboxed_high_risk
from .logs import configure_logging
from .registry import load_cells

PACKAGE = __package__.partition(".")[0]
APP_FACTORY = f"{__name__}:create_app"


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Service:
    """Everything `serve` needs, checked: topology, gateway settings, cells."""

    topology: Topology
    settings: GatewaySettings
    cells: tuple[Cell, ...]
    hosted: tuple[Cell, ...]


def load_service(
    path: Path, environ: Mapping[str, str], names: Mapping[str, str] | None = None
) -> Service:
    """Read and check it all; raises `TopologyError`, `SettingsError` or `RouteError`.

    `names` says what to call a variable in messages (see `load_gateway_settings`).
    """
    topology = load_topology(path, environ)
    settings = load_gateway_settings(
        topology.gateway, source=str(path), environ=environ, names=names
    )
    cells = load_cells()
    hosted = hosted_cells(topology, cells, role="serve", source=str(path))
    route_table(cells)
    return Service(topology, settings, cells, hosted)


def uvicorn_options(settings: GatewaySettings, drain_timeout: float) -> dict[str, Any]:
    """How uvicorn runs the gateway: where it listens and what it bounds.

    The protocol bounds the head where it is read and times out slow clients
    (see `gateway.protocol`). X-Forwarded-For is believed only from the
    configured `trusted_proxies` (uvicorn would trust loopback by default,
    which lets anything on this machine forge the audit line's client).
    """
    return {
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "loop": "uvloop",
        # A partial of a module-level class: picklable for uvicorn's worker processes.
        "http": functools.partial(
            GatewayProtocol,
            max_header_bytes=settings.max_header_bytes,
            read_timeout=settings.read_timeout,
        ),
        "lifespan": "on",
        # No websockets: the gateway's layers judge HTTP requests only (and the
        # protocol refuses every Upgrade before uvicorn could switch).
        "ws": "none",
        "access_log": False,  # the gateway writes its own audit line per request
        "server_header": False,
        "log_config": None,
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies),
        "timeout_graceful_shutdown": int(drain_timeout) + 1,
    }


def warn_of_accepted_risks(service: Service) -> None:
    """Log what the settings allow on purpose but an operator should see at every start."""
    for cell in service.hosted:
        if unsandboxed_high_risk(service.topology, cell):  # allowed, or load_service refused
            logger.warning(
                "cells.%s: high-risk cell runs unsandboxed in this process "
                "(allow_unsandboxed = true)",
                cell.name,
            )
    # A scope no route requires grants nothing: most likely a typo ("orders:reed"),
    # whose caller is then refused with 403 and no hint. Warned, not refused: a key
    # may hold scopes of routes still to come.
    required = sorted({scope for route in route_table(service.cells) for scope in route.scopes})
    for key in service.settings.api_keys:
        for scope in sorted(set(key.scopes) - set(required)):
            logger.warning(
                "gateway.api_keys: key %r holds scope %r, which no route requires "
                "(the routes require: %s)",
                key.id,
                scope,
                ", ".join(required) or "none",
            )
    for proxy in service.settings.trusted_proxies:
        if ipaddress.ip_network(proxy, strict=False).prefixlen == 0:
            logger.warning(
                "gateway.trusted_proxies: %s believes every caller's X-Forwarded-For: any "
                "client picks the address its audit line records and its address rate "
                "limit counts; list the proxies' own addresses",
                proxy,
            )


def create_app() -> Gateway:
    """The uvicorn factory: the app of the topology file `serve` chose."""
    configure_logging()
    service = load_service(Path(os.environ.get(ENV_PATH, "topology.toml")), os.environ)
    warn_of_accepted_risks(service)
    return build_app(
        service.settings,
        service.cells,
        connect=lambda: running(service.topology, service.hosted),
        readiness=READINESS,
        title=PROJECT_NAME,
        version=__version__,
    )
