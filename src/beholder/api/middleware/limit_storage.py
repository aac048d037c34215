"""Where the rate limits are counted: in memory (one api instance) or in a shared Redis
(every api instance of a cluster spends the same budget), through ``limits``' storages.

A shared storage that is unreachable at start-up stops the api with a clear error
(:meth:`LimitStorage.start`). One lost at run time is replaced, for
:data:`RETRY_INTERVAL` s at a time, by a local in-memory storage: the limits then hold per
instance instead of cluster-wide. Neither failing open (no limit at all: a Redis outage
would switch off the login back-off, the one brake on password guessing) nor failing closed
(every request refused: a Redis outage would take the whole api down with it) — the cluster
keeps serving and every instance keeps its own brakes until Redis is back.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import structlog
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from beholder.errors import AppError, ErrorCode

log = structlog.get_logger(__name__)

T = TypeVar("T")

RETRY_INTERVAL = 5.0
"""Seconds between two attempts to go back to a lost shared storage (meanwhile: local)."""

TIMEOUT = 1.0
"""Seconds a shared-storage connection or command may take before it counts as lost."""

_SCHEMES = {"memory": "memory", "redis": "async+redis", "rediss": "async+rediss"}

Op = Callable[[Storage, MovingWindowRateLimiter], Awaitable[T]]
"""One counting operation, run against a storage and the moving-window limiter over it."""


class RateLimitStorageUnavailable(AppError):
    """The shared rate-limit storage did not answer at start-up."""

    code = ErrorCode.SERVICE_UNAVAILABLE


def describe(url: str) -> str:
    """``url`` without credentials (for logs and errors): ``redis://host:port/db``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class LimitStorage:
    """The shared storage of ``url`` (``memory://``, ``redis://…``, ``rediss://…``) with
    its local stand-in. ``key_prefix`` namespaces the keys in Redis.

    Raises ``ValueError`` for another scheme."""

    def __init__(self, url: str, key_prefix: str) -> None:
        scheme = urlsplit(url).scheme
        if scheme not in _SCHEMES:
            raise ValueError(f"rate-limit storage {describe(url)!r}: use memory:// or redis://")
        self.url = url
        self.backend = "memory" if scheme == "memory" else "redis"
        self.local: Storage = MemoryStorage()
        self._local_limiter = MovingWindowRateLimiter(self.local)
        if self.backend == "memory":
            self.shared: Storage = self.local
        else:
            async_url = _SCHEMES[scheme] + url[len(scheme) :]
            self.shared = RedisStorage(
                async_url,
                key_prefix=key_prefix,
                wrap_exceptions=True,
                connect_timeout=TIMEOUT,
                stream_timeout=TIMEOUT,
            )
        self._shared_limiter = MovingWindowRateLimiter(self.shared)
        self._down_until = 0.0
        self.failovers = 0
        """How many times the shared storage was found lost (since start-up)."""

    async def start(self) -> None:
        """Check the shared storage answers; raises :class:`RateLimitStorageUnavailable`
        naming it (without credentials) when it does not."""
        if self.backend == "memory":
            return
        try:
            ok = await self.shared.check()
        except Exception:  # check() swallows most errors itself; any other is the same no
            ok = False
        if not ok:
            raise RateLimitStorageUnavailable(
                "The rate-limit storage is not answering.",
                detail=f"the rate-limit storage {describe(self.url)} is not answering "
                "(BEHOLDER_RATE_LIMIT_STORAGE_URL)",
            )
        log.info("rate limits counted in shared storage", storage=describe(self.url))

    @property
    def degraded(self) -> bool:
        """True while the shared storage is lost and limits hold per instance."""
        return time.monotonic() < self._down_until

    def stats(self) -> dict[str, Any]:
        """``{"backend": "memory"|"redis", "degraded", "failovers"}``."""
        return {"backend": self.backend, "degraded": self.degraded, "failovers": self.failovers}

    async def run(self, op: Op[T]) -> T:
        """``op`` on the shared storage; on the local one when the shared one fails (or
        failed less than :data:`RETRY_INTERVAL` s ago)."""
        if self.shared is not self.local and not self.degraded:
            try:
                return await op(self.shared, self._shared_limiter)
            except (StorageError, OSError, TimeoutError) as exc:
                self._down_until = time.monotonic() + RETRY_INTERVAL
                self.failovers += 1
                log.warning(
                    "rate-limit storage lost: counting per instance",
                    storage=describe(self.url),
                    error=type(exc).__name__,
                    retry_in_s=RETRY_INTERVAL,
                )
        return await op(self.local, self._local_limiter)
