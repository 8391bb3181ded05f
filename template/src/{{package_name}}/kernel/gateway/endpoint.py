# Owned by the monocell template: `copier update` replaces this file.
"""One public command over HTTP: the inner layers, in the order they run.

    rate limit per client address (429) -> authenticate (401)
    -> rate limit per caller (429) -> scopes (403)
    -> content type (415) -> body (413) -> strict decode (400, 422)
    -> Idempotency-Key (400) -> bus call under the deadline (504; 503 at once
    when the bus is down) -> typed bus errors -> reply (200)

An `Idempotency-Key` travels with the command, scoped to the caller (another
caller's key never matches yours); a cell that keeps data answers a repeat
with its first reply.

Each refusal is a `Problem`; the decision and the caller are written on the
request's audit record, which the audit layer logs once the response is sent.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope

from ..config.validation import split_message
from ..core.contracts import Command, Reply, ecma_pattern
from ..core.errors import (
    BusError,
    DeadlineExceededError,
    NoHandlerError,
    RejectedError,
    UnavailableError,
)
from ..core.principal import Principal
from .auth import API_KEY_HEADER, Authenticator, require_scopes
from .layers import BodyTooLargeError, audit_record, request_id_of
from .problems import Problem
from .ratelimit import RateLimiter
from .routes import CommandRoute

ReplyT = TypeVar("ReplyT", bound=Reply)

JSON = "application/json"
# Statuses a handler's `RejectedError(reason, ...)` maps to; any other reason is 409.
REJECTION_STATUS = {
    "not_found": 404,
    "forbidden": 403,
    "invalid": 422,
    "conflict": 409,
    "idempotency_key_reused": 422,
}
IDEMPOTENCY_KEY = "idempotency-key"
TRACEPARENT = "traceparent"
# W3C Trace Context: version-traceid-parentid-flags, lowercase hex; version 00 has no more.
TRACEPARENT_PATTERN = re.compile(
    r"(?P<version>[0-9a-f]{2})-(?P<trace>[0-9a-f]{32})-(?P<parent>[0-9a-f]{16})"
    r"-(?P<flags>[0-9a-f]{2})(?P<more>-[\x21-\x7e]*)?"
)
MAX_IDEMPOTENCY_KEY = 255
# The request headers a command route reads (ASGI servers give names in lowercase).
ROUTE_HEADERS = {
    name.encode(): name
    for name in (API_KEY_HEADER, "authorization", "content-type", "content-encoding",
                 TRACEPARENT, IDEMPOTENCY_KEY)
}  # fmt: skip


class Sender(Protocol):
    """What the gateway needs from the bus: send a command, say whether it is up."""

    @property
    def ready(self) -> bool: ...

    @property
    def problem(self) -> str | None: ...

    async def send(
        self,
        command: Command[ReplyT],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the deadline travels with the message
        correlation_id: str | None = None,
        idempotency_key: str = "",
        principal: Principal = ...,
        traceparent: str = "",
    ) -> ReplyT: ...


class BusHolder:
    """The bus once the app has started it (set by the app's lifespan)."""

    bus: Sender | None = None


@dataclass(frozen=True)
class Guards:
    """What every command route shares: who may call, how often, and how long to wait."""

    authenticator: Authenticator
    address_limiter: RateLimiter
    rate_limiter: RateLimiter
    holder: BusHolder
    timeout: float


_encoder = msgspec.json.Encoder()


def command_endpoint(route: CommandRoute, guards: Guards) -> Any:
    """The Starlette endpoint of one public command."""
    decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(route.command)

    async def endpoint(request: Request) -> Response:
        record = audit_record(request.scope)
        record.action = route.message_type
        # Before authentication, so wrong keys and bad tokens cost the sender too.
        client = request.scope.get("client")
        await guards.address_limiter.hit(f"address:{client[0] if client else '-'}")
        headers = read_headers(request.scope)
        principal = await guards.authenticator.authenticate(headers)
        record.principal = principal.subject
        await guards.rate_limiter.hit(principal.subject)
        require_scopes(principal, route.scopes)
        _check_content_headers(headers)
        try:
            body = await _read_body(request.receive)
        except BodyTooLargeError as error:  # close: else the server reads the rest for nothing
            raise Problem(413, str(error), headers={"Connection": "close"}) from None
        except ClientDisconnect:  # gone, or cut off by the read timeout: nobody to answer
            raise Problem(408, "body: the client did not send it all") from None
        command = _decode(decoder, body, route.command)
        key = _idempotency_key(headers, principal.subject)
        bus = guards.holder.bus
        if bus is None:
            raise Problem(503, "the service is starting", headers={"Retry-After": "1"})
        try:
            reply = await bus.send(
                command,
                timeout=guards.timeout,
                correlation_id=request_id_of(request.scope),
                idempotency_key=key,
                principal=principal,
                traceparent=_traceparent(headers),
            )
        except BusError as error:
            raise _bus_problem(error) from None
        record.decision = "allowed"
        return Response(_encoder.encode(reply), media_type=JSON)

    return endpoint


def read_headers(scope: Scope) -> dict[str, list[str]]:
    """The values of each header a command route reads, in one pass over the request's.

    Starlette's `Headers.getlist` walks and decodes every header on each call;
    six calls were a twentieth of the gateway's own cost per request.
    """
    found: dict[str, list[str]] = {}
    for name, value in scope["headers"]:
        wanted = ROUTE_HEADERS.get(name)
        if wanted is not None:
            found.setdefault(wanted, []).append(value.decode("latin-1"))
    return found


async def _read_body(receive: Receive) -> bytes:
    """The whole body, as `Request.body` reads it, without its stream generator."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)


# UTF-8 and its subset ASCII (which some clients name): what the body is decoded as.
UTF8_CHARSETS = ("utf-8", "utf8", "us-ascii", "ascii")


def _check_content_headers(headers: Mapping[str, list[str]]) -> None:
    """One Content-Type, JSON in UTF-8, no Content-Encoding: what the body is decoded
    as. A second Content-Type or an unread coding would let a proxy in front and the
    gateway see different bodies (415 names which)."""
    types = headers.get("content-type", [])
    if len(types) > 1:
        raise Problem(415, f"content-type: expected one header, got {len(types)}")
    media_type, _, parameters = (types[0] if types else "").partition(";")
    media_type = media_type.strip().lower()
    if media_type != JSON:
        raise Problem(415, f"content-type: expected {JSON}, got {media_type or 'none'!r}")
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in UTF8_CHARSETS:
            raise Problem(415, f"content-type: JSON is read as utf-8, got charset {charset!r}")
    for coding in headers.get("content-encoding", []):
        if coding.strip().lower() != "identity":
            shown = coding.strip()[:40]
            raise Problem(415, f"content-encoding: send the body uncompressed, got {shown!r}")


def _traceparent(headers: Mapping[str, list[str]]) -> str:
    """The caller's W3C `traceparent`, when well-formed; "" (a new trace) otherwise."""
    values = headers.get(TRACEPARENT, [])
    if len(values) != 1:
        return ""
    match = TRACEPARENT_PATTERN.fullmatch(values[0])
    if match is None or match["version"] == "ff" or (match["version"] == "00" and match["more"]):
        return ""
    if set(match["trace"]) == {"0"} or set(match["parent"]) == {"0"}:
        return ""
    # Carried on as version 00, the only one this service speaks.
    return f"00-{match['trace']}-{match['parent']}-{match['flags']}"


def _idempotency_key(headers: Mapping[str, list[str]], subject: str) -> str:
    """The caller's `Idempotency-Key`, scoped to the caller; "" without one."""
    values = headers.get(IDEMPOTENCY_KEY, [])
    if not values:
        return ""
    key = values[0]
    if (
        len(values) > 1
        or not 0 < len(key) <= MAX_IDEMPOTENCY_KEY
        or not all("!" <= char <= "~" for char in key)
    ):
        raise Problem(
            400,
            f"Idempotency-Key: expected one value of 1 to {MAX_IDEMPOTENCY_KEY} visible "
            "ASCII characters",
        )
    return f"{len(subject)}:{subject}:{key}"


def _decode(decoder: msgspec.json.Decoder[Any], body: bytes, command_type: type) -> Any:
    """Strict decoding: 400 for bytes that are not JSON, 422 naming the field otherwise."""
    try:
        command = decoder.decode(body)
        _check_unique_keys(body)
        return command
    except msgspec.ValidationError as error:  # a DecodeError too: caught first
        if "got `float`" in str(error):  # perhaps 207.0 for an integer: JSON Schema allows it
            return _decode_integral_floats(body, command_type)
        raise Problem(422, _explain(str(error)), reason="invalid_body") from None
    except (UnicodeDecodeError, msgspec.DecodeError) as error:
        raise _malformed(body, error) from None
    except RecursionError:  # a field that takes any JSON, nested past msgspec's limit
        raise Problem(400, _TOO_DEEP) from None


def _malformed(body: bytes, error: Exception) -> Problem:
    """The 400 of a body that is not JSON. msgspec >= 0.23 reports bad UTF-8 as a
    DecodeError; the check costs nothing on the success path."""
    if isinstance(error, UnicodeDecodeError) or not _is_utf8(body):
        return Problem(400, _NOT_UTF8)
    return Problem(400, f"body: malformed JSON ({error})")


_NOT_UTF8 = "body: expected UTF-8 encoded JSON"


def _decode_integral_floats(body: bytes, command_type: type) -> Any:
    """Decode again with 207.0 read as 207, as the OpenAPI document's `integer` promises.

    Only on the error path, so a well-typed body costs nothing more; any other
    coercion (a string for a number) is still refused. The typed decoder stopped
    at the float, so the rest of the body is read here first: it may not be JSON.
    """
    try:
        loose: Any = msgspec.convert(_ints(msgspec.json.decode(body)), command_type)
    except (msgspec.ValidationError, OverflowError) as error:
        raise Problem(422, _explain(str(error)), reason="invalid_body") from None
    except (UnicodeDecodeError, msgspec.DecodeError) as error:
        raise _malformed(body, error) from None
    except RecursionError:  # nesting deeper than `_ints` goes
        raise Problem(400, _TOO_DEEP) from None
    _check_unique_keys(body)
    return loose


def _ints(value: Any) -> Any:
    """`value` with every float that has no fraction turned into an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_ints(item) for item in value]
    return value


def _check_unique_keys(body: bytes) -> None:
    """400 when an object in `body` (valid JSON) names a key twice.

    msgspec keeps the last of two same-named keys silently; a caller and a proxy
    could then read different bodies. Most bodies are cleared by counting: every
    member of a JSON object has one colon outside strings, so a body with no more
    colons than the keys msgspec finds has no key twice. The others (a colon in a
    string, or a key twice) are read again by the stdlib scanner, which names the
    key; reading every body that way was a fifteenth of the gateway's own cost.
    """
    if body.count(b":") == _distinct_keys(body):
        return
    try:
        _PAIRS_DECODER.decode(body.decode())
    except (ValueError, RecursionError):  # a 5000-digit number, or nesting past the limit
        raise Problem(400, _TOO_DEEP) from None


_TOO_DEEP = "body: malformed JSON (a number too long or nesting too deep)"


def _distinct_keys(body: bytes) -> int:
    """The keys of every object in `body` as msgspec reads it (a repeated key once),
    or -1 when it cannot read it (the stdlib scanner then says why)."""
    try:
        pending: list[Any] = [msgspec.json.decode(body)]
    except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
        return -1
    keys = 0
    while pending:  # a loop, not recursion: nesting is as deep as msgspec allows
        value = pending.pop()
        if isinstance(value, dict):
            keys += len(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return keys


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise Problem(400, f"body: the key {twice[:64]!r} appears twice in one object")
    return dict(pairs)


_PAIRS_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)  # built once, not per call


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _explain(message: str) -> str:
    """msgspec's `Expected `int` >= 1 - at `$.quantity`` as `quantity: expected ...`,
    with a pattern quoted as the OpenAPI document publishes it."""
    what, where = split_message(message)
    what = what.replace("Object contains unknown field", "unknown field")
    what = what.replace("Object missing required field", "missing required field")
    what = _QUOTED_REGEX.sub(_published_regex, what)
    return f"{where or 'body'}: {what[:1].lower()}{what[1:]}"


_QUOTED_REGEX = re.compile(r"matching regex '(.*)'\Z")


def _published_regex(quoted: re.Match[str]) -> str:
    python_pattern = quoted[1].replace("\\\\", "\\")  # msgspec quotes it as repr() does
    return f"matching regex '{ecma_pattern(python_pattern)}'"


def _bus_problem(error: BusError) -> Problem:
    """The HTTP answer to a typed bus error; internals stay in the service's logs."""
    if isinstance(error, RejectedError):
        status = REJECTION_STATUS.get(error.reason, 409)
        return Problem(status, error.detail, reason=error.reason)
    if isinstance(error, DeadlineExceededError):
        return Problem(504, "the service did not answer in time", reason=error.code)
    if isinstance(error, NoHandlerError | UnavailableError):
        return Problem(
            503, "the service cannot take this now", reason=error.code, headers={"Retry-After": "1"}
        )
    return Problem(502, "the service failed to answer; quote the request id", reason=error.code)
