# Owned by the monocell template: `copier update` replaces this file.
"""The OpenAPI 3.1 document, derived from the route table and the contracts.

Schemas come from msgspec (JSON Schema 2020-12, which OpenAPI 3.1 uses as is),
so the document cannot drift from what the gateway decodes. Every status a
route can answer is listed, refusals included, each with the problem schema
and the headers it carries (X-Request-ID always; WWW-Authenticate, Retry-After,
Allow where they apply). Schemas are named `<cell>.<Class>`, so two cells may
each have a class of the same name.
"""

from collections.abc import Sequence
from typing import Any

import msgspec

from ..config.gateway_settings import GatewaySettings
from ..core.contracts import ecma_patterns
from .problems import MEDIA_TYPE, ProblemBody
from .routes import CommandRoute

REF = "#/components/schemas/{name}"

# Every route, including the health endpoints, may answer these.
COMMON_REFUSALS = {
    "400": "The Host header is not served, or the request is malformed",
    "405": "The method is not allowed on this path; see Allow",
    "408": "The request was not received in time",
    "431": "The request headers are too large",
    "500": "Unexpected failure (the request id is in the service's logs)",
    "501": "A Transfer-Encoding other than chunked",
}
# What a command route may answer besides its reply.
COMMAND_REFUSALS = {
    **COMMON_REFUSALS,
    "400": "Malformed JSON, a body that is not UTF-8, a malformed Idempotency-Key, "
    "or a Host header not served",
    "401": "Missing or invalid credentials",
    "403": "The caller lacks a scope this route needs, or the cell refused it",
    "404": "The cell did not find what the command names",
    "409": "The cell refused the command, or a request with this Idempotency-Key is in "
    "progress (see `reason`)",
    "413": "The body is larger than the gateway accepts",
    "415": "The body is not application/json in UTF-8, is compressed, or has two "
    "Content-Type headers",
    "422": "The body does not match the command's contract (unknown field, wrong type), "
    "or the Idempotency-Key was used with another body",
    "429": "Too many requests from this caller or address; see Retry-After",
    "502": "The cell failed while handling the command",
    "503": "No cell can take the command now; see Retry-After",
    "504": "The cell did not answer before the deadline",
}


def openapi_document(
    routes: Sequence[CommandRoute], settings: GatewaySettings, *, title: str, version: str
) -> dict[str, Any]:
    """The whole document, as a JSON-ready dict."""
    _, schemas = msgspec.json.schema_components([ProblemBody], ref_template=REF)
    for cell in dict.fromkeys(route.cell for route in routes):
        types = [kind for r in routes if r.cell == cell for kind in (r.command, r.reply)]
        # Named per cell: msgspec names by class, and two cells may share a class name.
        template = REF.format(name=f"{cell}.{{name}}")
        _, named = msgspec.json.schema_components(types, ref_template=template)
        schemas.update({f"{cell}.{name}": ecma_patterns(schema) for name, schema in named.items()})
    security_schemes: dict[str, Any] = {
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    }
    if settings.jwt is not None:
        security_schemes["bearer"] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    paths: dict[str, Any] = {
        "/healthz": {"get": _health("healthz", "Alive: the process answers")},
        "/readyz": {"get": _health("readyz", "Ready: the bus is connected", can_fail=True)},
    }
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(
            route, sorted(security_schemes)
        )
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": security_schemes},
    }


# Optional on every command: a retry with the same key and body gets the first reply.
IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Makes a retry safe: the same key with the same body answers the first reply "
        "without running the command again (keys are kept 24 hours, per caller); "
        "the same key with another body is refused with 422."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}


def _operation(route: CommandRoute, schemes: list[str]) -> dict[str, Any]:
    scopes = sorted(route.scopes)
    description = route.description
    if scopes:
        description += f"\n\nRequires the scopes: {', '.join(scopes)}."
    return {
        "operationId": route.message_type.replace(".", "_"),
        "summary": route.summary,
        "description": description.strip(),
        "tags": [route.cell],
        "security": [{scheme: []} for scheme in schemes],
        "parameters": [IDEMPOTENCY_KEY],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref(route.cell, route.command)}},
        },
        "responses": {
            "200": {
                "description": route.reply.__doc__ or "The reply",
                "headers": {"X-Request-ID": REQUEST_ID_HEADER},
                "content": {"application/json": {"schema": _ref(route.cell, route.reply)}},
            },
            **_problems(COMMAND_REFUSALS),
        },
    }


def _health(name: str, summary: str, *, can_fail: bool = False) -> dict[str, Any]:
    refusals = dict(COMMON_REFUSALS)
    if can_fail:
        refusals["503"] = "Not ready: the bus, or something the service needs, is down"
    return {
        "operationId": name,
        "summary": summary,
        "security": [],
        "responses": {
            "200": {
                "description": summary,
                "headers": {"X-Request-ID": REQUEST_ID_HEADER},
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"status": {"type": "string"}},
                            "required": ["status"],
                        }
                    }
                },
            },
            **_problems(refusals),
        },
    }


REQUEST_ID_HEADER: dict[str, Any] = {
    "description": "The request's id: the caller's X-Request-ID if sane, else a new one",
    "schema": {"type": "string"},
}
# Headers a refusal carries besides X-Request-ID.
REFUSAL_HEADERS: dict[str, dict[str, dict[str, Any]]] = {
    "401": {
        "WWW-Authenticate": {
            "description": "The scheme to authenticate with (RFC 9110)",
            "schema": {"type": "string"},
        }
    },
    "405": {"Allow": {"description": "The methods this path takes", "schema": {"type": "string"}}},
    "429": {
        "Retry-After": {
            "description": "Seconds to wait before trying again",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    "503": {
        "Retry-After": {
            "description": "Seconds to wait before trying again",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


def _problems(statuses: dict[str, str]) -> dict[str, Any]:
    problem = {MEDIA_TYPE: {"schema": {"$ref": REF.format(name="ProblemBody")}}}
    return {
        status: {
            "description": text,
            "headers": {"X-Request-ID": REQUEST_ID_HEADER, **REFUSAL_HEADERS.get(status, {})},
            "content": problem,
        }
        for status, text in statuses.items()
    }


def _ref(cell: str, cls: type) -> dict[str, str]:
    return {"$ref": REF.format(name=f"{cell}.{cls.__name__}")}
