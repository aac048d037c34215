"""Camera leases and failover on a real ``nats-server -js`` (private, one per test) with the
real RTSP fixture: workers in this process on their own NATS connections place the desired
cameras among themselves, each camera runs on exactly one worker under a KV lease, and a
dead worker's cameras are taken over by the others."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry import propagate

from beholder.contracts.cluster import camera_key
from beholder.messages import CameraStatus
from beholder.tracing.spans import STATE
from beholder.worker.placement import MOVING_DETAILS
from beholder.worker.placement.rendezvous import owner
from support.cluster import PrivateNats
from support.ids import cam_id
from support.placement import PlacementCluster, fast_cluster_settings
from support.polling import eventually
from support.tracing import finished, in_memory_tracing

pytestmark = [pytest.mark.rtsp, pytest.mark.slow]

MOUNTS = ("street", "two")


@pytest.fixture
async def cluster() -> AsyncIterator[PlacementCluster]:
    nats = PrivateNats()
    nats.start()
    c = PlacementCluster(nats.url, fast_cluster_settings())
    try:
        await c.open()
        yield c
    finally:
        await c.close()
        nats.destroy()


def url_of(rtsp: Any, i: int) -> str:
    return str(rtsp.url(MOUNTS[i % len(MOUNTS)]))


async def all_processing_once(c: PlacementCluster, cams: list[str]) -> bool:
    """Every camera PROCESSING on exactly one live worker, and the KV lease names it."""
    if any(c.processing_on(cid) is None or len(c.runners(cid)) != 1 for cid in cams):
        return False
    leases = await c.lease_table()
    return all(cid in leases and leases[cid].worker_id == c.processing_on(cid) for cid in cams)


async def test_twelve_cameras_run_once_each_and_a_dead_workers_move_to_the_others(
    cluster: PlacementCluster, rtsp_camera: Any
) -> None:
    c = cluster
    for wid in ("w1", "w2", "w3"):
        await c.add(wid)
    cams = [cam_id(f"fleet-{i}") for i in range(12)]
    for i, cid in enumerate(cams):
        await c.want(cid, url_of(rtsp_camera, i))

    await eventually(lambda: all_processing_once(c, cams), 40, "12 cameras PROCESSING once each")
    placed = {cid: c.processing_on(cid) for cid in cams}
    # Rendezvous hashing over the three live workers decided it (every one has cameras).
    assert placed == {cid: owner(cid, ["w1", "w2", "w3"]) for cid in cams}
    assert set(placed.values()) == {"w1", "w2", "w3"}
    # Every status event carries the holder's lease epoch and a per-epoch sequence.
    leases = await c.lease_table()
    for cid in cams:
        mine = [e for e in c.statuses(cid) if e.worker_id == placed[cid]]
        assert mine and all(e.epoch == leases[cid].epoch for e in mine)
        seqs = [e.seq for e in mine if e.seq is not None]
        assert seqs == sorted(seqs) and seqs[0] == 1 and len(set(seqs)) == len(seqs)

    # The registry: every worker with its leases and load.
    registered = await c.registered()
    assert set(registered) == {"w1", "w2", "w3"}
    for beat in registered.values():
        assert beat.started_at is not None and beat.cpu_percent is not None
        assert beat.detector_load is not None and beat.dropped_samples is not None
    await eventually(
        lambda: _leases_registered(c, placed), 5, "each worker's lease count in the registry"
    )

    victim = "w2"
    moved = [cid for cid in cams if placed[cid] == victim]
    killed_at = time.monotonic()
    await c.crash(victim)

    two_holders: list[str] = []

    async def failed_over() -> bool:
        two_holders.extend(cid for cid in cams if len(c.runners(cid)) > 1)
        return await all_processing_once(c, cams)

    await eventually(failed_over, 30, "the dead worker's cameras PROCESSING elsewhere")
    failover = time.monotonic() - killed_at
    assert not two_holders, f"cameras on two workers at once: {set(two_holders)}"
    after = {cid: c.processing_on(cid) for cid in cams}
    assert all(after[cid] == placed[cid] for cid in cams if cid not in moved)  # nothing else
    assert {after[cid] for cid in moved} <= {"w1", "w3"}
    new_leases = await c.lease_table()
    assert all(new_leases[cid].epoch > leases[cid].epoch for cid in moved)
    print(f"failover of {len(moved)} cameras (kill -> PROCESSING elsewhere): {failover:.2f} s")


async def _leases_registered(c: PlacementCluster, placed: dict[str, str | None]) -> bool:
    registered = await c.registered()
    return all(
        registered[wid].leases == sum(1 for w in placed.values() if w == wid)
        for wid in ("w1", "w2", "w3")
    )


async def test_the_session_start_joins_the_trace_of_the_request_that_asked(
    cluster: PlacementCluster, rtsp_camera: Any
) -> None:
    c = cluster
    with in_memory_tracing("worker") as exporter:
        await c.add("traced")
        tracer = STATE.tracer
        assert tracer is not None
        carrier: dict[str, str] = {}
        with tracer.start_as_current_span("POST /api/cameras/{camera_id}/start") as request:
            propagate.inject(carrier)  # what the api writes into traceContext
        cid = cam_id("traced")
        await c.want(cid, rtsp_camera.url("street"), trace_context=carrier)
        await eventually(lambda: c.processing_on(cid) == "traced", 20, "the camera PROCESSING")
        await eventually(
            lambda: finished(exporter).named("worker session start"), 5, "the start span"
        )
        start = finished(exporter).named("worker session start")[0]
    ctx = request.get_span_context()
    assert start.trace_id == format(ctx.trace_id, "032x")
    assert start.parent == format(ctx.span_id, "016x")
    assert start.attributes["beholder.camera.id"] == cid


async def test_a_worker_that_loses_its_lease_stops_quietly_and_publishes_nothing_more(
    cluster: PlacementCluster, rtsp_camera: Any
) -> None:
    c = cluster
    await c.add("solo")
    cid = cam_id("stolen")
    await c.want(cid, rtsp_camera.url("street"))
    await eventually(lambda: c.processing_on(cid) == "solo", 20, "the camera PROCESSING")
    first = (await c.lease_table())[cid]
    session = c.workers["solo"].get_session(cid)

    assert c.leases is not None
    await c.leases.delete(camera_key(cid))  # behind its back: the next renewal fails
    await eventually(
        lambda: c.workers["solo"].get_session(cid) is not session, 10, "the session to stop"
    )
    stopped_at = len(c.events)
    # Quiet: no STOPPING/STOPPED under the lost epoch, and nothing of that epoch afterwards.
    old = [e for e in c.statuses(cid) if e.epoch == first.epoch]
    assert not [e for e in old if e.status in (CameraStatus.STOPPING, CameraStatus.STOPPED)]
    # The camera is still desired: its rank-0 worker takes it again under a new epoch.
    await eventually(lambda: c.processing_on(cid) == "solo", 20, "the camera back")
    again = (await c.lease_table())[cid]
    assert again.epoch > first.epoch
    assert not [e for e in c.events[stopped_at:] if e.epoch == first.epoch]


async def test_desired_state_drives_stop_restart_and_toggle(
    cluster: PlacementCluster, rtsp_camera: Any
) -> None:
    c = cluster
    await c.add("w1")
    cid = cam_id("driven")
    url = rtsp_camera.url("two")
    await c.want(cid, url, restart_token=cam_id("token-1"))
    await eventually(lambda: c.processing_on(cid) == "w1", 20, "the camera PROCESSING")
    manager = c.workers["w1"]
    session = manager.get_session(cid)
    epoch = (await c.lease_table())[cid].epoch

    # Only face detection changed: toggled in place, no restart.
    mark = len(c.events)
    await c.want(cid, url, detect=True, restart_token=cam_id("token-1"))
    await eventually(lambda: session.face_detection_enabled, 10, "face detection on")
    assert manager.get_session(cid) is session
    assert not [e for e in c.events[mark:] if e.status is CameraStatus.STOPPING]

    # A new restart token: the session restarts (same lease, same epoch, seq goes on).
    mark = len(c.events)
    await c.want(cid, url, detect=True, restart_token=cam_id("token-2"))
    await eventually(
        lambda: (
            (s := manager.get_session(cid)) is not None
            and s is not session
            and s.status is CameraStatus.PROCESSING
        ),
        20,
        "a restarted session PROCESSING",
    )
    restart = c.statuses(cid)[-1]
    assert restart.epoch == epoch
    kinds = [e.status for e in c.events[mark:] if e.camera_id == cid]
    assert CameraStatus.STOPPED in kinds and CameraStatus.STARTING in kinds

    # Desired state removed: a normal stop (STOPPING/STOPPED with the epoch), lease deleted.
    mark = len(c.events)
    await c.unwant(cid)
    await eventually(lambda: manager.get_session(cid) is None, 10, "the session to stop")
    await eventually(
        lambda: [e for e in c.events[mark:] if e.status is CameraStatus.STOPPED],
        5,
        "STOPPED",
    )
    stops = [e for e in c.events[mark:] if e.camera_id == cid]
    assert {e.status for e in stops} >= {CameraStatus.STOPPING, CameraStatus.STOPPED}
    assert all(e.epoch == epoch for e in stops)

    async def lease_gone() -> bool:
        return cid not in await c.lease_table()

    await eventually(lease_gone, 5, "the lease deleted")


async def test_a_joining_worker_receives_handovers_at_the_bounded_rate(
    cluster: PlacementCluster, rtsp_camera: Any
) -> None:
    c = cluster
    limited = fast_cluster_settings(rebalance_moves_per_minute=2)
    await c.add("old", limited)
    # Four cameras that hash to the newcomer once it joins, three that stay.
    names = [cam_id(f"gentle-{i}") for i in range(40)]
    to_new = [cid for cid in names if owner(cid, ["old", "new"]) == "new"][:4]
    cams = to_new + [cid for cid in names if owner(cid, ["old", "new"]) == "old"][:3]
    for i, cid in enumerate(cams):
        await c.want(cid, url_of(rtsp_camera, i))
    await eventually(lambda: all_processing_once(c, cams), 40, "every camera on the old worker")

    mark = len(c.events)
    await c.add("new", limited)
    await eventually(
        lambda: sum(c.processing_on(cid) == "new" for cid in cams) == 2,
        20,
        "two cameras moved to the new worker",
    )
    # The rate holds: nothing more moves within the minute (checked over several ticks).
    deadline = time.monotonic() + 3.0
    await eventually(lambda: time.monotonic() > deadline, 5, "three more seconds")
    moved = [cid for cid in cams if c.processing_on(cid) == "new"]
    assert len(moved) == 2 and set(moved) <= set(to_new)
    assert all(len(c.runners(cid)) == 1 for cid in cams)
    for cid in moved:
        seen = [e for e in c.events[mark:] if e.camera_id == cid]
        handover = [e for e in seen if e.worker_id == "old"]
        # The old holder said the camera is moving and stopped quietly.
        assert [e.details for e in handover] == [MOVING_DETAILS]
        assert handover[0].status is CameraStatus.STARTING
        assert not [e for e in seen if e.status in (CameraStatus.STOPPING, CameraStatus.STOPPED)]
