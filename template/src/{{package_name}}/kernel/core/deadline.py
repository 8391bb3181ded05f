# Owned by the monocell template: `copier update` replaces this file.
"""Deadlines: when the sender of a message stops waiting, as epoch seconds.

Every envelope may carry one (`deadline`); the bus, the handler's context and
the sandbox worker all measure what is left of it. The arithmetic lives here,
in the kernel's lowest layer, so a sandbox worker can use it without importing
the bus (its metrics and tracing are a third of a worker's start).
"""

import time


def deadline_after(seconds: float) -> float:
    """The absolute deadline `seconds` from now, as the envelope carries it."""
    return time.time() + seconds


def expired(deadline: float | None) -> bool:
    """True when `deadline` has passed: the sender no longer waits for an answer."""
    return deadline is not None and deadline <= time.time()


def remaining(deadline: float | None) -> float | None:
    """Seconds left until `deadline` (never negative), or None without one."""
    if deadline is None:
        return None
    return max(0.0, deadline - time.time())
