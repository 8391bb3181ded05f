# Owned by the monocell template: `copier update` replaces this file.
"""The outer layers, as plain ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware).

Outermost first, as `app.build_app` stacks them:

    RequestId      accept a sane X-Request-ID or make one; echoed; the bus correlation id
    SecurityHeaders  headers from `secure`'s strict preset on every response
    Audit          one log line per request: who, what, decision, status, latency
    TrustedHosts   exactly one Host header, in the allowlist (400)
    ExactPaths     only plain paths: no percent-escapes, control characters or
                   trailing slash (404), so `/orders%0a` or `/orders%2fstatus` never
                   reach a route
    SizeLimits     header bytes (431) and body bytes (413, also when no Content-Length)
    (Cors)         Starlette's CORSMiddleware, only when origins are configured; a
                   refused preflight answers problem+json
    Failures       anything unexpected below: a 500 problem, the traceback to the log

The request id and the security headers are outermost so every refusal below
carries them. Starlette's own TrustedHostMiddleware answers in plain text and
its `Exception` handler runs outside all middleware; these answer problem+json
like every other refusal, hence hand-written.
"""

import base64
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

import secure
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import Problem, problem_response

REQUEST_ID_HEADER = b"x-request-id"
REQUEST_ID_PATTERN = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
HOST_PATTERN = re.compile(rb"([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")
PATH_PATTERN = re.compile(r"(/[A-Za-z0-9._~-]+)+|/")
SECURITY_HEADERS = [
    (name.lower().encode(), value.encode())
    for name, value in secure.Secure.from_preset(secure.Preset.STRICT).headers.items()
    if value  # empty values (such as `Server`) are left out
]

audit_logger = logging.getLogger(f"{__package__}.audit")
logger = logging.getLogger(__name__)


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
    """Refuse requests without exactly one Host header in the allowlist (host-header attacks)."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        allowed = tuple(allowed)
        self.any = "*" in allowed
        self.exact = frozenset(host.lower() for host in allowed if not host.startswith("*"))
        self.suffixes = tuple(host[1:].lower() for host in allowed if host.startswith("*."))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hosts = [value for key, value in scope["headers"] if key == b"host"]
        if len(hosts) != 1:
            await _refuse(Problem(400, "host: expected exactly one Host header"), scope, send)
            return
        match = HOST_PATTERN.fullmatch(hosts[0])
        name = match.group(1).decode().lower() if match else ""
        if match and (
            self.any or name in self.exact or (self.suffixes and name.endswith(self.suffixes))
        ):
            await self.app(scope, receive, send)
            return
        await _refuse(Problem(400, "host: this Host header is not served here"), scope, send)


class ExactPaths:
    """404 for a path that is not plain segments: only exact paths reach the routes.

    Starlette matches routes with `re.match(...$)`, and `$` also matches before a
    trailing newline: `/orders%0a` would reach `/orders`. Percent-escapes are
    refused outright (no route needs one), so `%2f` cannot make a second slash.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        raw: bytes = scope.get("raw_path") or path.encode()
        if PATH_PATTERN.fullmatch(path) and b"%" not in raw:
            await self.app(scope, receive, send)
            return
        await _refuse(Problem(404, "path: not served here"), scope, send)


class RequestId:
    """Give every request an id: the caller's X-Request-ID if sane, else a new one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = _header(scope, REQUEST_ID_HEADER)
        raw = offered if REQUEST_ID_PATTERN.fullmatch(offered) else uuid.uuid4().hex.encode()
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
            request_id = request_id_of(scope)
            log_audit(scope["method"], scope["path"], status, client, record, request_id, started)


def log_audit(
    method: str,
    path: str,
    status: int,
    client: tuple[str, int] | None,
    record: AuditRecord,
    request_id: str,
    started: float,
) -> None:
    """The audit line of one request (also written for refusals made before the app)."""
    audit_logger.info(
        "%s %s %s",
        method,
        path,
        status,
        extra={
            "correlation_id": request_id,
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
        # `serve` bounds the head where it reads it (`protocol`); this catches the rest.
        header_bytes = sum(len(name) + len(value) for name, value in scope["headers"])
        if header_bytes > self.max_header:
            detail = f"headers: {header_bytes} bytes, at most {self.max_header} accepted"
            await _refuse(Problem(431, detail), scope, send)
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

    def __init__(
        self, app: ASGIApp, relaxed_paths: Iterable[str] = (), docs_script: str = ""
    ) -> None:
        self.app = app
        self.relaxed_paths = frozenset(relaxed_paths)
        strict = secure.Secure.from_preset(secure.Preset.STRICT).headers
        self.headers = SECURITY_HEADERS
        # The docs page loads pinned files from a CDN (checked by their hashes) and
        # runs one inline line, allowed by its own hash: nowhere else, nothing more.
        inline = base64.b64encode(hashlib.sha256(docs_script.encode()).digest()).decode()
        relaxed = dict(strict)
        relaxed["Content-Security-Policy"] = (
            f"default-src 'none'; script-src https://cdn.jsdelivr.net 'sha256-{inline}'; "
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


class Cors(CORSMiddleware):
    """Starlette's CORS layer, with a refused preflight as problem+json (not text/plain)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if (
            scope["method"] == "OPTIONS"
            and "origin" in headers
            and "access-control-request-method" in headers
        ):
            answer = self.preflight_response(request_headers=headers)
            if answer.status_code != 200:
                detail = f"cors: {bytes(answer.body).decode()[:200].lower()}"
                await _refuse(Problem(answer.status_code, detail), scope, send)
                return
        await super().__call__(scope, receive, send)


class Failures:
    """Anything unexpected below: a bare 500 problem; the traceback goes to the log only.

    Inside the request id, security headers and audit layers, so the 500 carries
    them (Starlette's own `Exception` handler answers outside every middleware).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_noting(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_noting)
        except Exception:
            logger.exception("unexpected failure (request id %s)", request_id_of(scope))
            if started:  # too late to answer: the audit line says what was sent
                return
            problem = Problem(500, "unexpected failure; quote the request id")
            await _refuse(problem, scope, send)


async def _refuse(problem: Problem, scope: Scope, send: Send) -> None:
    """Answer `problem` from a layer, noted on the audit record."""
    audit_record(scope).decision = f"denied:{problem.status}"
    response = problem_response(problem, request_id_of(scope))

    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    await response(scope, nothing, send)


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
