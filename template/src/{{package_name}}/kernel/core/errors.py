# Owned by the monocell template: `copier update` replaces this file.
"""Typed errors of the bus. These, and never a stack trace, cross the bus.

A handler raises `RejectedError` to refuse a command for a business reason (the
gateway answers 4xx with its code). Anything else a handler raises becomes
`HandlerFailedError` for the sender, with the details kept in the handler's log.
"""


class BusError(Exception):
    """Base of every error `send` can raise."""

    code = "bus_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NoHandlerError(BusError):
    """No cell handles this command type."""

    code = "no_handler"


class DeadlineExceededError(BusError):
    """The reply did not arrive before the deadline."""

    code = "deadline_exceeded"


class HandlerFailedError(BusError):
    """The handler raised an unexpected error; its details stay in its logs."""

    code = "handler_failed"


class RejectedError(BusError):
    """The handler refused the command on purpose, with a machine-readable reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason

    code = "rejected"


class UnavailableError(BusError):
    """The transport cannot carry the message now (disconnected, overloaded, shut down)."""

    code = "unavailable"


class OutageError(UnavailableError):
    """A part the handler needs is down (its cell's database): the message is not at fault.

    An event whose handler raises it is tried again once a second without counting
    an attempt, so an outage (a database restart, a full disk) dead-letters nothing.
    On the wire it is an `UnavailableError` (a 503 with Retry-After at the gateway).
    """


class UndeclaredError(BusError):
    """A handler sent a command its cell does not declare, or published another cell's event.

    Refused in process exactly as the NATS permissions of `topology deploy`
    refuse it, so a cell that works in one process keeps working once moved out.
    """

    code = "undeclared"


class SerializationError(BusError):
    """A message could not be encoded or decoded with its contract."""

    code = "serialization_failed"


_BY_CODE: dict[str, type[BusError]] = {
    cls.code: cls
    for cls in (
        NoHandlerError,
        DeadlineExceededError,
        HandlerFailedError,
        UnavailableError,
        UndeclaredError,
        SerializationError,
    )
}


def error_for(code: str, detail: str, reason: str = "") -> BusError:
    """The typed error a code from the wire stands for (an unknown code: `HandlerFailedError`)."""
    if code == RejectedError.code:
        return RejectedError(reason, detail)
    return _BY_CODE.get(code, HandlerFailedError)(detail)
