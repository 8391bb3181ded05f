# Owned by the monocell template: `copier update` replaces this file.
"""Readiness of the cells' databases this process uses, for `/readyz`.

A database's `problem` is set when a transaction cannot reach it and cleared
when one does; each cell's outbox relay opens one every second, so the check
follows the database without connecting itself (a probe that connects would
hang for the driver's timeout while the database is down). The relay's read
of the outbox also tells a database that answers but lost its tables
(`outbox_problem`): every handler's transaction would fail there too.
"""

from ..core.readiness import Watched
from .database import CellDatabase

_databases: Watched[CellDatabase] = Watched(
    problem_of=lambda database: database.problem or database.outbox_problem,
    name_of=lambda database: database.cell,
)
track = _databases.track
untrack = _databases.untrack
storage_problems = _databases.problems
storage_ready = _databases.ready
