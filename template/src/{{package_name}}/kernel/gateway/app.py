# Owned by the monocell template: `copier update` replaces this file.
"""The gateway as an ASGI app: routes from the cells, layers in the checklist's order.

    app = build_app(settings, cells, connect=lambda: running(topology, hosted))

`connect` opens the bus when the app starts (the ASGI lifespan) and closes it
when the server stops, so `serve`, the tests and the benchmark all build the
same app. `/healthz` says the process answers; `/readyz` runs the readiness
checks (`health.readiness_checks`) and answers 503 naming what is not ready.
"""

import html
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..config.gateway_settings import GatewaySettings
from ..core.cell import Cell
from .auth import Authenticator
from .endpoint import (
    BusHolder,
    Guards,
    Sender,
    command_endpoint,
)
from .health import ReadinessCheck, bus_ready
from .layers import (
    Audit,
    Cors,
    ExactPaths,
    Failures,
    RequestId,
    SecurityHeaders,
    SizeLimits,
    TrustedHosts,
    audit_record,
    request_id_of,
)
from .openapi import openapi_document
from .problems import Problem, problem_response
from .ratelimit import RateLimiter
from .routes import route_table

PACKAGE = __package__.partition(".")[0]
DOCS_PATH = "/docs"

Connect = Callable[[], AbstractAsyncContextManager[Sender]]


def build_app(
    settings: GatewaySettings,
    cells: Sequence[Cell],
    *,
    connect: Connect,
    readiness: Sequence[Callable[[Sender], ReadinessCheck]] = (bus_ready,),
    title: str = PACKAGE,
    version: str = "0",
) -> Starlette:
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
    checks: list[ReadinessCheck] = []

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        problems = [reason for check in checks if (reason := await check()) is not None]
        if problems or not checks:
            detail = "; ".join(problems) or "the service is starting"
            raise Problem(503, f"not ready: {detail}", headers={"Retry-After": "1"})
        return JSONResponse({"status": "ready"})

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    endpoints = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    if settings.docs:
        endpoints.append(Route(DOCS_PATH, _docs_page(title), methods=["GET"]))
    endpoints += [
        Route(route.path, command_endpoint(route, guards), methods=[route.method])
        for route in routes
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with connect() as bus:
            holder.bus = bus
            checks[:] = [make(bus) for make in readiness]
            try:
                yield
            finally:
                checks.clear()
                holder.bus = None

    app = Starlette(
        routes=endpoints,
        middleware=_layers(settings),
        exception_handlers={Problem: _on_problem, HTTPException: _on_http},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # no 307 to another URL: exact paths only
    return app


def _layers(settings: GatewaySettings) -> list[Middleware]:
    """The outer layers, outermost first (see `layers`)."""
    stack = [
        Middleware(RequestId),
        Middleware(
            SecurityHeaders,
            relaxed_paths=[DOCS_PATH] if settings.docs else [],
            docs_script=DOCS_SCRIPT,
        ),
        Middleware(Audit),
        Middleware(TrustedHosts, allowed=settings.allowed_hosts),
        Middleware(ExactPaths),
        Middleware(
            SizeLimits,
            max_body_bytes=settings.max_body_bytes,
            max_header_bytes=settings.max_header_bytes,
        ),
    ]
    if settings.cors_origins:
        stack.append(
            Middleware(
                Cors,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["authorization", "content-type", "x-api-key", "x-request-id"],
                expose_headers=["x-request-id", "retry-after"],
            )
        )
    stack.append(Middleware(Failures))
    return stack


async def _on_problem(request: Request, error: Exception) -> Response:
    assert isinstance(error, Problem)  # noqa: S101 - registered for Problem only
    audit_record(request.scope).decision = f"denied:{error.status}"
    return problem_response(error, request_id_of(request.scope))


async def _on_http(request: Request, error: Exception) -> Response:
    """Starlette's own 404 and 405, as problems (405 keeps its Allow header)."""
    assert isinstance(error, HTTPException)  # noqa: S101 - registered for HTTPException only
    problem = Problem(error.status_code, str(error.detail), headers=dict(error.headers or {}))
    return await _on_problem(request, problem)


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


def _docs_page(title: str) -> Callable[[Request], Any]:
    """An interactive page over /openapi.json (pinned Swagger UI), only when enabled."""
    page = DOCS_PAGE.replace("TITLE", html.escape(title))

    async def docs(request: Request) -> Response:
        return HTMLResponse(page)

    return docs
