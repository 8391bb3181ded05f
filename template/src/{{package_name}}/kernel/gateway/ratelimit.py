# Owned by the monocell template: `copier update` replaces this file.
"""Rate limits per caller: over the rate answers 429 with Retry-After.

Two limits: per client address before authentication (so wrong keys and bad
tokens are limited too), then per authenticated subject, so one caller cannot
starve another. Behind a proxy the address is the proxy's unless
`trusted_proxies` names it.

Rates are written in `limits` notation ("20/second") and counted the way its
sliding-window counter counts: the hits of the current fixed window plus the
previous window's, weighted by how much of it the sliding window still covers.
With the default storage, `memory://`, the counts live in this process (each
worker counts on its own) in `InProcessCounter`, written here because `limits`'
async memory storage costs about 6 µs a hit (an async wrapper, a lock, expiry
bookkeeping), two hits a request: a tenth of the gateway's own cost. Shared
storages (redis://, memcached://...) go through `limits` itself; they need a
client library this service does not install, so `rate_limit_storage` refuses
them at start-up until it is added.
"""

import math
import time

from limits import RateLimitItem, parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from .problems import Problem


class InProcessCounter:
    """Hits per caller in this process, in two fixed windows (see the module doc).

    Memory stays bounded by the callers seen in the last two windows: when a
    new window starts, the current counts become the previous ones and the
    older ones are dropped. Swapped, not copied: the first hit of a window pays
    nothing for how many callers the last one had.
    """

    def __init__(self, item: RateLimitItem) -> None:
        self.amount = item.amount
        self.window = float(item.get_expiry())
        self.current_window = -1
        self.current: dict[str, int] = {}  # caller -> hits in the current window
        self.previous: dict[str, int] = {}  # caller -> hits in the previous window

    def hit(self, caller: str, now: float) -> float:
        """Count a hit and return 0.0, or refuse it and return the seconds to wait."""
        window, into = divmod(now, self.window)
        if window != self.current_window:
            self._roll(int(window))
        current = self.current.get(caller, 0)
        previous = self.previous.get(caller, 0)
        # The share of the previous window the sliding window still covers.
        weighted = current + previous * (1.0 - into / self.window)
        # As `limits` counts (so memory:// and a shared storage agree): the whole
        # hits of the sliding window, plus this one, at most the amount.
        if math.floor(weighted) + 1 <= self.amount:
            self.current[caller] = current + 1
            return 0.0
        if previous == 0 or current >= self.amount:  # only the current window counts
            return self.window - into
        # The previous window's weight falls as time passes: wait until the
        # weighted count is below the amount (never 0.0, which would mean "passed").
        wait = (weighted - self.amount) / previous * self.window
        return min(self.window - into, max(wait, 1e-6))

    def _roll(self, window: int) -> None:
        # Two windows or more without a hit: nothing carries over.
        self.previous = self.current if window == self.current_window + 1 else {}
        self.current = {}
        self.current_window = window


class RateLimiter:
    """One limit (`rate`, like "20/second") per caller, counted in `storage_uri`."""

    def __init__(self, rate: str, storage_uri: str) -> None:
        self.item = parse(rate)
        self.counter: InProcessCounter | None = None
        self.limiter: SlidingWindowCounterRateLimiter | None = None
        if storage_uri.startswith("memory://"):
            self.counter = InProcessCounter(self.item)
        else:
            storage = storage_from_string(f"async+{storage_uri}")
            self.limiter = SlidingWindowCounterRateLimiter(storage)

    async def hit(self, caller: str) -> None:
        """Count one request of `caller` (`address:...` or a subject); 429 when over the rate."""
        if self.counter is not None:
            wait = self.counter.hit(caller, time.monotonic())
            if wait:
                self._refuse(wait)
            return
        assert self.limiter is not None  # noqa: S101 - one of the two is always set
        if await self.limiter.hit(self.item, caller):
            return
        stats = await self.limiter.get_window_stats(self.item, caller)
        self._refuse(stats.reset_time - time.time())

    def _refuse(self, wait: float) -> None:
        retry_after = max(1, math.ceil(wait))
        raise Problem(
            429,
            f"rate limit of {self.item} exceeded; retry in {retry_after} s",
            reason="rate_limited",
            headers={"Retry-After": str(retry_after)},
        )
