# Owned by the monocell template: `copier update` replaces this file.
"""Rate limits per caller with `limits`: over the rate answers 429 with Retry-After.

Two limits: per client address before authentication (so wrong keys and bad
tokens are limited too), then per authenticated subject, so one caller cannot
starve another. Behind a proxy the address is the proxy's unless
`trusted_proxies` names it.
The storage is this process's memory (each worker counts on its own). Other
`limits` storages (redis://, memcached://...) need a client library this service
does not install: `rate_limit_storage` refuses them at start-up until it is added.
"""

import math
import time

from limits import parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from .problems import Problem


class RateLimiter:
    """Counts hits per caller in a sliding window."""

    def __init__(self, rate: str, storage_uri: str) -> None:
        self.item = parse(rate)
        storage = storage_from_string(f"async+{storage_uri}")
        self.limiter = SlidingWindowCounterRateLimiter(storage)

    async def hit(self, caller: str) -> None:
        """Count one request of `caller` (`address:...` or a subject); 429 when over the rate."""
        if await self.limiter.hit(self.item, caller):
            return
        stats = await self.limiter.get_window_stats(self.item, caller)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise Problem(
            429,
            f"rate limit of {self.item} exceeded; retry in {retry_after} s",
            reason="rate_limited",
            headers={"Retry-After": str(retry_after)},
        )
