# Owned by the monocell template: `copier update` replaces this file.
"""Readiness checks behind `/readyz`: each returns its problems, none when fine.

`Readiness` runs them for the gateway's `/readyz` and for a worker's
(`runtime/health_endpoint.py`). `build_app(readiness=...)` takes factories
that get the started bus and return a check. The gateway knows only the bus;
the runtime that composes a process (`runtime/serve.py`) adds the checks of
the other parts it starts, such as the sandbox pools.

A problem reads `<part>: <reason>`. `/readyz` is on the public port, so its 503
names the parts only (`public_part`); the reasons (addresses, errno, driver
messages) go to the service's log, once each time they change.
"""

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

logger = logging.getLogger(__name__)


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


class Readiness:
    """The checks of one process's `/readyz`, set once its parts have started.

    Probes ask every few seconds: the reasons are logged only when they change
    (and `ready again` when they clear), not once per probe.
    """

    def __init__(self) -> None:
        self.checks: Sequence[ReadinessCheck] = ()
        self._logged: list[str] = []

    @property
    def started(self) -> bool:
        return bool(self.checks)

    async def problems(self) -> list[str]:
        """Every check's problems, in order; empty when ready."""
        problems = [problem for check in self.checks for problem in await check()]
        if problems != self._logged:
            if problems:
                logger.warning("not ready: %s", "; ".join(problems))
            else:
                logger.info("ready again")
            self._logged = problems
        return problems


def not_ready_detail(problems: list[str]) -> str:
    """The 503's detail: the parts that are not ready, each named once."""
    parts = "; ".join(dict.fromkeys(public_part(problem) for problem in problems))
    return f"not ready: {parts} (the reasons are in the service's log)"
