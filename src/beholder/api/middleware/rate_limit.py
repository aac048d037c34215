"""Rate limits per client IP, per principal and (stricter) on login, using ``limits``
(moving window, in memory per api instance)."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from beholder.config import Settings
from beholder.errors import RateLimitExceeded


class RateLimiter:
    """Checks and counts requests; raises ``RateLimitExceeded`` with a Retry-After."""

    def __init__(self, settings: Settings) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.per_ip: RateLimitItem = parse(settings.rate_limit_per_ip)
        self.per_principal: RateLimitItem = parse(settings.rate_limit_per_principal)
        self.login: RateLimitItem = parse(settings.rate_limit_login)

    async def hit(self, item: RateLimitItem, *key: str) -> None:
        """Count one request for ``key`` under ``item``; raises when over the limit."""
        if await self._limiter.hit(item, *key):
            return
        stats = await self._limiter.get_window_stats(item, *key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimitExceeded(retry_after, detail=f"rate limit {item} for {key[0]}")

    async def check_ip(self, ip: str) -> None:
        await self.hit(self.per_ip, "ip", ip)

    async def check_principal(self, principal_key: str) -> None:
        await self.hit(self.per_principal, "principal", principal_key)

    async def check_login(self, ip: str, username: str) -> None:
        # Per IP and per username: stops both spraying and targeted guessing.
        await self.hit(self.login, "login-ip", ip)
        await self.hit(self.login, "login-user", username.lower())
