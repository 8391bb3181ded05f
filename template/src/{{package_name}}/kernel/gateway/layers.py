# Owned by the monocell template: `copier update` replaces this file.
"""The outer layer: what every request passes before its route, in one ASGI call.

`Front` does, in this order (outermost first):

    request id       accept a sane X-Request-ID or make one; echoed; the bus correlation id
    security headers `secure`'s strict preset on every response
    audit            one log line per request: who, what, decision, status, latency
    Host             exactly one Host header, in the allowlist (400)
    exact paths      only plain paths: no percent-escapes, control characters or
                     trailing slash (404), so `/orders%0a` or `/orders%2fstatus`
                     never reach a route
    sizes            header bytes (431) and body bytes (413, also when no Content-Length)
    failures         anything unexpected below: a 500 problem, the traceback to the log

then (`Cors`, Starlette's CORS layer, when origins are configured) the routes.
The route table answers its endpoints' failures itself (`unexpected_failure`),
inside `Cors`, so a listed origin's page can read the 500 and its request id.
One layer rather than a stack of seven: a request pays one call and one wrapped
`send`, where a stack paid seven of each (a third of the gateway's own cost).
The request id and the security headers are applied outermost, so every refusal
carries them. Starlette's own TrustedHostMiddleware answers in plain text and
its `Exception` handler runs outside all middleware; these answer problem+json
like every other refusal, hence hand-written.
"""

import base64
import hashlib
import logging
import os
import re
import time
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

import secure
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import Problem, problem_response

REQUEST_ID_HEADER = b"x-request-id"
REQUEST_ID_PATTERN = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
HOST_PATTERN = re.compile(rb"([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")
PATH_PATTERN = re.compile(r"(/[A-Za-z0-9._~-]+)+|/")
STRICT_HEADERS = secure.Secure.from_preset(secure.Preset.STRICT).headers


def _raw_headers(headers: MutableMapping[str, str] | Any) -> list[tuple[bytes, bytes]]:
    """ASGI header pairs; empty values (such as `Server`) are left out."""
    return [(name.lower().encode(), value.encode()) for name, value in headers.items() if value]


SECURITY_HEADERS = _raw_headers(STRICT_HEADERS)

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


class Front:
    """The checks before every route, and what every response carries (see the module doc)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Iterable[str],
        max_body_bytes: int,
        max_header_bytes: int,
        relaxed_paths: Iterable[str] = (),
        docs_script: str = "",
        forwarded: bool = False,
    ) -> None:
        self.app = app
        # With trusted proxies, the client is what their X-Forwarded-For says (uvicorn
        # puts it in the scope, whatever it is): quotes, spaces or a long text are
        # refused, or they would become the audit line's client and a rate-limit key.
        self.forwarded = forwarded
        allowed = tuple(allowed_hosts)
        self.any_host = "*" in allowed
        self.exact_hosts = frozenset(host.lower() for host in allowed if not host.startswith("*"))
        self.host_suffixes = tuple(host[1:].lower() for host in allowed if host.startswith("*."))
        self.max_body = max_body_bytes
        self.max_header = max_header_bytes
        self.relaxed_paths = frozenset(relaxed_paths)
        self.headers = SECURITY_HEADERS
        self.relaxed = _relaxed_headers(docs_script)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        offered = declared = b""
        hosts: list[bytes] = []
        header_bytes, chunked, codings = 0, False, b""
        for name, value in scope["headers"]:  # one pass for every header this layer reads
            header_bytes += len(name) + len(value)
            if name == b"host":
                hosts.append(value)
            elif name == REQUEST_ID_HEADER:
                offered = offered or value
            elif name == b"content-length":
                declared = declared or value
            elif name == b"transfer-encoding":
                chunked, codings = True, codings + b"," + value
        raw_id = offered if REQUEST_ID_PATTERN.fullmatch(offered) else os.urandom(16).hex().encode()
        request_id = raw_id.decode()
        record = AuditRecord()
        state = scope.setdefault("state", {})
        state["request_id"], state["audit"] = request_id, record
        extra = [
            (REQUEST_ID_HEADER, raw_id),
            *(self.relaxed if scope["path"] in self.relaxed_paths else self.headers),
        ]
        status, responded = 500, False

        async def send_marked(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            problem = self._refusal(scope, hosts, header_bytes) or _coding_refusal(codings)
            if problem is not None:
                await _refuse(problem, scope, send_marked)
            else:
                bounded = self._bounded(receive, b"" if chunked else declared)
                await self.app(scope, bounded, send_marked)
        except Exception:
            problem = unexpected_failure(scope)
            if not responded:  # else too late to answer: the audit line says what was sent
                await _refuse(problem, scope, send_marked)
        finally:
            log_audit(
                scope["method"], scope["path"], status, scope.get("client"), record,
                request_id, started,
            )  # fmt: skip

    def _refusal(self, scope: Scope, hosts: list[bytes], header_bytes: int) -> Problem | None:
        """Host, then path, then header size: the first that fails, or None."""
        if len(hosts) != 1:
            return Problem(400, "host: expected exactly one Host header")
        match = HOST_PATTERN.fullmatch(hosts[0])
        name = match.group(1).decode().lower() if match else ""
        if not match or not (
            self.any_host
            or name in self.exact_hosts
            or (self.host_suffixes and name.endswith(self.host_suffixes))
        ):
            return Problem(400, "host: this Host header is not served here")
        # Starlette matches routes with `re.match(...$)`, and `$` also matches before
        # a trailing newline; percent-escapes are refused outright (no route needs
        # one), so `%2f` cannot make a second slash.
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        if b"%" in raw or not PATH_PATTERN.fullmatch(scope["path"]):
            return Problem(404, "path: not served here")
        # `serve` bounds the head where it reads it (`protocol`); this catches the rest.
        if header_bytes > self.max_header:
            detail = f"headers: {header_bytes} bytes, at most {self.max_header} accepted"
            return Problem(431, detail)
        if self.forwarded and not _is_plain_client(scope.get("client")):
            return Problem(400, "x-forwarded-for: expected the client's address or a token")
        return None

    def _bounded(self, receive: Receive, declared: bytes) -> Receive:
        """`receive` that refuses a body over `max_body_bytes` (BodyTooLargeError).

        Bytes are counted whatever Content-Length says: uvicorn frames a body by
        it, but not every ASGI server (or test client) does.
        """
        if declared.isdigit() and int(declared) > self.max_body:
            too_large = f"body: {int(declared)} bytes, at most {self.max_body} accepted"

            async def refuse() -> Message:
                raise BodyTooLargeError(too_large)

            return refuse
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise BodyTooLargeError(f"body: more than {self.max_body} bytes")
            return message

        return counted


def _coding_refusal(codings: bytes) -> Problem | None:
    """A transfer coding other than chunked (`gzip, chunked`): the server frames the
    body by its chunks and would pass the compressed bytes on as the body itself."""
    named = [coding.strip().lower() for coding in codings.split(b",") if coding.strip()]
    if named in ([], [b"chunked"]):
        return None
    shown = codings.lstrip(b",").decode("latin-1")[:60]
    return Problem(501, f"transfer-encoding: only chunked is understood, got {shown!r}")


# What a proxy may say of a client: an address, or a token such as `unknown` (Squid
# without forwarded_for) or RFC 7239's obfuscated `_hidden`; never quotes or spaces.
PLAIN_CLIENT = re.compile(r"[A-Za-z0-9._:\[\]-]{1,64}")


def _is_plain_client(client: tuple[str, int] | None) -> bool:
    return client is not None and PLAIN_CLIENT.fullmatch(client[0]) is not None


def unexpected_failure(scope: Scope) -> Problem:
    """The 500 for the exception being handled; its traceback goes to the log only."""
    logger.exception("unexpected failure (request id %s)", request_id_of(scope))
    return Problem(500, "unexpected failure; quote the request id")


def log_audit(
    method: str,
    path: str,
    status: int,
    client: tuple[str, int] | None,
    record: AuditRecord,
    request_id: str,
    started: float,
) -> None:
    """The audit line of one request (also written for refusals made before the app).

    The record is built here rather than by `Logger.info`, which would walk the
    stack to find the caller (a line the audit never shows) on every request.
    """
    if not audit_logger.isEnabledFor(logging.INFO):
        return
    line = logging.LogRecord(
        audit_logger.name, logging.INFO, __file__, 0, "%s %s %s", (method, path, status), None
    )
    line.correlation_id = request_id
    line.audit = {
        "client": client[0] if client else "-",
        "principal": record.principal,
        "action": record.action,
        "decision": record.decision,
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    audit_logger.handle(line)


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


def refusal(problem: Problem, scope: Scope) -> Response:
    """The answer to `problem`, noted on the request's audit record."""
    audit_record(scope).decision = f"denied:{problem.status}"
    return problem_response(problem, request_id_of(scope))


async def _refuse(problem: Problem, scope: Scope, send: Send) -> None:
    """Answer `problem` from a layer, before anything has read the body."""

    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    await refusal(problem, scope)(scope, nothing, send)


def _relaxed_headers(docs_script: str) -> list[tuple[bytes, bytes]]:
    """The docs page's headers: it loads pinned files from a CDN (checked by their
    hashes) and runs one inline line, allowed by its own hash; nowhere else, nothing more."""
    relaxed = dict(STRICT_HEADERS)
    inline = base64.b64encode(hashlib.sha256(docs_script.encode()).digest()).decode()
    relaxed["Content-Security-Policy"] = (
        f"default-src 'none'; script-src https://cdn.jsdelivr.net 'sha256-{inline}'; "
        "style-src https://cdn.jsdelivr.net; img-src data: https://cdn.jsdelivr.net; "
        "connect-src 'self'; frame-ancestors 'none'"
    )
    relaxed["Cross-Origin-Embedder-Policy"] = "unsafe-none"
    return _raw_headers(relaxed)
