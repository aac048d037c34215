"""The login back-off grows per failure of one (address, username) and stops at its cap;
other addresses and usernames are unaffected (issue 9, finding 2). No timing assertions:
the waits are read from the Retry-After the limiter computes."""

from __future__ import annotations

import pytest

from beholder.api.middleware.rate_limit import RateLimiter
from beholder.config import Settings
from beholder.errors import RateLimitExceeded


async def _retry_after(limiter: RateLimiter, ip: str, user: str) -> int | None:
    try:
        await limiter.check_login(ip, user)
    except RateLimitExceeded as exc:
        return int(exc.headers["Retry-After"])
    return None


async def test_backoff_doubles_per_failure_up_to_the_cap() -> None:
    limiter = RateLimiter(
        Settings(
            rate_limit_login="1000/minute",
            login_failures_allowed=3,
            login_backoff_initial=100.0,
            login_backoff_max=700.0,
        )
    )
    waits = []
    for _ in range(7):
        await limiter.login_failed("10.0.0.1", "Admin")
        waits.append(await _retry_after(limiter, "10.0.0.1", "admin"))
    assert waits[:2] == [None, None]  # two failures are free, the third starts the back-off
    assert [w is not None and w > 0 for w in waits[2:]] == [True] * 5
    # 100, 200, 400, then capped at 700 (a second may have passed: ceil of what is left)
    assert [round(w, -2) for w in waits[2:] if w] == [100, 200, 400, 700, 700]
    assert await _retry_after(limiter, "10.0.0.2", "admin") is None
    assert await _retry_after(limiter, "10.0.0.1", "viewer") is None
    await limiter.login_succeeded("10.0.0.1", "admin")
    assert await _retry_after(limiter, "10.0.0.1", "admin") is None


async def test_refresh_counts_per_address_and_per_subject() -> None:
    limiter = RateLimiter(Settings(rate_limit_refresh="2/minute"))
    await limiter.check_refresh("10.0.0.1", None)
    await limiter.check_refresh("10.0.0.1", None)
    with pytest.raises(RateLimitExceeded):
        await limiter.check_refresh("10.0.0.1", None)
    await limiter.check_refresh("10.0.0.2", "user-a")
    await limiter.check_refresh("10.0.0.3", "user-a")
    with pytest.raises(RateLimitExceeded):
        await limiter.check_refresh("10.0.0.4", "user-a")
    await limiter.check_refresh("10.0.0.4", "user-b")
