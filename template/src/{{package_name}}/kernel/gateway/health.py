# Owned by the monocell template: `copier update` replaces this file.
"""Readiness checks behind `/readyz`: each says None when fine, or why not.

`build_app(readiness=...)` takes factories that get the started bus and return
a check. The gateway knows only the bus; the runtime that composes a process
(`runtime/serve.py`) adds the checks of the other parts it starts, such as the
sandbox pools.
"""

from collections.abc import Awaitable, Callable
from typing import Protocol


class _Ready(Protocol):
    @property
    def problem(self) -> str | None: ...


ReadinessCheck = Callable[[], Awaitable[str | None]]


def bus_ready(bus: _Ready) -> ReadinessCheck:
    """Ready while the bus is connected and accepting messages (on NATS: and
    JetStream stores the events published)."""

    async def check() -> str | None:
        return bus.problem

    return check
