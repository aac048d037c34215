"""Issue 12 item 4: rate limits counted cluster-wide in Redis
(``BEHOLDER_RATE_LIMIT_STORAGE_URL``), with the machine's real Redis and a private
``redis-server`` for the outage.

Two api instances sharing the storage spend one budget; a Redis that does not answer at
start-up stops the api with an error naming it (without its password); a Redis lost at run
time is replaced by per-instance counting (requests go on, limits still hold per instance)
until it is back."""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from beholder.api.app import create_app
from beholder.api.lifecycle import StartupFailed
from beholder.api.middleware import limit_storage
from beholder.api.middleware.rate_limit import RateLimiter
from beholder.config import Settings
from beholder.errors import RateLimitExceeded
from support.api import live_api
from support.polling import eventually, wait_until
from support.settings import make_settings
from support.tls import free_port

SHARED_REDIS = "redis://127.0.0.1:6379/0"


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


pytestmark = pytest.mark.skipif(not _listening(6379), reason="no Redis on 127.0.0.1:6379")


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test alone (tests share the machine's Redis)."""
    return f"beholder-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def cleanup(prefix: str) -> AsyncIterator[None]:
    yield
    storage = limit_storage.LimitStorage(SHARED_REDIS, prefix)
    await storage.shared.reset()  # the keys of this prefix only


class PrivateRedis:
    """A ``redis-server`` of this test on a free port, without persistence."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        args = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.proc = subprocess.Popen(
            [*args, "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: _listening(self.port), 10, "the private redis-server")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.usefixtures("cleanup")
async def test_two_instances_share_one_login_budget(tmp_path: Path, prefix: str) -> None:
    def settings(name: str) -> Settings:
        return make_settings(
            tmp_path / name,
            rate_limit_login="4/minute",
            rate_limit_storage_url=SHARED_REDIS,
            rate_limit_key_prefix=prefix,
        )

    wrong = {"username": "nobody", "password": "not-a-password-at-all"}
    async with live_api(settings("a")) as first, live_api(settings("b")) as second:
        for api in (first, first, second, second):
            r = await api.client.post("/api/auth/login", json=wrong)
            assert r.status_code == 401, r.text
        # The budget of this address is spent, on either instance.
        for api in (second, first):
            r = await api.client.post("/api/auth/login", json=wrong)
            assert r.status_code == 429, r.text
            error = r.json()["error"]
            assert error["code"] == "RATE_LIMIT_EXCEEDED"
            assert {"message", "severity", "correlationId"} <= set(error)
            assert int(r.headers["Retry-After"]) >= 1
        assert first.state.limiter.stats()["backend"] == "redis"


async def test_unreachable_redis_stops_the_api_with_a_clear_error(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    settings = make_settings(
        tmp_path, rate_limit_storage_url=f"redis://:sekrit-pass@127.0.0.1:{port}/0"
    )
    app = create_app(settings)
    with pytest.raises(StartupFailed) as caught:
        async with app.router.lifespan_context(app):
            pass  # pragma: no cover - start-up must fail
    message = str(caught.value)
    assert "rate-limit storage" in message
    assert f"redis://127.0.0.1:{port}/0" in message
    assert "BEHOLDER_RATE_LIMIT_STORAGE_URL" in message
    assert "sekrit" not in message


async def test_redis_lost_at_run_time_counts_per_instance_until_it_is_back(
    tmp_path: Path,
    private_redis: PrivateRedis,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limit_storage, "RETRY_INTERVAL", 0.2)
    settings = make_settings(
        tmp_path,
        rate_limit_refresh="3/minute",
        rate_limit_storage_url=private_redis.url,
        rate_limit_key_prefix=prefix,
    )
    one, two = RateLimiter(settings), RateLimiter(settings)
    await one.start()
    await two.start()
    await one.check_refresh("10.0.0.1", None)
    await two.check_refresh("10.0.0.1", None)

    private_redis.stop()
    # Lost: neither open (no limit) nor closed (every request refused) — each instance
    # counts on its own, from zero, so requests go on and a flood is still stopped.
    for _ in range(3):
        await one.check_refresh("10.0.0.1", None)
    with pytest.raises(RateLimitExceeded):
        await one.check_refresh("10.0.0.1", None)
    await two.check_refresh("10.0.0.1", None)  # the other instance has its own budget
    assert one.stats()["degraded"] is True and one.stats()["failovers"] >= 1

    # Back (empty, as a restarted Redis without persistence is): shared counting resumes.
    private_redis.start()

    async def back(limiter: RateLimiter) -> bool:
        await limiter.check_refresh(f"10.1.{uuid.uuid4().int % 250}.1", None)
        return not limiter.stats()["degraded"]

    await eventually(lambda: back(one), 15, "the first instance counting in Redis again")
    await eventually(lambda: back(two), 15, "the second instance counting in Redis again")
    await one.check_refresh("10.0.0.7", None)
    await one.check_refresh("10.0.0.7", None)
    await two.check_refresh("10.0.0.7", None)  # third of 3 for the address, cluster-wide
    with pytest.raises(RateLimitExceeded):
        await two.check_refresh("10.0.0.7", None)


def test_unknown_storage_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="memory:// or redis://"):
        limit_storage.LimitStorage("memcached://127.0.0.1:11211", "x")
