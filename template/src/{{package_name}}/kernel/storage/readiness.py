# Owned by the monocell template: `copier update` replaces this file.
"""Readiness of the cells' databases this process uses, for `/readyz`.

A database's `problem` is set when a transaction cannot reach it and cleared
when one does; each cell's outbox relay opens one every second, so the check
follows the database without connecting itself (a probe that connects would
hang for the driver's timeout while the database is down).
"""

import weakref
from collections.abc import Awaitable, Callable

from .database import CellDatabase

_open: "weakref.WeakSet[CellDatabase]" = weakref.WeakSet()


def track(database: CellDatabase) -> None:
    """Count `database` in the readiness check until `untrack`."""
    _open.add(database)


def untrack(database: CellDatabase) -> None:
    _open.discard(database)


def storage_problems() -> list[str]:
    """Why databases cannot be reached; empty when they all can."""
    return [
        database.problem
        for database in sorted(_open, key=lambda database: database.cell)
        if database.problem is not None
    ]


def storage_ready(bus: object = None) -> Callable[[], Awaitable[str | None]]:
    """The `/readyz` check: None while every cell's database answers, else the reason."""

    async def check() -> str | None:
        problems = storage_problems()
        return "; ".join(problems) if problems else None

    return check
