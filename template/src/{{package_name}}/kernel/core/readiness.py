# Owned by the monocell template: `copier update` replaces this file.
"""Parts of a running process whose problems `/readyz` reports (sandbox pools, databases).

Each kind of part keeps one `Watched`: parts are tracked while they run (held
weakly, so a part that is gone drops out) and asked for their problem when the
check runs, in the order of their names. `ready` has the shape of the gateway's
readiness factories (`build_app(readiness=...)`).
"""

import weakref
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Watched(Generic[T]):
    """The running parts of one kind, and how each says what is wrong with it."""

    def __init__(self, problem_of: Callable[[T], str | None], name_of: Callable[[T], str]):
        self._parts: weakref.WeakSet[T] = weakref.WeakSet()
        self._problem_of = problem_of
        self._name_of = name_of

    def track(self, part: T) -> None:
        """Count `part` in the readiness check until `untrack`."""
        self._parts.add(part)

    def untrack(self, part: T) -> None:
        self._parts.discard(part)

    def problems(self) -> list[str]:
        """Why tracked parts cannot serve; empty when they all can."""
        found = (self._problem_of(part) for part in sorted(self._parts, key=self._name_of))
        return [problem for problem in found if problem is not None]

    def ready(self, bus: object = None) -> Callable[[], Awaitable[list[str]]]:
        """The `/readyz` check: why tracked parts cannot serve, empty while they all can."""

        async def check() -> list[str]:
            return self.problems()

        return check
