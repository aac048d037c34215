"""The worker's built-in detector on mobile relay streams (issue 10, item 3), with the real
YuNet detector and real frames of ``headpose-two-faces.mp4`` pushed as binary relay frames on
the bus, as the api publishes them for a stream with face detection on.

- one person in view is one alert (the tracker, not the cooldown: cooldown 0 here), with the
  stream's id, the worker's id, a thumbnail and a snapshot;
- a stream sending garbage costs only itself; disabling stops the stream's analysis;
  re-enabling is a new episode;
- a worker that starts asks the api which streams to analyse;
- over NATS with two workers (one of them ``beholder worker`` as its own process), each
  stream is analysed by exactly one of them, and moves when its worker dies.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from beholder.bus import create_bus
from beholder.config import BusSettings
from beholder.contracts.bus import (
    FaceDetectionAlert,
    StreamDetectionCommand,
    StreamDetectionList,
    WorkerHeartbeat,
)
from beholder.contracts.subjects import Subjects
from beholder.messages import new_id
from beholder.worker.manager import WorkerManager
from beholder.worker.streams.manager import owner_of
from fixtures.relay_frames import blank_jpeg, clip_jpegs
from support.polling import eventually
from support.relay_feed import FrameFeeder, detection_command
from support.settings import make_camera_settings, make_worker_settings
from support.worker import WorkerHarness

pytestmark = [pytest.mark.slow]


def stream_alerts(alerts: list[FaceDetectionAlert], stream_id: str) -> list[FaceDetectionAlert]:
    return [a for a in alerts if a.stream_id == stream_id]


@pytest.fixture
async def feeders() -> AsyncIterator[list[FrameFeeder]]:
    made: list[FrameFeeder] = []
    yield made
    for f in made:
        await f.stop()


async def test_one_person_in_view_is_one_alert_and_bad_streams_stay_apart(
    worker_harness: Callable[..., Any], feeders: list[FrameFeeder]
) -> None:
    h: WorkerHarness = await worker_harness(alert_cooldown=0.0, sample_fps=6.0)
    good, bad = new_id(), new_id()
    await detection_command(h.bus, good, True)
    await detection_command(h.bus, bad, True)
    await h.bus.publish(Subjects.STREAM_DETECTION, b'{"streamId": "not json')  # dropped
    streams = h.manager.streams
    await eventually(lambda: set(streams.streams) == {good, bad}, 5, "both streams analysed")

    bad_frames = [
        b"\x01\x01\x00",
        b"\x07" + b"\0" * 40,
        b"\x01\x01\x00\x00" + bytes(16) + bytes(8) + b"\xff\xd8garbage\xff\xd9",
    ]
    feeders.append(FrameFeeder(h.bus, bad, bad_frames, fps=30).start())
    feeders.append(FrameFeeder(h.bus, good, clip_jpegs(), fps=12).start())
    first = await eventually(lambda: stream_alerts(h.alerts, good), 20, "an alert")
    alert = first[0]
    assert alert.camera_id is None and alert.stream_id == good
    assert alert.worker_id == h.manager.worker_id
    assert len(alert.faces) == 2 and len({f.track_id for f in alert.faces}) == 2
    assert alert.thumbnail and alert.snapshot and alert.frame_width == 480
    assert alert.source_ts is not None

    # The same two people stay in view for a dozen more analyses: no new alert.
    counters = streams.counters(good)
    assert counters is not None
    seen = counters.detections
    await eventually(lambda: counters.detections >= seen + 12, 30, "12 more analyses")
    assert len(stream_alerts(h.alerts, good)) == 1
    bad_counters = streams.counters(bad)
    assert bad_counters is not None and bad_counters.decode_errors >= 3
    assert bad_counters.detections == 0 and stream_alerts(h.alerts, bad) == []
    assert counters.decode_errors == 0

    # Off: the stream is dropped, its frames are no longer looked at.
    await detection_command(h.bus, good, False)
    await eventually(lambda: good not in streams.streams, 5, "the stream to stop")
    # On again: a new episode, the people in view are announced again, once.
    await detection_command(h.bus, good, True)
    await eventually(lambda: len(stream_alerts(h.alerts, good)) == 2, 20, "a second alert")
    await detection_command(h.bus, good, True)  # a repeated command changes nothing
    again = streams.counters(good)
    assert again is not None
    seen = again.detections
    await eventually(lambda: again.detections >= seen + 6, 30, "6 more analyses")
    assert len(stream_alerts(h.alerts, good)) == 2


async def test_a_new_face_after_an_empty_scene_is_a_new_alert(
    worker_harness: Callable[..., Any], feeders: list[FrameFeeder]
) -> None:
    h: WorkerHarness = await worker_harness(alert_cooldown=0.0, sample_fps=6.0)
    sid = new_id()
    await detection_command(h.bus, sid, True)
    await eventually(lambda: sid in h.manager.streams.streams, 5, "the stream analysed")
    feeder = FrameFeeder(h.bus, sid, [blank_jpeg()], fps=12).start()
    feeders.append(feeder)
    counters = h.manager.streams.counters(sid)
    await eventually(lambda: counters.detections >= 2, 20, "empty scene analysed")
    assert stream_alerts(h.alerts, sid) == []
    feeder.play(clip_jpegs())
    await eventually(lambda: stream_alerts(h.alerts, sid), 20, "an alert")
    feeder.play([blank_jpeg()])
    # The tracks expire once nobody was seen for the tracker's memory (3 s).
    await eventually(
        lambda: not h.manager.streams.streams[sid].detection.pipeline.tracking,
        20,
        "the tracks to expire",
    )
    feeder.play(clip_jpegs())
    await eventually(lambda: len(stream_alerts(h.alerts, sid)) == 2, 20, "a second alert")


async def test_a_starting_worker_asks_which_streams_to_analyse(
    feeders: list[FrameFeeder],
) -> None:
    """Streams switched on before the worker started: it asks the api
    (``stream.detection.list``) and analyses them without any new command."""
    from beholder.bus import MemoryBus

    bus = MemoryBus()
    await bus.start()
    sid = new_id()
    asked: list[int] = []

    async def api_answers(msg: Any) -> None:
        asked.append(1)
        listed = StreamDetectionList(
            streams=[StreamDetectionCommand(stream_id=sid, enabled=True, device_name="p")]
        )
        await msg.respond(listed.to_bytes())

    await bus.subscribe(Subjects.STREAM_DETECTION_LIST, api_answers)
    alerts: list[FaceDetectionAlert] = []

    async def on_alert(msg: Any) -> None:
        alerts.append(FaceDetectionAlert.from_bytes(msg.data))

    await bus.subscribe(Subjects.CAMERA_EVENTS, on_alert)
    manager = WorkerManager(
        make_worker_settings(sample_fps=5.0), bus, "late-worker", camera=make_camera_settings()
    )
    try:
        await manager.start()
        await eventually(lambda: sid in manager.streams.streams, 10, "the listed stream")
        assert asked == [1] and manager.streams.synced
        feeders.append(FrameFeeder(bus, sid, clip_jpegs(), fps=12).start())
        got = await eventually(lambda: stream_alerts(alerts, sid), 20, "an alert")
        assert got[0].worker_id == "late-worker"
    finally:
        await manager.stop()
        await bus.close()


# -- NATS: two workers, one of them the `beholder worker` process ---------------------------


def _worker_env(nats_url: str, tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "BEHOLDER_BUS_URL": nats_url,
            "BEHOLDER_DATA_DIR": str(tmp_path),
            "BEHOLDER_WORKER_HEARTBEAT_INTERVAL": "0.5",
            # Long: this test is about who analyses a stream; a detection thread starved past
            # the tracker's memory on a loaded machine must not add an alert here.
            "BEHOLDER_WORKER_ALERT_COOLDOWN": "60",
            "BEHOLDER_RELAY_DETECT_FPS": "5",
            "BEHOLDER_LOG_FORMAT": "json",
        }
    )
    return env


async def test_over_nats_each_stream_is_analysed_once_and_moves_when_its_worker_dies(
    nats_server: Any, tmp_path: Path, feeders: list[FrameFeeder]
) -> None:
    # Distributed mode needs JetStream (the workers' registry, desired state and leases).
    server = nats_server(f'jetstream {{ store_dir: "{tmp_path / "js"}" }}')
    proc = subprocess.Popen(
        [sys.executable, "-m", "beholder", "worker", "--worker-id", "proc-worker"],
        env=_worker_env(server.url, tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bus = create_bus(BusSettings(url=server.url))
    await bus.start()
    local = WorkerManager(
        make_worker_settings(alert_cooldown=60.0, sample_fps=5.0),
        bus,
        "local-worker",
        camera=make_camera_settings(),
    )
    alerts: list[FaceDetectionAlert] = []
    beats: list[str] = []

    async def on_alert(msg: Any) -> None:
        alerts.append(FaceDetectionAlert.from_bytes(msg.data))

    async def on_beat(msg: Any) -> None:
        beats.append(WorkerHeartbeat.from_bytes(msg.data).worker_id)

    try:
        await bus.subscribe(Subjects.CAMERA_EVENTS, on_alert)
        await bus.subscribe(Subjects.WORKER_HEARTBEAT, on_beat)
        await local.start()
        workers = {"proc-worker", "local-worker"}

        def both_see_each_other() -> bool:
            assert proc.poll() is None, "beholder worker exited"
            if "proc-worker" not in beats or local.streams.live_workers() != workers:
                return False
            # The process subscribes to heartbeats before it sends its first one: a beat of
            # ours after that one has reached it too.
            return "local-worker" in beats[beats.index("proc-worker") :]

        await eventually(both_see_each_other, 30, "both workers' heartbeats")
        # One stream owned by each worker.
        ids: dict[str, str] = {}
        while len(ids) < 2:
            sid = new_id()
            ids.setdefault(owner_of(sid, workers) or "", sid)
        for sid in ids.values():
            await detection_command(bus, sid, True)
            feeders.append(FrameFeeder(bus, sid, clip_jpegs(), fps=12).start())
        for owner, sid in ids.items():
            got = await eventually(lambda s=sid: stream_alerts(alerts, s), 30, f"{owner}'s alert")
            assert got[0].worker_id == owner
        assert set(local.streams.streams) == {ids["local-worker"]}
        local_counters = local.streams.counters(ids["local-worker"])
        assert local_counters is not None
        seen = local_counters.detections
        await eventually(lambda: local_counters.detections >= seen + 8, 30, "8 more analyses")
        assert len(alerts) == 2, [(a.stream_id, a.worker_id) for a in alerts]

        # The process dies: its stream is taken over after the heartbeat grace.
        proc.terminate()
        proc.wait(timeout=10)
        moved = ids["proc-worker"]
        await eventually(lambda: moved in local.streams.streams, 30, "the stream to move")
        got = await eventually(
            lambda: [a for a in stream_alerts(alerts, moved) if a.worker_id == "local-worker"],
            30,
            "an alert from the worker that took the stream over",
        )
        assert len(got) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        await local.stop()
        await bus.close()
