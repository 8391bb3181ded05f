# Owned by the monocell template: `copier update` replaces this file.
"""Readiness of the sandbox pools this process runs, for `/readyz`.

`sandbox_ready(bus)` has the shape of the gateway's readiness factories: it
returns an async check that says None while every running pool can serve, or
why one cannot (for example: its workers keep failing to start).
"""

import weakref
from collections.abc import Awaitable, Callable

from .pool import SandboxPool

_running: "weakref.WeakSet[SandboxPool]" = weakref.WeakSet()


def track(pool: SandboxPool) -> None:
    """Count `pool` in the readiness check until `untrack`."""
    _running.add(pool)


def untrack(pool: SandboxPool) -> None:
    _running.discard(pool)


def sandbox_problems() -> list[str]:
    """Why running pools cannot serve; empty when they all can."""
    return [
        f"sandbox {pool.name}: {pool.problem}"
        for pool in sorted(_running, key=lambda pool: pool.name)
        if pool.problem is not None and pool.live_workers == 0
    ]


def sandbox_ready(bus: object = None) -> Callable[[], Awaitable[str | None]]:
    """The `/readyz` check: None while every sandbox pool has a worker, else the reason."""

    async def check() -> str | None:
        problems = sandbox_problems()
        return "; ".join(problems) if problems else None

    return check
