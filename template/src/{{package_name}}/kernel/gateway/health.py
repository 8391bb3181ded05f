# Owned by the monocell template: `copier update` replaces this file.
"""Readiness checks behind `/readyz`: each says None when fine, or why not.

`build_app(readiness=...)` takes factories that get the started bus and return
a check; `serve` passes `readiness_checks()`. Other kernel parts that the
service needs before it can answer (a sandbox worker pool, for example) add
their factory to `readiness_checks`.
"""

from collections.abc import Awaitable, Callable
from typing import Protocol

from ..sandbox.readiness import sandbox_ready


class _Ready(Protocol):
    @property
    def ready(self) -> bool: ...


ReadinessCheck = Callable[[], Awaitable[str | None]]


def bus_ready(bus: _Ready) -> ReadinessCheck:
    """Ready while the bus is connected and accepting messages."""

    async def check() -> str | None:
        return None if bus.ready else "the bus is not connected"

    return check


def readiness_checks() -> list[Callable[[_Ready], ReadinessCheck]]:
    """Everything `/readyz` of the served gateway checks. Add new checks here."""
    return [bus_ready, sandbox_ready]
