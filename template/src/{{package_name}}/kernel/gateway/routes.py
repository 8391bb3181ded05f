# Owned by the monocell template: `copier update` replaces this file.
"""The routes: one HTTP route per command a cell marks `Public`, nothing else.

The method, path and scopes come from the cell's `Public(...)` declaration and
the body and reply types from its contracts, so routes and the OpenAPI document
are never written twice. Conflicting or malformed declarations stop start-up.
`Routes` is the table requests are dispatched by (see `app`).
"""

import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..core.cell import Cell
from ..core.contracts import (
    Command,
    Reply,
    message_type_of,
    reply_type_of,
)
from .layers import refusal, unexpected_failure
from .problems import Problem

METHODS = ("POST", "PUT", "PATCH", "DELETE")
PATH_PATTERN = re.compile(r"^(/[a-z0-9][a-z0-9._-]*)+\Z")
# Paths the gateway serves itself; a cell cannot take them.
RESERVED_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs"})


class RouteError(ValueError):
    """A `Public` declaration cannot become a route; the message is one line."""


@dataclass(frozen=True)
class CommandRoute:
    """One public command: where it is reached and what it takes and returns."""

    cell: str
    method: str
    path: str
    command: type[Command[Any]]
    reply: type[Reply]
    scopes: frozenset[str]
    summary: str
    description: str

    @property
    def message_type(self) -> str:
        return message_type_of(self.command)


def route_table(cells: Sequence[Cell]) -> tuple[CommandRoute, ...]:
    """The routes of every public command of `cells`, checked against each other."""
    routes: list[CommandRoute] = []
    taken: dict[tuple[str, str], str] = {}
    for cell in cells:
        for public in cell.public:
            method = public.method.upper()
            where = f"cell {cell.name!r}, {message_type_of(public.command)}"
            if method not in METHODS:
                raise RouteError(f"{where}: method must be one of {', '.join(METHODS)}")
            if not PATH_PATTERN.match(public.path) or public.path in RESERVED_PATHS:
                raise RouteError(
                    f"{where}: path must be lowercase segments like /orders/status and not "
                    f"one of {', '.join(sorted(RESERVED_PATHS))}, got {public.path!r}"
                )
            loose = next(_loose_patterns(msgspec.json.schema(public.command)), None)
            if loose is not None:
                raise RouteError(
                    f"{where}: pattern {loose!r} ends in `$`, which also matches before a "
                    "trailing newline (msgspec uses re.search); end it with `\\Z`"
                )
            other = taken.setdefault((method, public.path), where)
            if other != where:
                raise RouteError(f"{where}: {method} {public.path} is already taken by {other}")
            routes.append(
                CommandRoute(
                    cell=cell.name,
                    method=method,
                    path=public.path,
                    command=public.command,
                    reply=reply_type_of(public.command),
                    scopes=frozenset(public.scopes),
                    summary=public.summary or message_type_of(public.command),
                    description=(public.command.__doc__ or "").strip(),
                )
            )
    return tuple(routes)


def _loose_patterns(schema: Any) -> Iterator[str]:
    """The `pattern`s in a JSON Schema that end in an unescaped `$`."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "pattern" and isinstance(value, str):
                if value.endswith("$") and not value.endswith("\\$"):
                    yield value
            else:
                yield from _loose_patterns(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _loose_patterns(item)


Endpoint = Callable[[Request], Awaitable[Response]]


class Routes:
    """The route table: exact path, then method; 404 and 405 (with Allow) as problems.

    An endpoint's unexpected failure is answered here, a 500 problem: inside
    `Cors`, so it carries the CORS headers like every other answer of a route.
    """

    def __init__(self, table: Mapping[str, Mapping[str, Endpoint]]) -> None:
        self.table = {
            path: {**methods, **({"HEAD": methods["GET"]} if "GET" in methods else {})}
            for path, methods in table.items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            methods = self.table.get(scope["path"])
            if methods is None:
                raise Problem(404, "Not Found")
            endpoint = methods.get(scope["method"])
            if endpoint is None:
                raise Problem(405, "Method Not Allowed", headers={"Allow": ", ".join(methods)})
            response = await endpoint(Request(scope, receive))
        except Problem as problem:
            response = refusal(problem, scope)
        except Exception:  # here, inside `Cors`, so a browser can read the 500 too
            response = refusal(unexpected_failure(scope), scope)
        await response(scope, receive, send)
