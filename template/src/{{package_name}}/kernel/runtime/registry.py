# Owned by the monocell template: `copier update` replaces this file.
"""Reads the composition root and checks the cells it lists fit together.

The kernel may not import cells (import-linter forbids it), so it reaches the
owner's `app.CELLS` by name at run time, once, from here.
"""

import importlib
from collections.abc import Sequence

from ..core.cell import Cell
from ..core.contracts import message_type_of

PACKAGE = __name__.partition(".")[0]
COMPOSITION_ROOT = f"{PACKAGE}.app"


def check_cells(cells: Sequence[Cell]) -> tuple[Cell, ...]:
    """Refuse duplicate cell names and commands answered by more than one cell."""
    names: set[str] = set()
    handled_by: dict[str, str] = {}
    for cell in cells:
        if cell.name in names:
            raise ValueError(f"cell {cell.name!r} is listed twice in the composition root")
        names.add(cell.name)
        for command in cell.commands:
            message_type = message_type_of(command)
            other = handled_by.setdefault(message_type, cell.name)
            if other != cell.name:
                raise ValueError(
                    f"command {message_type} is handled by both {other!r} and {cell.name!r}"
                )
    return tuple(cells)


def load_cells() -> tuple[Cell, ...]:
    """Import the composition root and return its checked cells."""
    module = importlib.import_module(COMPOSITION_ROOT)
    return check_cells(module.CELLS)
