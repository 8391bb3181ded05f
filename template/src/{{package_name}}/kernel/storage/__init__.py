# Owned by the monocell template: `copier update` replaces this file.
"""Each cell's own database: engines, migrations, and the unit of work around a handler.

A cell that declares `Cell(storage=Storage(...))` gets a database of its own
(a SQLite file, or a schema in PostgreSQL) opened when the process starts; its
handlers run inside one transaction that also records the message as handled
(the inbox), the reply to an idempotency key, and the events to publish (the
outbox), which are relayed to the bus once the transaction commits.

Migrations (`storage.migrations`: upgrade, downgrade, status) are imported from
their module, not from here: they bring Alembic, a fifth of a second to import,
which a sandbox worker of a cell with storage never uses.
"""

from .database import CellDatabase, StorageError, open_database
from .outbox import OutboxRelay
from .unit_of_work import Relay, StoredCell, stored

__all__ = [
    "CellDatabase",
    "OutboxRelay",
    "Relay",
    "StorageError",
    "StoredCell",
    "open_database",
    "stored",
]
