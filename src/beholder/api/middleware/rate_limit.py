"""Rate limits per client IP, per principal, on login and on token refresh, and the login
back-off after wrong passwords, using ``limits`` (moving window, in memory per api instance).

No limit is keyed on something an anonymous caller can name for someone else: login attempts
count per address, wrong passwords per (address, username), refreshes per address and per
the subject of a correctly signed refresh token. One address therefore cannot lock another
address out of a user's login, nor block refresh for everyone.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from beholder.config import Settings
from beholder.errors import RateLimitExceeded

_MAX_DOUBLINGS = 40  # 2**40 × any initial back-off is past every cap; avoids huge floats


class RateLimiter:
    """Checks and counts requests; raises ``RateLimitExceeded`` with a Retry-After (s)."""

    def __init__(self, settings: Settings) -> None:
        self._storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self._storage)
        self.per_ip: RateLimitItem = parse(settings.rate_limit_per_ip)
        self.per_principal: RateLimitItem = parse(settings.rate_limit_per_principal)
        self.login: RateLimitItem = parse(settings.rate_limit_login)
        self.refresh: RateLimitItem = parse(settings.rate_limit_refresh)
        self.failures_allowed = settings.login_failures_allowed
        self.backoff_initial = settings.login_backoff_initial
        self.backoff_max = settings.login_backoff_max
        self.failure_window = settings.login_failure_window

    async def hit(self, item: RateLimitItem, *key: str) -> None:
        """Count one request for ``key`` under ``item``; raises when over the limit."""
        if await self._limiter.hit(item, *key):
            return
        stats = await self._limiter.get_window_stats(item, *key)
        raise RateLimitExceeded(
            _seconds_until(stats.reset_time), detail=f"rate limit {item} for {key[0]}"
        )

    async def check_ip(self, ip: str) -> None:
        await self.hit(self.per_ip, "ip", ip)

    async def check_principal(self, principal_key: str) -> None:
        await self.hit(self.per_principal, "principal", principal_key)

    async def check_login(self, ip: str, username: str) -> None:
        """Before a password is checked: count the attempt against the address (spraying),
        and refuse while (address, username) is backing off after wrong passwords."""
        await self.hit(self.login, "login-ip", ip)
        lock = _lock_key(ip, username)
        if await self._storage.get(lock) > 0:
            raise RateLimitExceeded(
                _seconds_until(await self._storage.get_expiry(lock)),
                detail=f"login back-off for {username!r} from {ip}",
            )

    async def login_failed(self, ip: str, username: str) -> None:
        """Count a wrong password; from the ``login_failures_allowed``-th failure on, each
        one locks (address, username) for ``backoff_initial × 2^k`` seconds, at most
        ``backoff_max``. Failures are forgotten ``failure_window`` s after the first."""
        failures = await self._storage.incr(_fail_key(ip, username), self.failure_window)
        if failures < self.failures_allowed:
            return
        doublings = min(failures - self.failures_allowed, _MAX_DOUBLINGS)
        delay = min(self.backoff_max, self.backoff_initial * 2**doublings)
        lock = _lock_key(ip, username)
        await self._storage.clear(lock)
        await self._storage.incr(lock, delay)

    async def login_succeeded(self, ip: str, username: str) -> None:
        """A correct password clears the failures of (address, username)."""
        await self._storage.clear(_fail_key(ip, username))
        await self._storage.clear(_lock_key(ip, username))

    async def check_refresh(self, ip: str, subject: str | None) -> None:
        """Count a refresh against the address and, when the token is correctly signed,
        against its subject (``None``: a forged or malformed token counts only against the
        address that sent it)."""
        await self.hit(self.refresh, "refresh-ip", ip)
        if subject is not None:
            await self.hit(self.refresh, "refresh-sub", subject)


def _fail_key(ip: str, username: str) -> str:
    return f"login-fail/{ip}/{username.lower()}"


def _lock_key(ip: str, username: str) -> str:
    return f"login-lock/{ip}/{username.lower()}"


def _seconds_until(at: float) -> int:
    """Whole seconds (at least 1) from now until the unix time ``at``."""
    return max(1, math.ceil(at - time.time()))
