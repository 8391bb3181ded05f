# Owned by the monocell template: `copier update` replaces this file.
"""Readiness checks behind `/readyz`: each returns its problems, none when fine.

`build_app(readiness=...)` takes factories that get the started bus and return
a check. The gateway knows only the bus; the runtime that composes a process
(`runtime/serve.py`) adds the checks of the other parts it starts, such as the
sandbox pools.

A problem reads `<part>: <reason>`. `/readyz` is on the public port, so its 503
names the parts only (`public_part`); the reasons (addresses, errno, driver
messages) go to the service's log, once each time they change.
"""

from collections.abc import Awaitable, Callable
from typing import Protocol


class _Ready(Protocol):
    @property
    def problem(self) -> str | None: ...


ReadinessCheck = Callable[[], Awaitable[list[str]]]


def bus_ready(bus: _Ready) -> ReadinessCheck:
    """Ready while the bus is connected and accepting messages (on NATS: and
    JetStream stores the events published)."""

    async def check() -> list[str]:
        problem = bus.problem
        return [] if problem is None else [problem]

    return check


def public_part(problem: str) -> str:
    """What of a problem a caller of `/readyz` may read: the part before its reason."""
    return problem.partition(": ")[0][:200]
