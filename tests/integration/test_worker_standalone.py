"""``beholder worker`` as its own process over a real NATS server (distributed mode).

The test runs a private ``nats-server -js`` on a free port (the shared one on 4222 carries
other suites' traffic and desired state). In distributed mode the worker takes its cameras
from the desired state in JetStream KV (``beholder_cameras``) under a lease, not from
``camera.commands``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from beholder.bus import create_bus
from beholder.bus.kv import KvBucket
from beholder.config import BusSettings
from beholder.contracts.cluster import Buckets, CameraAssignment, camera_key
from beholder.contracts.subjects import snapshot_subject
from beholder.messages import (
    CameraSpec,
    FaceDetectionAlert,
    StreamStatusEvent,
    Subjects,
    WorkerHeartbeat,
    new_id,
)
from fixtures.rtsp_server import free_port
from support.polling import eventually, wait_until
from support.settings import TEST_CAMERA_NETWORKS

pytestmark = [pytest.mark.rtsp, pytest.mark.slow]

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    if not os.path.exists(NATS_SERVER):
        pytest.skip("nats-server not installed")
    port = _free_port()
    proc = subprocess.Popen(
        [NATS_SERVER, "-js", "-sd", str(tmp_path / "js"), "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    try:
        wait_until(listening, 10, "nats-server to listen", every=0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=5)


METRICS_PORT = _free_port()


@pytest.fixture
async def worker_proc(nats_url: str, tmp_path: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    env = dict(os.environ)
    env.update(
        {
            "BEHOLDER_BUS_URL": nats_url,
            "BEHOLDER_DATA_DIR": str(tmp_path),
            "BEHOLDER_WORKER_HEARTBEAT_INTERVAL": "0.5",
            "BEHOLDER_LOG_FORMAT": "json",
            "BEHOLDER_WORKER_METRICS_PORT": str(METRICS_PORT),
            "BEHOLDER_CAMERA_NETWORKS": TEST_CAMERA_NETWORKS,
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "beholder", "worker", "--worker-id", "standalone-1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=5)


async def test_worker_process_over_nats(
    nats_url: str, worker_proc: subprocess.Popen[bytes], rtsp_camera: Any
) -> None:
    bus = create_bus(BusSettings(url=nats_url))
    await bus.start()
    events: list[StreamStatusEvent] = []
    alerts: list[FaceDetectionAlert] = []
    beats: list[WorkerHeartbeat] = []

    async def on_status(msg: Any) -> None:
        events.append(StreamStatusEvent.from_bytes(msg.data))

    async def on_alert(msg: Any) -> None:
        alerts.append(FaceDetectionAlert.from_bytes(msg.data))

    async def on_beat(msg: Any) -> None:
        beats.append(WorkerHeartbeat.from_bytes(msg.data))

    await bus.subscribe(Subjects.STREAM_STATUS, on_status)
    await bus.subscribe(Subjects.CAMERA_EVENTS, on_alert)
    await bus.subscribe(Subjects.WORKER_HEARTBEAT, on_beat)

    async def until(cond: Any, timeout: float, what: str) -> None:
        def holds() -> Any:
            assert worker_proc.poll() is None, "worker exited"
            return cond()

        await eventually(holds, timeout, what)

    try:
        await until(lambda: beats, 20, "a heartbeat")
        assert beats[0].worker_id == "standalone-1"
        pong = WorkerHeartbeat.from_bytes(await bus.request(Subjects.WORKER_PING, b"", 3))
        assert pong.worker_id == "standalone-1"

        nats_cam = new_id()
        spec = CameraSpec(camera_id=nats_cam, name="n", rtsp_url=rtsp_camera.url("two"))
        desired = await KvBucket.open(bus.jetstream(), Buckets.CAMERAS)  # type: ignore[attr-defined]
        assignment = CameraAssignment(spec=spec, correlation_id=new_id())
        await desired.put(camera_key(nats_cam), assignment.to_bytes())
        await until(lambda: any(e.status.value == "PROCESSING" for e in events), 20, "PROCESSING")
        assert all(e.correlation_id == assignment.correlation_id for e in events)
        # Stamped with the lease's epoch and a per-camera sequence.
        assert all(e.epoch is not None for e in events)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        await until(lambda: alerts, 15, "an alert")
        assert len(alerts[0].faces) == 2
        jpeg = await bus.request(snapshot_subject(nats_cam), b"", 3)
        assert jpeg[:3] == b"\xff\xd8\xff"
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"http://127.0.0.1:{METRICS_PORT}/metrics")).text
        assert "beholder_worker_sessions 1.0" in metrics
        assert f'beholder_camera_alerts_total{{camera_id="{nats_cam}"}} 1.0' in metrics

        await desired.delete(camera_key(nats_cam))
        await until(lambda: events[-1].status.value == "STOPPED", 5, "STOPPED")
    finally:
        await bus.close()

    worker_proc.send_signal(signal.SIGTERM)
    assert worker_proc.wait(timeout=10) == 0
    out = worker_proc.stdout.read().decode() if worker_proc.stdout else ""
    assert "worker stopped" in out


@pytest.mark.parametrize("failing", ["bus", "metrics"])
def test_worker_start_up_failure_is_one_line_and_exit_1(failing: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
    env["BEHOLDER_LOG_FORMAT"] = "json"
    env["BEHOLDER_DATA_DIR"] = str(tmp_path / "data")
    busy = socket.socket()
    try:
        if failing == "bus":
            env["BEHOLDER_BUS_URL"] = f"nats://127.0.0.1:{free_port()}"  # nothing listens
        else:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            env["BEHOLDER_BUS_URL"] = "memory://"
            env["BEHOLDER_WORKER_METRICS_PORT"] = str(busy.getsockname()[1])  # taken
        proc = subprocess.run(
            [sys.executable, "-m", "beholder", "worker"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        busy.close()
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if '"level": "error"' in ln]
    assert len(lines) == 1, lines
    assert '"worker start-up failed"' in lines[0] and f'"step": "{failing}"' in lines[0]
