"""Why deploy/systemd/beholder.service leaves ``MemoryDenyWriteExecute=`` off, and why
beholder-backup.service sets it: ``beholder serve`` run under the kernel's
memory-deny-write-execute (``prctl PR_SET_MDWE``, what systemd uses for that option on
Linux >= 6.3; inherited across fork and exec, so the detector processes have it too).

Ingest and decode (PyAV/FFmpeg), face detection (YuNet through ctypes with OpenMP, numpy,
OpenCV), alerts with snapshots and camera snapshots all work under it; WebRTC live view does
not: aiortc's DTLS (pyOpenSSL) allocates a cffi ``ffi.callback()``, which needs a writable
and executable page, and the connection fails. When that changes upstream this test fails,
and the unit can turn the option on. ``beholder backup`` works under it."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from fixtures.rtsp_server import RtspServer
from support.live import open_viewer
from support.polling import eventually, wait_until
from support.settings import ADMIN_PASSWORD, TEST_CAMERA_NETWORKS, free_port

PR_SET_MDWE, PR_GET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 66, 1

# Turns MDWE on, proves a writable+executable mapping is refused, then execs the command.
UNDER_MDWE = """
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    sys.exit("prctl PR_SET_MDWE: " + os.strerror(ctypes.get_errno()))
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("a W+X mapping was allowed")
except PermissionError:
    print("mdwe on", flush=True)
os.execv(sys.argv[1], sys.argv[1:])
"""


def _kernel_has_mdwe() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(PR_GET_MDWE, 0, 0, 0, 0) >= 0)


pytestmark = pytest.mark.skipif(not _kernel_has_mdwe(), reason="kernel without PR_SET_MDWE")


@dataclass
class Served:
    url: str
    log: Path


@pytest.fixture
def serve_under_mdwe(tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
    env.update(
        BEHOLDER_DATA_DIR=str(tmp_path / "data"),
        BEHOLDER_PORT=str(port),
        BEHOLDER_ADMIN_PASSWORD=ADMIN_PASSWORD,
        BEHOLDER_CAMERA_NETWORKS=TEST_CAMERA_NETWORKS,
        BEHOLDER_WEBRTC_HOSTS="127.0.0.1",
        BEHOLDER_WORKER_DETECT_ISOLATION="process",
        BEHOLDER_LOG_FORMAT="json",
    )
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", UNDER_MDWE, sys.executable, "-m", "beholder", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
        try:
            return httpx.get(f"{base}/api/system/ready", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(ready, 60, "serve under MDWE to become ready")
        assert (tmp_path / "serve.log").read_text().startswith("mdwe on")
        yield Served(base, tmp_path / "serve.log")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    assert proc.returncode == 0, (tmp_path / "serve.log").read_text()[-3000:]


async def test_serve_detects_and_alerts_under_mdwe_but_webrtc_fails(
    serve_under_mdwe: Served, rtsp_camera: RtspServer
) -> None:
    async with httpx.AsyncClient(base_url=serve_under_mdwe.url, timeout=10) as client:
        login = await client.post(
            "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        token = login.json()["accessToken"]
        auth = {"Authorization": f"Bearer {token}"}
        created = await client.post(
            "/api/cameras",
            json={"name": "mdwe", "rtspUrl": rtsp_camera.url("two"), "faceDetectionEnabled": True},
            headers=auth,
        )
        assert created.status_code == 201, created.text
        camera = created.json()["id"]
        assert (await client.post(f"/api/cameras/{camera}/start", headers=auth)).status_code == 202

        async def alerts() -> list[dict[str, object]]:
            r = await client.get("/api/alerts", params={"cameraId": camera}, headers=auth)
            items: list[dict[str, object]] = r.json()["items"]
            return [a for a in items if a["type"] == "face-detection"]

        (alert, *_) = await eventually(alerts, 60, "a face-detection alert")
        faces = alert["metadata"]["faces"]  # type: ignore[index]
        assert len(faces) >= 1

        snapshot = await client.get(f"/api/alerts/{alert['id']}/snapshot.jpg", headers=auth)
        assert snapshot.status_code == 200
        assert snapshot.content.startswith(b"\xff\xd8")
        frame = await client.get(f"/api/cameras/{camera}/snapshot.jpg", headers=auth)
        assert frame.status_code == 200
        assert frame.content.startswith(b"\xff\xd8")

        # Live view: the offer is answered, but the DTLS handshake dies on the cffi callback.
        viewer = await open_viewer(client, camera, token)
        try:
            await eventually(
                lambda: (
                    "Cannot allocate write+execute memory for ffi.callback()"
                    in serve_under_mdwe.log.read_text()
                ),
                30,
                "aiortc to fail on the W+X callback",
            )
            assert viewer.frames == []
        finally:
            await viewer.close()


def test_backup_runs_under_mdwe(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
    env.update(BEHOLDER_DATA_DIR=str(data), BEHOLDER_ADMIN_PASSWORD=ADMIN_PASSWORD)
    beholder = [sys.executable, "-m", "beholder"]
    subprocess.run([*beholder, "migrate"], env=env, check=True, capture_output=True)
    archive = tmp_path / "backup.tar.gz"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            UNDER_MDWE,
            sys.executable,
            "-m",
            "beholder",
            "backup",
            str(archive),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("mdwe on\nbackup written: ")
    assert archive.stat().st_size > 0
