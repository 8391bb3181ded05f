# Owned by the monocell template: `copier update` replaces this file.
"""Readiness of the sandbox pools this process runs, for `/readyz`.

`sandbox_ready(bus)` has the shape of the gateway's readiness factories: it
returns an async check that says None while every running pool can serve, or
why one cannot (for example: its workers keep failing to start).
"""

from ..core.readiness import Watched
from .pool import SandboxPool


def _problem_of(pool: SandboxPool) -> str | None:
    """A pool cannot serve while it has no worker and says why (workers keep failing)."""
    if pool.problem is None or pool.live_workers:
        return None
    return f"sandbox {pool.name}: {pool.problem}"


_pools: Watched[SandboxPool] = Watched(problem_of=_problem_of, name_of=lambda pool: pool.name)
track = _pools.track
untrack = _pools.untrack
sandbox_problems = _pools.problems
sandbox_ready = _pools.ready
