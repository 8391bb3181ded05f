# Owned by the monocell template: `copier update` replaces this file.
"""The gateway as an ASGI app: one outer layer, then an exact route table.

    app = build_app(settings, cells, connect=lambda: running(topology, hosted))

`connect` opens the bus when the app starts (the ASGI lifespan) and closes it
when the server stops, so `serve`, the tests and the benchmark all build the
same app. `/healthz` says the process answers; `/readyz` runs the readiness
checks (`health`) and answers 503 naming what is not ready (the reasons are
logged, not told to whoever asks).

A request goes `Front` (layers) -> `Cors` (when configured) -> `routes.Routes`: a
dictionary lookup of the exact path, then the method. Starlette's router would
try each route's regular expression in turn and wrap every endpoint in two more
exception layers; `Front` has already refused any path that is not plain, so a
lookup is all that is left to do. Starlette still provides the requests, the
responses and the lifespan protocol.
"""

import html
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Router
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config.gateway_settings import GatewaySettings
from ..core.cell import Cell
from .auth import Authenticator
from .endpoint import (
    IDEMPOTENCY_KEY,
    TRACEPARENT,
    BusHolder,
    Guards,
    Sender,
    command_endpoint,
)
from .health import Readiness, ReadinessCheck, bus_ready, not_ready_detail
from .layers import Cors, Front
from .openapi import openapi_document
from .problems import Problem
from .ratelimit import RateLimiter
from .routes import Endpoint, Routes, route_table

PACKAGE = __package__.partition(".")[0]
DOCS_PATH = "/docs"
# The request headers the gateway reads: what a listed origin's page may send
# (a browser asks in its preflight before it does).
CORS_REQUEST_HEADERS = (
    "authorization", "content-type", "x-api-key", "x-request-id", IDEMPOTENCY_KEY, TRACEPARENT,
)  # fmt: skip

Connect = Callable[[], AbstractAsyncContextManager[Sender]]


class Gateway:
    """The ASGI app: HTTP through the layers to the routes; the lifespan runs the bus.

    Starlette's `Router` speaks the lifespan protocol (and closes a websocket,
    which nothing here serves); it has no routes of its own.
    """

    def __init__(self, http: ASGIApp, lifespan: Callable[[Any], AbstractAsyncContextManager[None]]):
        self.http = http
        self.router = Router(lifespan=lifespan)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        else:
            await self.router(scope, receive, send)


def build_app(
    settings: GatewaySettings,
    cells: Sequence[Cell],
    *,
    connect: Connect,
    readiness: Sequence[Callable[[Sender], ReadinessCheck]] = (bus_ready,),
    title: str = PACKAGE,
    version: str = "0",
) -> Gateway:
    """The gateway for `cells`; raises `RouteError` for conflicting declarations."""
    routes = route_table(cells)
    holder = BusHolder()
    guards = Guards(
        authenticator=Authenticator(settings, realm=title),
        address_limiter=RateLimiter(settings.address_rate_limit, settings.rate_limit_storage),
        rate_limiter=RateLimiter(settings.rate_limit, settings.rate_limit_storage),
        holder=holder,
        timeout=settings.timeout,
    )
    document = openapi_document(routes, settings, title=title, version=version)
    ready = Readiness()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if not ready.started:
            raise Problem(503, "not ready: the service is starting", headers={"Retry-After": "1"})
        problems = await ready.problems()
        if problems:
            raise Problem(503, not_ready_detail(problems), headers={"Retry-After": "1"})
        return JSONResponse({"status": "ready"})

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    table: dict[str, dict[str, Endpoint]] = {
        "/healthz": {"GET": healthz},
        "/readyz": {"GET": readyz},
        "/openapi.json": {"GET": openapi},
    }
    if settings.docs:
        table[DOCS_PATH] = {"GET": _docs_page(title)}
    for route in routes:
        table.setdefault(route.path, {})[route.method] = command_endpoint(route, guards)

    @asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[None]:
        async with connect() as bus:
            holder.bus = bus
            ready.checks = [make(bus) for make in readiness]
            try:
                yield
            finally:
                ready.checks = ()
                holder.bus = None

    inner: ASGIApp = Routes(table)
    if settings.cors_origins:
        inner = Cors(
            inner,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=list(CORS_REQUEST_HEADERS),
            expose_headers=["x-request-id", "retry-after"],
        )
    front = Front(
        inner,
        allowed_hosts=settings.allowed_hosts,
        max_body_bytes=settings.max_body_bytes,
        max_header_bytes=settings.max_header_bytes,
        relaxed_paths=[DOCS_PATH] if settings.docs else [],
        docs_script=DOCS_SCRIPT,
        forwarded=bool(settings.trusted_proxies),
    )
    return Gateway(front, lifespan)


# Swagger UI pinned to one release, each file checked by the browser against its
# hash (Subresource Integrity): a changed file on the CDN is refused, not run.
# To upgrade: `npm pack swagger-ui-dist@<version>` and
# `openssl dgst -sha384 -binary <file> | base64` for both files.
SWAGGER_UI = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0"
SWAGGER_CSS_SRI = "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I"
SWAGGER_JS_SRI = "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9"
DOCS_SCRIPT = 'SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});'
DOCS_PAGE = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>TITLE API</title>
<link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css"
 integrity="{SWAGGER_CSS_SRI}" crossorigin="anonymous">
</head><body><div id="ui"></div>
<script src="{SWAGGER_UI}/swagger-ui-bundle.js"
 integrity="{SWAGGER_JS_SRI}" crossorigin="anonymous"></script>
<script>{DOCS_SCRIPT}</script>
</body></html>"""


def _docs_page(title: str) -> Endpoint:
    """An interactive page over /openapi.json (pinned Swagger UI), only when enabled."""
    page = DOCS_PAGE.replace("TITLE", html.escape(title))

    async def docs(request: Request) -> Response:
        return HTMLResponse(page)

    return docs
