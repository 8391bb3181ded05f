# Owned by the monocell template: `copier update` replaces this file.
"""The outer layers, as plain ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware).

Outermost first, as `app.build_app` stacks them:

    TrustedHosts   Host header allowlist (400), before anything else runs
    RequestId      accept a sane X-Request-ID or make one; echoed; the bus correlation id
    Audit          one log line per request: who, what, decision, status, latency
    SizeLimits     header bytes (431) and body bytes (413, also when no Content-Length)
    (CORS)         Starlette's CORSMiddleware, only when origins are configured
    SecurityHeaders  headers from `secure`'s strict preset on every response

Starlette's own TrustedHostMiddleware answers in plain text; this one answers
problem+json like every other refusal, hence hand-written.
"""

import logging
import re
import time
import uuid
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

import secure
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import Problem, problem_response

REQUEST_ID_HEADER = b"x-request-id"
REQUEST_ID_PATTERN = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")

audit_logger = logging.getLogger(f"{__package__}.audit")


class BodyTooLargeError(Exception):
    """The request body passed `max_body_bytes`; the endpoint answers 413."""


@dataclass
class AuditRecord:
    """What the audit line says about one request; filled in as layers decide."""

    principal: str = "-"
    action: str = "-"
    decision: str = "-"


def audit_record(scope: Scope) -> AuditRecord:
    """The request's audit record (a fresh one outside the audit layer)."""
    record: AuditRecord = scope.setdefault("state", {}).setdefault("audit", AuditRecord())
    return record


def request_id_of(scope: Scope) -> str:
    """The request id the RequestId layer settled on ("" outside it)."""
    request_id: str = scope.get("state", {}).get("request_id", "")
    return request_id


class TrustedHosts:
    """Refuse requests whose Host header is not in the allowlist (host-header attacks)."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        allowed = tuple(allowed)
        self.any = "*" in allowed
        self.exact = frozenset(host.lower() for host in allowed if not host.startswith("*"))
        self.suffixes = tuple(host[1:].lower() for host in allowed if host.startswith("*."))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.any:
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host").decode("latin-1").lower()
        name = host.rpartition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]
        if name in self.exact or (self.suffixes and name.endswith(self.suffixes)):
            await self.app(scope, receive, send)
            return
        response = problem_response(Problem(400, "host: this Host header is not served here"))
        await response(scope, receive, send)


class RequestId:
    """Give every request an id: the caller's X-Request-ID if sane, else a new one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = _header(scope, REQUEST_ID_HEADER)
        raw = offered if REQUEST_ID_PATTERN.match(offered) else uuid.uuid4().hex.encode()
        scope.setdefault("state", {})["request_id"] = raw.decode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, raw)]
            await send(message)

        await self.app(scope, receive, send_with_id)


class Audit:
    """Log one line per request, after the response: never bodies, never credentials."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        record = audit_record(scope)
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            client = scope.get("client")
            audit_logger.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "correlation_id": request_id_of(scope),
                    "audit": {
                        "client": client[0] if client else "-",
                        "principal": record.principal,
                        "action": record.action,
                        "decision": record.decision,
                        "status": status,
                        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                    },
                },
            )


class SizeLimits:
    """Bound what a request may make the service hold: header bytes and body bytes."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_header_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.max_header = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header_bytes = sum(len(name) + len(value) for name, value in scope["headers"])
        if header_bytes > self.max_header:
            detail = f"headers: {header_bytes} bytes, at most {self.max_header} accepted"
            await problem_response(Problem(431, detail))(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.max_body:
            too_large = f"body: {int(declared)} bytes, at most {self.max_body} accepted"

            async def refuse() -> Message:
                raise BodyTooLargeError(too_large)

            await self.app(scope, refuse, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise BodyTooLargeError(f"body: more than {self.max_body} bytes")
            return message

        await self.app(scope, counted, send)


class SecurityHeaders:
    """Add the `secure` package's strict preset headers to every response."""

    def __init__(self, app: ASGIApp, relaxed_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.relaxed_paths = frozenset(relaxed_paths)
        strict = secure.Secure.from_preset(secure.Preset.STRICT).headers
        self.headers = _raw_headers(strict)
        # The docs page loads its script from a CDN: allow that there, nowhere else.
        relaxed = dict(strict)
        relaxed["Content-Security-Policy"] = (
            "default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-inline'; "
            "style-src https://cdn.jsdelivr.net; img-src data: https://cdn.jsdelivr.net; "
            "connect-src 'self'; frame-ancestors 'none'"
        )
        relaxed["Cross-Origin-Embedder-Policy"] = "unsafe-none"
        self.relaxed = _raw_headers(relaxed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.relaxed if scope["path"] in self.relaxed_paths else self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _raw_headers(headers: MutableMapping[str, str] | Any) -> list[tuple[bytes, bytes]]:
    """ASGI header pairs; empty values (such as `Server`) are left out."""
    return [(name.lower().encode(), value.encode()) for name, value in headers.items() if value]


def _header(scope: Scope, name: bytes) -> bytes:
    """The first value of a request header, or b""."""
    for key, value in scope["headers"]:
        if key == name:
            value_bytes: bytes = value
            return value_bytes
    return b""
