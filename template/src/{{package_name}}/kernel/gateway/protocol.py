# Owned by the monocell template: `copier update` replaces this file.
"""The HTTP protocol `serve` runs: uvicorn's httptools protocol with the bounds it lacks.

uvicorn's httptools protocol reads a request head of any size and waits for a
slow client forever: one 64 MB header, or a few dozen connections trickling a
byte at a time, would hold memory and the event loop. This subclass bounds
what it reads where it reads it, before the parser buffers anything:

    head bytes      request line + headers over `max_header_bytes`: 431, closed
    head time       the head not complete within `read_timeout`: 408, closed
                    (a connection that sent nothing is closed without an answer)
    body time       the body not complete within `read_timeout` after its head:
                    408 (unless a response has begun), closed; the endpoint
                    reading the body sees the disconnect and writes the audit line
    absolute form   `GET http://other.host/path`: the target's authority replaces
                    the Host header (RFC 9112 3.2.2), so the allowlist judges it;
                    any other form that is not `/path` is refused with 400
    not HTTP        what httptools cannot parse (a Content-Length that is not a
                    number, Content-Length with Transfer-Encoding, a bad request
                    line): 400, closed; uvicorn would answer it in plain text
    version         a request line of HTTP/2.0 or 0.9 (httptools parses both,
                    uvicorn would answer them as 1.1): 505, closed; HTTP/1.0
                    with Transfer-Encoding (faulty framing, RFC 9112 6.1): 400
    expectation     an Expect header other than 100-continue (which uvicorn
                    meets): 417, closed (RFC 9110 10.1.1)
    upgrade         `Connection: upgrade` with an `Upgrade` header (h2c,
                    websocket): 400, closed. httptools stops at such a head
                    and uvicorn, serving no upgrade, reads the bytes after it
                    as the next request: a body would run as a request no
                    layer in front saw (request smuggling), or be dropped

Refusals made here are problem+json with a request id and the security
headers, and leave an audit line, like every refusal made by the app. They
come in order (RFC 9112 9.3.2): a refused request pipelined behind others is
answered once their responses are out, and nothing after it is read.
Hand-written because neither uvicorn nor httptools offers these bounds.
"""

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .layers import SECURITY_HEADERS, AuditRecord, log_audit
from .problems import MEDIA_TYPE, Problem, problem_body

ENCODER = msgspec.json.Encoder()


class GatewayProtocol(HttpToolsProtocol):
    """httptools with a bounded head, read timeouts and no absolute-form bypass."""

    def __init__(self, *args: Any, max_header_bytes: int, read_timeout: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.max_header_bytes = max_header_bytes
        self.read_timeout = read_timeout
        self.reading_head = True
        self.head_bytes = 0
        self.heads = 0  # request heads read on this connection
        # One lazy timer per connection (see `_arm`): what to do when the read in
        # progress is late, and when that is.
        self.timer: asyncio.TimerHandle | None = None
        self.on_late: Callable[[], None] | None = None
        self.late_at = 0.0
        self.refused = False  # a request was refused: nothing more is read
        self.refusal: Problem | None = None  # answered once earlier responses are out

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refused:  # what follows a refused request is never run
            return
        if not self.reading_head:
            super().data_received(data)
            return
        if self.on_late is None:  # the first bytes of a request on a kept-alive connection
            self._arm(self._head_timed_out)
        room = self.max_header_bytes - self.head_bytes
        if len(data) <= room:
            self.head_bytes += len(data)
            super().data_received(data)
            return
        heads = self.heads
        self.head_bytes += room
        super().data_received(data[:room])  # never more than the bound reaches the parser
        if self.parser is None or self.transport.is_closing():
            return
        if self.heads == heads:  # the head did not end within the bound
            detail = f"headers: more than {self.max_header_bytes} bytes; not read further"
            self._refuse(Problem(431, detail))
            return
        self.data_received(data[room:])  # the head ended: the rest is its body or the next

    def on_headers_complete(self) -> None:
        if self.refused:  # a request pipelined behind a refused one, in the same packet
            return
        self.heads += 1
        self.reading_head = False
        self._disarm()
        version = self.parser.get_http_version()
        if version not in ("1.1", "1.0"):
            self._refuse(Problem(505, f"version: HTTP/{version} is not served; use HTTP/1.1"))
            return
        if version == "1.0" and any(name == b"transfer-encoding" for name, _ in self.headers):
            # RFC 9112 6.1: HTTP/1.0 has no chunked framing; a proxy in front may
            # read this body differently (request smuggling).
            self._refuse(Problem(400, "transfer-encoding: not part of HTTP/1.0"))
            return
        if self.parser.should_upgrade():  # an Upgrade, or a CONNECT (a tunnel: the same)
            detail = "upgrade: not served; send the request without Upgrade"
            if self.parser.get_method() == b"CONNECT":
                detail = "method: CONNECT is not served"
            self._refuse(Problem(400, detail))
            return
        expected = [value for name, value in self.headers if name == b"expect"]
        if expected and [value.lower() for value in expected] != [b"100-continue"]:
            self._refuse(Problem(417, "expect: only 100-continue is met"))
            return
        if not self.url.startswith(b"/"):
            authority = _authority(self.url)
            if authority is None:
                self._refuse(Problem(400, "target: expected a path like /orders"))
                return
            self.headers[:] = [(name, value) for name, value in self.headers if name != b"host"]
            self.headers.append((b"host", authority))
        super().on_headers_complete()
        self._arm(self._body_timed_out)

    def on_body(self, body: bytes) -> None:
        if not (self.refused or self.transport.is_closing()):  # nothing is read once refused
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self.refused or self.transport.is_closing():
            return
        super().on_message_complete()
        self._disarm()
        self.reading_head = True
        self.head_bytes = 0

    def _unsupported_upgrade_warning(self) -> None:
        """Refused in `on_headers_complete`, with its audit line: uvicorn's two warnings
        for each such request would let any client flood the log."""

    def send_400_response(self, msg: str) -> None:
        """What httptools refused to parse: a problem like every other refusal."""
        self._refuse(Problem(400, "request: not valid HTTP/1.1 (request line, headers or framing)"))

    def _arm(self, on_late: Callable[[], None]) -> None:
        """Call `on_late` unless `_disarm` comes within `read_timeout` seconds.

        Lazy: a busy keep-alive connection reads a head and a body per request,
        and a timer set and cancelled for each cost 1.8 us apiece on uvloop,
        3.6 us a request. Instead one timer stays armed; when it fires before
        the current deadline it re-arms for it, and when nothing is being read
        it lapses.
        """
        self.on_late = on_late
        self.late_at = self.loop.time() + self.read_timeout
        if self.timer is None:
            self.timer = self.loop.call_at(self.late_at, self._timer_fired)

    def _disarm(self) -> None:
        self.on_late = None  # the timer, if armed, finds nothing to do and lapses

    def _timer_fired(self) -> None:
        self.timer = None
        if self.on_late is None:
            return
        if self.loop.time() < self.late_at:  # armed again since: wait for that deadline
            self.timer = self.loop.call_at(self.late_at, self._timer_fired)
            return
        on_late, self.on_late = self.on_late, None
        on_late()

    def _head_timed_out(self) -> None:
        if self.transport.is_closing():
            return
        if self.head_bytes == 0:  # nothing sent: an idle connection, nobody to answer
            self.transport.close()
            return
        detail = f"headers: not received within {self.read_timeout:g} s"
        self._refuse(Problem(408, detail))

    def _body_timed_out(self) -> None:
        """Answer 408 and close, with the request id the app gave the request.

        The app is reading the body, so it sees the disconnect next: its 408
        goes nowhere, but its audit line is written there, once, as for any
        request that reached the app.
        """
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            request_id = cycle.scope.get("state", {}).get("request_id") or uuid.uuid4().hex
            detail = f"body: not received within {self.read_timeout:g} s"
            self._write_problem(Problem(408, detail), request_id)
        self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        earlier = self.cycle
        if self.refusal is not None and (earlier is None or earlier.response_complete):
            problem, self.refusal = self.refusal, None
            self._answer_refusal(problem)

    def _refuse(self, problem: Problem) -> None:
        """Refuse the request being read: now, or once the responses of the requests
        pipelined before it are out (answering first would lose theirs: a client
        told 417 retries an order that was placed)."""
        if self.refused:
            return
        self.refused = True
        earlier = self.cycle  # the last request that reached the app, if any
        if earlier is not None and not earlier.response_complete:
            self.refusal = problem
            self.flow.pause_reading()
            return
        self._answer_refusal(problem)

    def _answer_refusal(self, problem: Problem) -> None:
        """Answer `problem` on the wire, log its audit line, close the connection."""
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        self._write_problem(problem, request_id)
        self.transport.close()
        try:
            method = "-" if self.reading_head else self.parser.get_method().decode("latin-1")
        except Exception:  # a parser that failed may know no method
            method = "-"
        record = AuditRecord(decision=f"denied:{problem.status}")
        log_audit(method, "-", problem.status, self.client, record, request_id, started)

    def _write_problem(self, problem: Problem, request_id: str) -> None:
        """`problem` as a whole problem+json response, written past uvicorn (which
        has not parsed this request, or has and will answer nothing more)."""
        body = problem_body(problem, request_id)
        head = [
            f"HTTP/1.1 {problem.status} {body.title}".encode(),
            b"content-type: " + MEDIA_TYPE.encode(),
            b"content-length: %d" % len(encoded := ENCODER.encode(body)),
            b"connection: close",
            b"x-request-id: " + request_id.encode(),
            *(name + b": " + value for name, value in SECURITY_HEADERS),
        ]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + encoded)


def _authority(target: bytes) -> bytes | None:
    """The host[:port] of an absolute-form target, or None for any other form."""
    for scheme in (b"http://", b"https://"):
        if target[: len(scheme)].lower() == scheme:
            rest = target[len(scheme) :]
            authority = rest.partition(b"/")[0]
            if authority and b"@" not in authority and b"/" in rest:
                return authority
    return None
