"""Rate limits per client IP, per principal, on login and on token refresh, and the login
back-off after wrong passwords, using ``limits`` (moving window), counted in the storage of
``rate_limit_storage_url`` (:mod:`.limit_storage`: per api instance in memory, or cluster-wide
in Redis).

No limit is keyed on something an anonymous caller can name for someone else: login attempts
count per address, wrong passwords per (address, username), refreshes per address and per
the subject of a correctly signed refresh token. One address therefore cannot lock another
address out of a user's login, nor block refresh for everyone.
"""

from __future__ import annotations

import math
import time
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter

from beholder.api.middleware.limit_storage import LimitStorage
from beholder.config import Settings, reveal
from beholder.errors import RateLimitExceeded

_MAX_DOUBLINGS = 40  # 2**40 × any initial back-off is past every cap; avoids huge floats


class RateLimiter:
    """Checks and counts requests; raises ``RateLimitExceeded`` with a Retry-After (s).

    ``start()`` before use (raises
    :class:`~beholder.api.middleware.limit_storage.RateLimitStorageUnavailable` when a shared
    storage does not answer); ``stats()`` says where the counting happens."""

    def __init__(self, settings: Settings) -> None:
        self.storage = LimitStorage(
            reveal(settings.rate_limit_storage_url) or "memory://", settings.rate_limit_key_prefix
        )
        self.per_ip: RateLimitItem = parse(settings.rate_limit_per_ip)
        self.per_principal: RateLimitItem = parse(settings.rate_limit_per_principal)
        self.login: RateLimitItem = parse(settings.rate_limit_login)
        self.refresh: RateLimitItem = parse(settings.rate_limit_refresh)
        self.failures_allowed = settings.login_failures_allowed
        self.backoff_initial = settings.login_backoff_initial
        self.backoff_max = settings.login_backoff_max
        self.failure_window = settings.login_failure_window

    async def start(self) -> None:
        """Check the shared storage answers (a no-op in memory)."""
        await self.storage.start()

    def stats(self) -> dict[str, Any]:
        """Where the limits are counted: ``{"backend", "degraded", "failovers"}``."""
        return self.storage.stats()

    async def hit(self, item: RateLimitItem, *key: str) -> None:
        """Count one request for ``key`` under ``item``; raises when over the limit."""

        async def op(_: Storage, limiter: MovingWindowRateLimiter) -> float | None:
            if await limiter.hit(item, *key):
                return None
            return (await limiter.get_window_stats(item, *key)).reset_time

        reset = await self.storage.run(op)
        if reset is not None:
            raise RateLimitExceeded(_seconds_until(reset), detail=f"rate limit {item} for {key[0]}")

    async def check_ip(self, ip: str) -> None:
        await self.hit(self.per_ip, "ip", ip)

    async def check_principal(self, principal_key: str) -> None:
        await self.hit(self.per_principal, "principal", principal_key)

    async def check_login(self, ip: str, username: str) -> None:
        """Before a password is checked: count the attempt against the address (spraying),
        and refuse while (address, username) is backing off after wrong passwords."""
        await self.hit(self.login, "login-ip", ip)
        lock = _lock_key(ip, username)

        async def locked_until(storage: Storage, _: MovingWindowRateLimiter) -> float | None:
            return await storage.get_expiry(lock) if await storage.get(lock) > 0 else None

        until = await self.storage.run(locked_until)
        if until is not None:
            raise RateLimitExceeded(
                _seconds_until(until), detail=f"login back-off for {username!r} from {ip}"
            )

    async def login_failed(self, ip: str, username: str) -> None:
        """Count a wrong password; from the ``login_failures_allowed``-th failure on, each
        one locks (address, username) for ``backoff_initial × 2^k`` seconds, at most
        ``backoff_max``. Failures are forgotten ``failure_window`` s after the first."""

        async def count(storage: Storage, _: MovingWindowRateLimiter) -> None:
            # Whole seconds: Redis expiries are integers (a back-off is rounded up).
            failures = await storage.incr(_fail_key(ip, username), math.ceil(self.failure_window))
            if failures < self.failures_allowed:
                return
            doublings = min(failures - self.failures_allowed, _MAX_DOUBLINGS)
            delay = min(self.backoff_max, self.backoff_initial * 2**doublings)
            lock = _lock_key(ip, username)
            await storage.clear(lock)
            await storage.incr(lock, math.ceil(delay))

        await self.storage.run(count)

    async def login_succeeded(self, ip: str, username: str) -> None:
        """A correct password clears the failures of (address, username)."""

        async def forget(storage: Storage, _: MovingWindowRateLimiter) -> None:
            await storage.clear(_fail_key(ip, username))
            await storage.clear(_lock_key(ip, username))

        await self.storage.run(forget)

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
