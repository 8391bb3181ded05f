# Owned by the monocell template: `copier update` replaces this file.
"""The kernel: the only code cells share.

Everything under `kernel/` belongs to the monocell template and is replaced by
`copier update`. Your code lives in `cells/` (one package per cell) and your
configuration in `topology.toml`. The kernel never imports a cell; cells import
the kernel's public names from here.
"""

from .core.cell import (
    Cell,
    Context,
    On,
    Public,
    Risk,
)
from .core.contracts import (
    Command,
    Event,
    Message,
    Reply,
    message_type_of,
    reply_type_of,
)
from .core.errors import (
    BusError,
    DeadlineExceededError,
    OutageError,
    RejectedError,
    UnavailableError,
)
from .core.principal import ANONYMOUS, Principal
from .core.storage import Storage

__all__ = [
    "ANONYMOUS",
    "BusError",
    "Cell",
    "Command",
    "Context",
    "DeadlineExceededError",
    "Event",
    "Message",
    "On",
    "OutageError",
    "Principal",
    "Public",
    "RejectedError",
    "Reply",
    "Risk",
    "Storage",
    "UnavailableError",
    "message_type_of",
    "reply_type_of",
]
