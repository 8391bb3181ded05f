# Owned by the monocell template: `copier update` replaces this file.
"""What a cell declares about its own data: its tables and its migrations.

    from . import tables

    cell = Cell(
        name="orders",
        ...,
        storage=Storage(tables.metadata, migrations=f"{__name__}.migrations"),
    )

The tables are SQLAlchemy Core tables on the cell's own `MetaData`; the
migrations are an Alembic versions package inside the cell, so they move with
it. Which database the cell gets (a SQLite file of its own, or its own schema
in PostgreSQL) is decided by topology.toml, never by the cell.
"""

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when checked: a cell with storage imported it already
    from sqlalchemy import MetaData

# Tables whose names start with this belong to the kernel (outbox, inbox, ...).
KERNEL_TABLE_PREFIX = "kernel_"
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


@dataclass(frozen=True)
class Storage:
    """A cell's tables and the package holding its migration scripts."""

    metadata: "MetaData"
    migrations: str

    def __post_init__(self) -> None:
        from sqlalchemy import MetaData

        if not isinstance(self.metadata, MetaData):
            raise TypeError(f"Storage(...): expected a sqlalchemy MetaData, got {self.metadata!r}")
        if not isinstance(self.migrations, str) or not _DOTTED.match(self.migrations):
            raise ValueError(
                "Storage(...): migrations must name a package, like "
                f"f'{{__name__}}.migrations', got {self.migrations!r}"
            )
        for name in self.metadata.tables:
            if name.startswith(KERNEL_TABLE_PREFIX):
                raise ValueError(
                    f"Storage(...): table {name!r}: names starting with "
                    f"{KERNEL_TABLE_PREFIX!r} are the kernel's"
                )

    def versions_directory(self) -> Path:
        """The directory of the cell's migration scripts (`<migrations>/versions`)."""
        spec = importlib.util.find_spec(self.migrations)
        if spec is None or not spec.submodule_search_locations:
            raise LookupError(f"no migrations package {self.migrations!r}")
        return Path(next(iter(spec.submodule_search_locations))) / "versions"
