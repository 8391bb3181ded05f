# Owned by the monocell template: `copier update` replaces this file.
"""Errors as RFC 9457 `application/problem+json`: a status, a title, a safe detail.

Every refusal the gateway makes goes through `Problem`, so the caller always
gets the same shape and never a stack trace, a class name or a file path. The
request id is included so a caller can quote it and an operator find the log.
"""

from http import HTTPStatus

import msgspec
from starlette.responses import Response

MEDIA_TYPE = "application/problem+json"
# RFC 9110's names, fixed here: `HTTPStatus.phrase` changed in Python 3.13 ("Unprocessable
# Entity" became "Unprocessable Content"), and one service must answer alike everywhere.
TITLES = {
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}


class ProblemBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The problem document (RFC 9457 section 3), plus `request_id` and `reason`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    request_id: str = ""
    reason: str = ""


class Problem(Exception):  # noqa: N818 - the name RFC 9457 gives it
    """A refusal: raise it anywhere in request handling to answer with it."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        reason: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.reason = reason
        self.headers = headers or {}


_encoder = msgspec.json.Encoder()


def problem_body(problem: Problem, request_id: str = "") -> ProblemBody:
    """The problem document for a problem."""
    return ProblemBody(
        title=TITLES.get(problem.status) or HTTPStatus(problem.status).phrase,
        status=problem.status,
        detail=problem.detail,
        request_id=request_id,
        reason=problem.reason,
    )


def problem_response(problem: Problem, request_id: str = "") -> Response:
    """The HTTP response for a problem."""
    return Response(
        _encoder.encode(problem_body(problem, request_id)),
        status_code=problem.status,
        headers=problem.headers,
        media_type=MEDIA_TYPE,
    )
