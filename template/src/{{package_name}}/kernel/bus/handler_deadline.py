# Owned by the monocell template: `copier update` replaces this file.
"""Command handlers' deadlines: a handler is cancelled when its sender stops waiting.

One timer for all of them. A timer per call (`asyncio.timeout`, or even a bare
`call_later`) cost a quarter of an in-process command's round trip
(benchmarks/bus.py: about 16 us with one, 12 us without), yet deadlines rarely
fire. Here the timer is armed for the earliest deadline in flight and moved
only when an earlier one arrives: with one default timeout every call finishes
long before it, so it fires about once per timeout, finds nothing late, and is
armed again. Telling the deadline's cancellation from anyone else's follows
`asyncio.timeout`: `Task.cancelling()` on entry, `Task.uncancel()` when fired.
"""

import asyncio
import math
from types import TracebackType


class Deadlines:
    """The deadlines of the handlers running in one event loop."""

    def __init__(self) -> None:
        self._running: set[Deadline] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = math.inf  # the timer's time (kept: `TimerHandle.when()` is a call)

    def limit(self, seconds: float | None) -> "Deadline":
        """`with deadlines.limit(s):` raises TimeoutError if the block outlives `s` seconds.

        None means no deadline. As with `asyncio.timeout`, only an `await` in
        the block can be interrupted.
        """
        return Deadline(self, seconds)

    def add(self, deadline: "Deadline") -> None:
        self._running.add(deadline)
        if deadline.when < self._armed_for:
            self._arm(deadline.when)

    def remove(self, deadline: "Deadline") -> None:
        self._running.discard(deadline)  # the timer stays: it finds nothing late, then re-arms

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(when, self._expire)
        self._armed_for = when

    def _expire(self) -> None:
        self._timer = None
        self._armed_for = math.inf
        now = asyncio.get_running_loop().time()
        for deadline in [d for d in self._running if d.when <= now]:
            self._running.discard(deadline)
            deadline.fire()
        if self._running:
            self._arm(min(deadline.when for deadline in self._running))


class Deadline:
    """One handler's deadline, entered as a context manager around its `await`."""

    __slots__ = ("_cancelling", "_fired", "_owner", "_task", "when")

    def __init__(self, owner: Deadlines, seconds: float | None) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop at all
            raise RuntimeError("a handler deadline needs a running task") from None
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("a handler deadline needs a running task")
        self._owner, self._task, self._fired = owner, task, False
        self._cancelling = task.cancelling()
        # In the event loop's clock; never, without a deadline.
        self.when = math.inf if seconds is None else loop.time() + seconds

    def fire(self) -> None:
        self._fired = True
        self._task.cancel()

    def __enter__(self) -> "Deadline":
        if self.when != math.inf:
            self._owner.add(self)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.when != math.inf:
            self._owner.remove(self)
        # Ours, and only ours, when no other cancellation of the task is pending.
        fired_alone = self._fired and self._task.uncancel() <= self._cancelling
        if fired_alone and kind is asyncio.CancelledError:
            raise TimeoutError from error
