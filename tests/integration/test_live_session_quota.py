"""The per-principal live-view cap counted across workers, on a real ``nats-server -js``:
two workers' :class:`ClusterSessionQuota` share one KV entry per principal, so a user cannot
hold the cap on every worker; offers racing on both workers never pass it; a dead worker's
sessions stop counting once their claims lapse; a renewal brings back a claim lost while
the bucket was away."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from beholder.bus.kv import KvBucket, KvEntry
from beholder.bus.nats import NatsBus
from beholder.contracts.cluster import Buckets, PrincipalSessions, principal_key
from beholder.errors import ErrorCode
from beholder.worker.egress.errors import EgressRefused
from beholder.worker.egress.quota import ClusterSessionQuota
from support.cluster import PrivateNats

pytestmark = pytest.mark.slow

LIMIT = 3


class Clock:
    """Unix seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def bucket() -> AsyncIterator[KvBucket]:
    nats = PrivateNats()
    nats.start()
    bus = NatsBus(nats.url)
    try:
        await bus.start()
        yield await KvBucket.open(bus.jetstream(), Buckets.LIVE_SESSIONS, ttl=90)
    finally:
        await bus.close()
        nats.destroy()


def worker(bucket: KvBucket, worker_id: str, clock: Clock) -> ClusterSessionQuota:
    return ClusterSessionQuota(bucket, worker_id, LIMIT, ttl=30, clock=clock)


async def counted(bucket: KvBucket, principal: str) -> dict[str, str]:
    entry = await bucket.get(principal_key(principal))
    if entry is None:
        return {}
    stored = PrincipalSessions.from_bytes(entry.value).sessions
    return {sid: claim.worker_id for sid, claim in stored.items()}


async def test_the_cap_counts_every_workers_sessions_and_frees_a_slot_on_close(
    bucket: KvBucket,
) -> None:
    clock = Clock()
    w1, w2 = worker(bucket, "w1", clock), worker(bucket, "w2", clock)
    await w1.reserve("user:alice", "s1")
    await w1.reserve("user:alice", "s2")
    await w2.reserve("user:alice", "s3")
    await w2.reserve("user:bob", "s4")  # another principal has a cap of its own
    with pytest.raises(EgressRefused) as refused:
        await w2.reserve("user:alice", "s5")
    assert refused.value.code == ErrorCode.RATE_LIMIT_EXCEEDED
    assert "3 sessions in the cluster" in str(refused.value.detail)
    assert await counted(bucket, "user:alice") == {"s1": "w1", "s2": "w1", "s3": "w2"}

    await w1.release("user:alice", "s1")  # the viewer on w1 hung up
    await w2.reserve("user:alice", "s5")
    assert await counted(bucket, "user:alice") == {"s2": "w1", "s3": "w2", "s5": "w2"}
    await w1.release("user:alice", "unknown")  # a no-op, not an error


async def test_offers_racing_on_two_workers_never_pass_the_cap(bucket: KvBucket) -> None:
    clock = Clock()
    workers = [worker(bucket, "w1", clock), worker(bucket, "w2", clock)]

    async def offer(i: int) -> bool:
        try:
            await workers[i % 2].reserve("key:dashboard-wall", f"s{i}")
        except EgressRefused:
            return False
        return True

    results = await asyncio.gather(*(offer(i) for i in range(12)))
    assert sum(results) == LIMIT
    assert len(await counted(bucket, "key:dashboard-wall")) == LIMIT


async def test_a_dead_workers_sessions_stop_counting_when_their_claims_lapse(
    bucket: KvBucket,
) -> None:
    clock = Clock()
    dead, alive = worker(bucket, "w-dead", clock), worker(bucket, "w-alive", clock)
    for sid in ("s1", "s2", "s3"):
        await dead.reserve("user:carol", sid)
    clock.now += 20  # the survivor renews its (empty) claims; the dead one cannot
    await alive.renew({})
    with pytest.raises(EgressRefused):
        await alive.reserve("user:carol", "s4")
    clock.now += 11  # past the 30 s TTL of the dead worker's claims
    await alive.reserve("user:carol", "s4")
    assert await counted(bucket, "user:carol") == {"s4": "w-alive"}


async def test_a_renewal_extends_open_sessions_and_restores_a_lost_claim(
    bucket: KvBucket,
) -> None:
    clock = Clock()
    w1 = worker(bucket, "w1", clock)
    await w1.reserve("user:dave", "s1")
    assert not w1.renewal_due()
    clock.now += 11
    assert w1.renewal_due()
    await bucket.delete(principal_key("user:dave"))  # e.g. lapsed during a bus outage
    await w1.renew({"user:dave": ["s1", "s2"]})
    assert not w1.renewal_due()
    assert await counted(bucket, "user:dave") == {"s1": "w1", "s2": "w1"}
    clock.now += 25  # 36 s after the reserve, 25 s after the renewal: still counted
    await w1.renew({"user:dave": ["s1", "s2"]})
    entry = await bucket.get(principal_key("user:dave"))
    assert entry is not None
    claims = PrincipalSessions.from_bytes(entry.value).sessions
    assert {sid: c.expires_at for sid, c in claims.items()} == {
        "s1": clock.now + 30,
        "s2": clock.now + 30,
    }


class ReleasedAfterRead:
    """``inner`` for a renewal whose first read is followed, before it writes, by
    ``meanwhile()`` (another task changing the entry): the race a renewal must lose."""

    def __init__(self, inner: KvBucket, meanwhile: Callable[[], Awaitable[None]]) -> None:
        self.inner, self.meanwhile, self.raced = inner, meanwhile, False

    async def get(self, key: str) -> KvEntry | None:
        entry = await self.inner.get(key)
        if not self.raced:
            self.raced = True
            await self.meanwhile()
        return entry

    async def create(self, key: str, value: bytes) -> int | None:
        return await self.inner.create(key, value)

    async def update(self, key: str, value: bytes, last: int) -> int | None:
        return await self.inner.update(key, value, last)


async def test_a_session_closed_during_a_renewal_is_not_claimed_again(
    bucket: KvBucket,
) -> None:
    clock = Clock()
    w1 = worker(bucket, "w1", clock)
    await w1.reserve("user:erin", "s1")
    await w1.reserve("user:erin", "s2")
    sessions = {"s1", "s2"}

    async def close_s2() -> None:  # the viewer hangs up while the renewal is under way
        sessions.discard("s2")
        await w1.release("user:erin", "s2")

    clock.now += 11  # renewal due: every claim is rewritten
    renewing = ClusterSessionQuota(
        ReleasedAfterRead(bucket, close_s2),  # type: ignore[arg-type]
        "w1",
        LIMIT,
        ttl=30,
        clock=clock,
    )
    await renewing.renew({"user:erin": ["s1", "s2"]}, is_open=lambda sid: sid in sessions)
    assert await counted(bucket, "user:erin") == {"s1": "w1"}


async def test_a_malformed_entry_is_replaced_instead_of_blocking_the_principal(
    bucket: KvBucket,
) -> None:
    clock = Clock()
    await bucket.put(principal_key("user:erin"), b"{not json")
    await worker(bucket, "w1", clock).reserve("user:erin", "s1")
    assert await counted(bucket, "user:erin") == {"s1": "w1"}
