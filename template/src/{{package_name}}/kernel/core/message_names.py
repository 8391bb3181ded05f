# Owned by the monocell template: `copier update` replaces this file.
"""A cell's own messages carry its name: `<cell>.Name.vN`.

The type says who owns a message. The bus lets a handler publish only events
named after its cell, and the NATS users that `topology deploy` writes grant
each process its cells' subjects by that prefix. `cell check` reports a
misnamed message up front, instead of a refusal the first time it is sent.
"""

from .cell import Cell
from .contracts import Event, message_type_of


def defined_events(package: str) -> list[type[Event]]:
    """Every imported event class defined inside `package` (a module or its submodules)."""
    found: list[type[Event]] = []
    pending = list(Event.__subclasses__())
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        inside = cls.__module__ == package or cls.__module__.startswith(f"{package}.")
        if inside and "message_type" in vars(cls):
            found.append(cls)
    return sorted(found, key=message_type_of)


def misnamed_messages(cell: Cell, cell_package: str) -> list[str]:
    """One line per command the cell answers, or event it defines, not named `<cell>.…`."""
    prefix = f"{cell.name}."
    problems = [
        f"answers {message_type_of(command)}; name it {prefix}{command.__name__}.v1 or similar"
        for command in cell.commands
        if not message_type_of(command).startswith(prefix)
    ]
    problems += [
        f"defines event {message_type_of(event)}; only events named {prefix}… can be published"
        for event in defined_events(cell_package)
        if not message_type_of(event).startswith(prefix)
    ]
    return problems
