"""A distributed Beholder losing its parts, all real processes: ``beholder cluster up`` with
2 apis and 3 workers behind nginx, a private ``nats-server -js`` (restarted by one test),
a fresh PostgreSQL database, 12 cameras on the GStreamer RTSP fixture (real clips: 6 with
faces raising alerts, 6 of a street without faces). Short leases (``FAST_LEASES``: TTL 3 s).

The cluster is shared by the tests of this module (start-up costs ~30 s on 2 cores); each
test starts from 12 cameras PROCESSING and leaves every role running again.

* kill -9 of a worker: its cameras PROCESSING on the others; never a camera on two workers
  (the leases bucket watched throughout, and the RTSP server's playing clients sampled every
  0.2 s, each mapped to the worker process owning its TCP connection); alerts keep arriving
  on a dashboard connected to each api.
* SIGSTOP of a worker past its lease, then SIGCONT: its sessions stop (no RTSP client
  left), it publishes no alert after losing the leases, and none of its events is stored or
  broadcast (the cameras keep the new holder's worker id and status).
* nats-server restarted while alerts flow: every alert the workers published is stored
  once and received once on a dashboard.
* an api frozen then killed mid-stream: the messages it held unacknowledged are redelivered
  to the other api (every alert stored), and dashboards connected through the load balancer
  reconnect and replay what they missed.
* live views of one principal over two workers and two apis: the per-principal cap is the
  cluster's, not each worker's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiortc import RTCPeerConnection

from fixtures.rtsp_server import RtspServer
from support.cluster_probe import (
    DashboardSocket,
    LeaseWatch,
    leases,
    registered_workers,
    rtsp_holders,
)
from support.cluster_up import FAST_LEASES, LocalCluster
from support.live import open_viewer, whep_offer_sdp
from support.polling import eventually

pytestmark = [
    pytest.mark.rtsp,
    pytest.mark.slow,
    pytest.mark.timeout(400),
    pytest.mark.asyncio(loop_scope="module"),
]

FACES = [f"f{i}" for i in range(1, 7)]  # 3 x two faces, 3 x people walking: alerts
STREET = [f"s{i}" for i in range(1, 7)]  # no faces, detection off
LIVE_VIEW_CAP = 2  # BEHOLDER_WEBRTC_MAX_SESSIONS_PER_PRINCIPAL of every worker
LEASE_TTL = float(FAST_LEASES["BEHOLDER_CLUSTER_LEASE_TTL"])


class World:
    """The module's cluster, RTSP server, cameras (mount → id) and a log of sampled
    violations (a mount played by two live workers at once)."""

    def __init__(self, cluster: LocalCluster, rtsp: RtspServer, cameras: dict[str, str]):
        self.cluster = cluster
        self.rtsp = rtsp
        self.cameras = cameras
        self.mount_of = {cid: mount for mount, cid in cameras.items()}
        self.double_holds: list[str] = []
        # Workers the sampler leaves out: a frozen one keeps its TCP connections open
        # (the RTSP server drops them only when their session times out) without holding
        # any lease; the SIGSTOP test checks that it closes them once it runs again.
        self.ignored: set[str] = set()
        self._sampler: asyncio.Task[None] | None = None

    def live_workers(self) -> dict[str, int]:
        return {r.name: r.pid for r in self.cluster.state().of_role("worker") if r.pid}

    def holders(self) -> dict[str, set[str]]:
        return rtsp_holders(self.rtsp, self.live_workers())

    def start_sampling(self) -> None:
        async def sample() -> None:
            while True:
                for mount, names in (await asyncio.to_thread(self.holders)).items():
                    live = {n for n in names if not n.startswith("?")} - self.ignored
                    if len(live) > 1:
                        self.double_holds.append(f"{time.time():.1f} {mount}: {sorted(live)}")
                await asyncio.sleep(0.2)

        self._sampler = asyncio.create_task(sample())

    async def stop_sampling(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler

    async def leases(self) -> dict[str, Any]:
        return await leases(self.cluster.nats.url)

    async def by_worker(self) -> dict[str, set[str]]:
        """worker id → the camera ids it holds a lease on."""
        out: dict[str, set[str]] = {}
        for cid, lease in (await self.leases()).items():
            out.setdefault(lease.worker_id, set()).add(cid)
        return out

    async def all_processing(self, timeout: float = 90.0) -> dict[str, dict[str, Any]]:
        """Until every camera is PROCESSING in the REST API *reported by its lease holder*
        (right after a kill the database still says PROCESSING from the dead worker)."""
        seen: dict[str, dict[str, Any]] = {}
        holders: dict[str, str] = {}

        async def settled() -> bool:
            seen.update(await self.cluster.cameras())
            holders.clear()
            holders.update({cid: lease.worker_id for cid, lease in (await self.leases()).items()})
            return all(
                seen.get(cid, {}).get("status") == "PROCESSING"
                and seen[cid].get("workerId") == holders.get(cid)
                for cid in self.cameras.values()
            )

        def why() -> str:
            return str(
                {
                    self.mount_of[cid]: (
                        seen.get(cid, {}).get("status"),
                        seen.get(cid, {}).get("workerId"),
                        holders.get(cid),
                    )
                    for cid in self.cameras.values()
                }
            )

        await eventually(settled, timeout, lambda: f"PROCESSING by the holder: {why()}", every=0.3)
        return seen

    def published_alerts(self, since: float = 0.0) -> dict[str, dict[str, Any]]:
        """alert id → the worker's ``alert published`` record (every worker, every life),
        logged at or after unix time ``since``."""
        out: dict[str, dict[str, Any]] = {}
        for name in self.cluster.worker_names():
            for record in self.cluster.log_records(name, "alert published"):
                if _unix(record["timestamp"]) >= since:
                    out[record["alert_id"]] = {**record, "worker": name}
        return out


def _unix(timestamp: str) -> float:
    return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory,
    rtsp_server_factory: Callable[..., RtspServer],
    rtsp_media: dict[str, Path],
) -> AsyncIterator[World]:
    root = tmp_path_factory.mktemp("cluster-failover")
    clips = {"f1": "two", "f2": "two", "f3": "two", "f4": "walk", "f5": "walk", "f6": "walk"}
    mounts = {m: rtsp_media[clips[m]] for m in FACES} | {m: rtsp_media["street"] for m in STREET}
    rtsp = rtsp_server_factory(mounts, clients_path=root / "rtsp-clients.json")
    cluster = LocalCluster(
        root,
        apis=2,
        workers=3,
        **FAST_LEASES,
        # Cameras stay where failover put them: a revived worker gets new cameras only.
        BEHOLDER_CLUSTER_REBALANCE_MOVES_PER_MINUTE="0",
        BEHOLDER_WORKER_ALERT_COOLDOWN="1",
        BEHOLDER_WEBRTC_MAX_SESSIONS_PER_PRINCIPAL=str(LIVE_VIEW_CAP),
        BEHOLDER_WEBRTC_HOSTS="127.0.0.1",
    )
    try:
        await cluster.start()
        await eventually(
            lambda: _all_registered(cluster), 30, "the 3 workers in the registry", every=0.3
        )
        cameras = {}
        for mount in FACES + STREET:
            cameras[mount] = await cluster.add_camera(mount, rtsp.url(mount), faces=mount in FACES)
        world = World(cluster, rtsp, cameras)
        await world.all_processing(timeout=120)
        world.start_sampling()
        yield world
        await world.stop_sampling()
    finally:
        await cluster.stop()


async def _all_registered(cluster: LocalCluster) -> bool:
    return len(await registered_workers(cluster.nats.url)) == 3


@pytest_asyncio.fixture(loop_scope="module")
async def healthy(world: World) -> AsyncIterator[World]:
    """Each test starts and ends with every role alive and every camera PROCESSING."""
    await world.all_processing()
    yield world
    if world.cluster.proc is not None:
        for role in world.cluster.state().roles:
            if role.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(role.pid, signal.SIGCONT)
        await world.cluster.revive()
        await eventually(
            lambda: _all_registered(world.cluster), 30, "3 workers registered again", every=0.3
        )
        await world.all_processing()


async def _dashboards(world: World) -> list[DashboardSocket]:
    sockets = [
        DashboardSocket(world.cluster.api_url(name), world.cluster.token)
        for name in ("api-1", "api-2")
    ]
    for s in sockets:
        s.start()
    await eventually(
        lambda: all(s.connections for s in sockets), 20, "a dashboard on each api connected"
    )
    return sockets


async def test_a_killed_workers_cameras_move_and_no_camera_is_ever_on_two_workers(
    healthy: World,
) -> None:
    world = healthy
    held = await world.by_worker()
    assert len(held) >= 2, f"12 cameras on one worker: {held}"
    assert sum(len(c) for c in held.values()) == 12
    rest = await world.cluster.cameras()
    for worker, cameras in held.items():
        for cid in cameras:
            assert rest[cid]["workerId"] == worker, rest[cid]
    # The victim holds a camera with faces, so alerts come from a moved camera too.
    face_ids = {world.cameras[m] for m in FACES}
    victim = max(held, key=lambda w: (len(held[w] & face_ids) > 0, len(held[w])))
    moved = held[victim]

    watch = LeaseWatch(world.cluster.nats.url)
    await watch.start()
    dashboards = await _dashboards(world)
    # A renewal of each lease seen live (the initial values carry no time of their own).
    await eventually(
        lambda: len({c[0] for c in watch.changes[12:]}) == 12, 20, "every lease renewed"
    )
    try:
        world.cluster.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        seen_before = [len(s.alert_ids) for s in dashboards]

        async def moved_elsewhere() -> bool:
            now = await world.leases()
            return all(cid in now and now[cid].worker_id != victim for cid in moved)

        await eventually(moved_elsewhere, 30, f"{len(moved)} leases of {victim} taken over")
        cams = await world.all_processing(timeout=45)
        failover = time.monotonic() - killed_at
        print(f"\nfailover of {len(moved)} cameras: {failover:.1f} s")
        now = await world.leases()
        for cid in moved:
            assert cams[cid]["workerId"] == now[cid].worker_id != victim
        for mount in (world.mount_of[cid] for cid in moved):
            await eventually(
                lambda mount=mount: len(world.holders().get(mount, set())) == 1,
                20,
                f"{mount} played by exactly one worker",
            )
        await eventually(
            lambda: all(len(s.alert_ids) > n for s, n in zip(dashboards, seen_before, strict=True)),
            60,
            lambda: (
                f"alerts after the kill on both apis' dashboards: {seen_before} -> "
                f"{[len(s.alert_ids) for s in dashboards]}"
            ),
        )
        assert watch.overlaps(LEASE_TTL) == []
        assert world.double_holds == []
    finally:
        for s in dashboards:
            await s.stop()
        await watch.stop()


async def test_a_frozen_worker_loses_its_leases_and_is_fenced_when_it_wakes(
    healthy: World,
) -> None:
    world = healthy
    held = await world.by_worker()
    face_ids = {world.cameras[m] for m in FACES}
    victim = max(held, key=lambda w: (len(held[w] & face_ids) > 0, len(held[w])))
    frozen = held[victim]
    mounts = {world.mount_of[cid] for cid in frozen}
    dashboards = await _dashboards(world)
    world.ignored.add(victim)
    try:
        world.cluster.kill(victim, signal.SIGSTOP)

        async def taken_over() -> bool:
            now = await world.leases()
            return all(cid in now and now[cid].worker_id != victim for cid in frozen)

        await eventually(taken_over, 30, f"the leases of the frozen {victim} taken over")
        new_holders = {cid: lease.worker_id for cid, lease in (await world.leases()).items()}
        await world.all_processing(timeout=45)
        woke_at = time.time()
        world.cluster.kill(victim, signal.SIGCONT)

        # It notices, stops its sessions: no RTSP client of it is left on those mounts.
        await eventually(
            lambda: (
                len(world.cluster.log_records(victim, "camera lease lost: stopping its session"))
                >= len(frozen)
            ),
            30,
            f"{victim} to notice it lost {len(frozen)} leases",
        )
        await eventually(
            lambda: not any(victim in world.holders().get(m, set()) for m in mounts),
            30,
            f"{victim}'s RTSP sessions closed",
        )
        # Nothing it published after losing the leases (none, if fencing works) is stored.
        late = world.published_alerts(since=woke_at)
        late_mine = {a for a, r in late.items() if r["worker"] == victim}
        assert late_mine == set(), late_mine
        stored = {a["id"] for a in await world.cluster.alerts()}
        assert not late_mine & stored
        # The cameras keep the new holder, its status, in the database and on the sockets.
        cams = await world.all_processing()
        for cid in frozen:
            assert cams[cid]["workerId"] == new_holders[cid] != victim
        for s in dashboards:
            wrong = [
                m
                for cid in frozen
                for m in s.statuses(cid)
                if m.get("workerId") == victim and m.get("timestamp", "") >= _iso(woke_at)
            ]
            assert wrong == [], wrong
        assert world.double_holds == []
        # Still none later: it does not start them again.
        assert not any(victim in names for names in world.holders().values())
    finally:
        world.ignored.discard(victim)
        for s in dashboards:
            await s.stop()


def _iso(unix: float) -> str:
    return datetime.datetime.fromtimestamp(unix, datetime.UTC).isoformat().replace("+00:00", "Z")


async def test_a_nats_restart_loses_and_duplicates_no_alert(healthy: World) -> None:
    world = healthy
    dashboard = DashboardSocket(world.cluster.url, world.cluster.token)
    dashboard.start()
    await eventually(lambda: dashboard.connections, 20, "a dashboard on the load balancer")
    since = time.time() + 1.0  # alerts published from here on must be received too
    try:
        await eventually(
            lambda: len(world.published_alerts(since)) >= 2, 60, "alerts flowing before"
        )
        world.cluster.nats.stop()
        world.cluster.nats.start()
        restarted = time.time()
        await eventually(
            lambda: any(
                _unix(r["timestamp"]) > restarted + 1
                for r in world.published_alerts(restarted).values()
            ),
            90,
            "alerts published again after the restart",
        )
        await world.all_processing(timeout=90)
        produced = set(world.published_alerts(since))

        async def all_stored() -> bool:
            stored = {a["id"] for a in await world.cluster.alerts()}
            return produced <= stored

        await eventually(all_stored, 60, "every published alert stored", every=0.5)
        await eventually(
            lambda: produced <= set(dashboard.alert_ids),
            30,
            lambda: f"every alert on the dashboard: missing {produced - set(dashboard.alert_ids)}",
        )
        stored = [a["id"] for a in await world.cluster.alerts()]
        assert len(stored) == len(set(stored))
        assert not dashboard.pushed_twice(), f"an alert pushed twice: {dashboard.deliveries}"
    finally:
        await dashboard.stop()


async def test_an_api_killed_mid_stream_loses_nothing_and_dashboards_replay(
    healthy: World,
) -> None:
    world = healthy
    # Through the load balancer (round robin): one dashboard lands on each api.
    dashboards = [DashboardSocket(world.cluster.url, world.cluster.token) for _ in range(2)]
    for s in dashboards:
        s.start()
        await eventually(lambda s=s: s.connections, 20, "a dashboard on the load balancer")
    since = time.time() + 1.0
    try:
        await eventually(lambda: len(world.published_alerts(since)) >= 1, 60, "alerts flowing")
        # Each dashboard has seen an alert: the id it replays from when it reconnects.
        await eventually(
            lambda: all(s.alert_ids for s in dashboards), 60, "an alert on each dashboard"
        )
        # Frozen first: api-1 keeps taking messages it never acknowledges, then dies.
        world.cluster.kill("api-1", signal.SIGSTOP)
        frozen_at = time.time()

        def published_while_frozen() -> bool:
            alerts = world.published_alerts(frozen_at).values()
            return sum(_unix(r["timestamp"]) > frozen_at for r in alerts) >= 2

        await eventually(published_while_frozen, 60, "alerts published while api-1 is frozen")
        world.cluster.kill("api-1", signal.SIGKILL)
        await world.cluster.wait_dead("api-1")
        produced = set(world.published_alerts(since))

        async def all_stored() -> bool:
            return produced <= {a["id"] for a in await world.cluster.alerts()}

        await eventually(all_stored, 60, "every alert stored (redelivered to api-2)", every=0.5)
        for s in dashboards:
            await eventually(
                lambda s=s: produced <= set(s.alert_ids),
                30,
                lambda s=s: f"missing on a dashboard: {produced - set(s.alert_ids)}",
            )
            assert not s.pushed_twice(), f"an alert pushed twice: {s.deliveries}"
        assert any(s.connections >= 2 for s in dashboards), "no dashboard was on api-1"
        assert any(s.replays for s in dashboards), "the reconnected dashboard did not replay"
    finally:
        for s in dashboards:
            await s.stop()


async def test_a_principals_live_views_are_capped_across_workers_and_apis(
    healthy: World,
) -> None:
    """The per-principal live-view cap holds for the whole cluster: sessions on one worker
    (through one api) count against an offer for a camera of another worker (through the
    other api); hanging one up frees the slot everywhere."""
    world = healthy

    async def spread() -> list[tuple[str, set[str]]] | None:
        # After the previous test's restarts one worker may hold every camera until the
        # gentle rebalance moves some (bounded moves per minute).
        held = sorted((await world.by_worker()).items())
        return held if len(held) >= 2 else None

    held = await eventually(spread, 90, "cameras on two workers", every=0.5)
    (_, on_first), (_, on_second) = held[0], held[1]
    cam_a, cam_b = sorted(on_first)[0], sorted(on_second)[0]
    token = await world.cluster.token()
    auth = {"Authorization": f"Bearer {token}"}
    viewers = []
    async with world.cluster.client(via="api-1") as api1, world.cluster.client(via="api-2") as api2:
        try:
            viewers = [await open_viewer(api1, cam_a, token) for _ in range(LIVE_VIEW_CAP)]
            pc = RTCPeerConnection()
            refused = await api2.post(
                f"/api/cameras/{cam_b}/whep",
                content=await whep_offer_sdp(pc),
                headers={"Content-Type": "application/sdp", **auth},
            )
            await pc.close()
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"

            hung_up = viewers.pop(0)
            assert hung_up.location is not None
            assert (await api1.delete(hung_up.location, headers=auth)).status_code == 200
            await hung_up.close()
            viewers.append(await open_viewer(api2, cam_b, token))
            await eventually(
                lambda: all(v.frames for v in viewers), 20, "frames on both workers' sessions"
            )
        finally:
            for viewer in viewers:
                if viewer.location is not None:
                    with contextlib.suppress(Exception):
                        await api1.delete(viewer.location, headers=auth)
                await viewer.close()
