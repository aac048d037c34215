"""Live-view bench: server CPU and RSS with 0, 1, 4 and 16 passthrough WebRTC viewers of one
720p25 H.264 camera (issue 4). Goal: < 2 % of a core and < 5 MB RSS per viewer.

Setup: the RTSP fixture (tests/fixtures/rtsp_server.py) serves a 720p25 Constrained Baseline
transcode of ``street-cars-no-faces.mp4`` (GOP 1 s). A **server process** runs the real api
app under uvicorn (uvloop, as ``beholder serve``) plus the worker's egress hub on its bus, fed
by a PyAV RTSP reader (the worker session's ingest, without detection). The viewers are aiortc
WHEP clients in *this* process, with decoding replaced by a counter so their own CPU stays
out of the way (they still receive, decrypt and depacketize every frame). For each viewer
count the bench waits ``--settle`` s and then samples the server process's CPU time and RSS
over ``--seconds`` s.

Usage: ``.venv/bin/python bench/live_view.py [--viewers 0 1 4 16] [--seconds 10]``; prints a
table and writes ``bench/results/live_view.json``. The machine is shared: figures are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from fixtures.rtsp_server import MEDIA_DIR, RtspServer, free_port, transcode  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "beholder-bench-media"
ADMIN_PASSWORD = "bench-admin-password-1"


def clip(gop: int, name: str = "street-cars-no-faces.mp4", bitrate: str | None = None) -> Path:
    """720p25 Constrained Baseline transcode of a shared clip, keyframe every ``gop`` frames;
    ``bitrate`` (e.g. ``"3M"``, CBR-ish) or the fixture's default quality (~0.9 Mbit/s)."""
    CACHE.mkdir(exist_ok=True)
    if bitrate is None:
        return transcode(
            MEDIA_DIR / name,
            CACHE / f"{Path(name).stem}-720p25-g{gop}.mp4",
            width=1280,
            height=720,
            fps=25,
            gop=gop,
        )
    dst = CACHE / f"{Path(name).stem}-720p25-g{gop}-{bitrate}.mp4"
    if not dst.exists():
        tmp = dst.with_suffix(".part.mp4")
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-i",
                str(MEDIA_DIR / name),
                "-an",
                "-vf",
                "scale=1280:720,fps=25",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-profile:v",
                "baseline",
                "-g",
                str(gop),
                "-keyint_min",
                str(gop),
                "-sc_threshold",
                "0",
                "-b:v",
                bitrate,
                "-maxrate",
                bitrate,
                "-bufsize",
                bitrate,
                "-x264-params",
                "nal-hrd=cbr:filler=0",
                "-pix_fmt",
                "yuv420p",
                str(tmp),
            ],
            check=True,
            timeout=300,
        )
        tmp.rename(dst)
    return dst


# --------------------------------------------------------------------------------------------
# server process: api + egress hub + RTSP reader
# --------------------------------------------------------------------------------------------


async def serve_child(rtsp_url: str, port: int, egress: dict[str, Any]) -> None:
    import httpx
    import uvicorn

    from beholder.api.app import create_app
    from beholder.config import LiveViewSettings, Settings
    from beholder.db.repositories import cameras as cameras_repo
    from beholder.server import uvicorn_config
    from beholder.worker.egress.feeder import PacketFeeder
    from beholder.worker.egress.hub import EgressHub

    data = Path(tempfile.mkdtemp(prefix="beholder-bench-"))
    settings = Settings(
        data_dir=data,
        admin_password=ADMIN_PASSWORD,
        run_worker=False,
        port=port,
        rate_limit_per_ip="100000/minute",
        rate_limit_per_principal="100000/minute",
        rate_limit_login="1000/minute",
        log_level="WARNING",
        log_format="json",
        health_interval=5.0,
    )
    app = create_app(settings, role="api")
    server = uvicorn.Server(uvicorn_config(app, settings))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    state = app.state.beholder
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=15) as client:
        r = await client.post(
            "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        token = r.json()["accessToken"]
        r = await client.post(
            "/api/cameras",
            json={"name": "bench", "rtspUrl": rtsp_url},
            headers={"Authorization": f"Bearer {token}"},
        )
        camera_id = r.json()["id"]
    async with state.db.session() as s:
        await cameras_repo.set_status(s, camera_id, "PROCESSING")
    settings_kw: dict[str, Any] = {
        "webrtc_hosts": ("127.0.0.1",),
        "webrtc_max_viewers_per_camera": 64,
        "webrtc_max_viewers": 64,
    }
    settings_kw.update(egress)
    hub = EgressHub(state.bus, LiveViewSettings(**settings_kw), worker_id="bench")
    await hub.start()
    source = await hub.attach(camera_id)
    feeder = PacketFeeder(rtsp_url, [source]).start()
    while not source.producing:
        await asyncio.sleep(0.05)
    print("READY " + json.dumps({"port": port, "cameraId": camera_id, "token": token}), flush=True)
    # report hub figures on demand: one line per "stats" read from stdin
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line or line.strip() == b"quit":
            break
        st = hub.stats()
        st["feeder"] = {"packets": feeder.packets, "opens": feeder.opens}
        print("STATS " + json.dumps(st), flush=True)
    feeder.stop()
    await hub.close()
    server.should_exit = True
    await task


class ServerProcess:
    """The bench's server subprocess (see :func:`serve_child`)."""

    def __init__(self, rtsp_url: str, egress: dict[str, Any] | None = None) -> None:
        self.port = free_port()
        cmd = [
            sys.executable,
            __file__,
            "--child",
            rtsp_url,
            str(self.port),
            json.dumps(egress or {}),
        ]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("server process died")
            if line.startswith("READY "):
                info = json.loads(line[6:])
                break
        self.camera_id: str = info["cameraId"]
        self.token: str = info["token"]
        self.url = f"http://127.0.0.1:{self.port}"
        self.ps = psutil.Process(self.proc.pid)

    def stats(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if line.startswith("STATS "):
                return dict(json.loads(line[6:]))
            if not line:
                raise RuntimeError("server process died")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=15)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------------------------
# viewers: aiortc WHEP clients that count frames instead of decoding them
# --------------------------------------------------------------------------------------------

FRAMES: dict[int, int] = {}


class CountingDecoder:
    """Stands in for aiortc's H.264 decoder: counts complete frames per receiver thread."""

    def __init__(self, key: int) -> None:
        self.key = key

    def decode(self, encoded_frame: Any) -> list[Any]:
        FRAMES[self.key] = FRAMES.get(self.key, 0) + 1
        return []


def patch_decoder() -> None:
    import threading

    import aiortc.rtcrtpreceiver as rx

    rx.get_decoder = lambda codec: CountingDecoder(threading.get_ident())  # type: ignore[assignment]


class Viewer:
    def __init__(self) -> None:
        from aiortc import RTCPeerConnection

        self.pc = RTCPeerConnection()
        self.location: str | None = None

    async def start(self, client: Any, camera_id: str, token: str) -> None:
        from aiortc import RTCSessionDescription

        from beholder.worker.egress import ice

        self.pc.addTransceiver("video", direction="recvonly")
        with ice.host_addresses(["127.0.0.1"]):
            await self.pc.setLocalDescription(await self.pc.createOffer())
        r = await client.post(
            f"/api/cameras/{camera_id}/whep",
            content=self.pc.localDescription.sdp,
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
        )
        if r.status_code != 201:
            raise RuntimeError(f"WHEP {r.status_code}: {r.text}")
        self.location = r.headers["location"]
        await self.pc.setRemoteDescription(RTCSessionDescription(r.text, "answer"))

    async def packets(self) -> int:
        report = await self.pc.getStats()
        return sum(s.packetsReceived for s in report.values() if s.type == "inbound-rtp")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    patch_decoder()
    source = clip(25, bitrate=args.bitrate)
    rtsp = RtspServer({"cam": source})
    rtsp.start()
    server = ServerProcess(rtsp.url("cam"))
    results: list[dict[str, Any]] = []
    viewers: list[Viewer] = []
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            for n in sorted(args.viewers):
                while len(viewers) < n:
                    v = Viewer()
                    await v.start(client, server.camera_id, server.token)
                    viewers.append(v)
                await asyncio.sleep(args.settle)
                pk0 = [await v.packets() for v in viewers]
                fr0 = sum(FRAMES.values())
                cpu0 = server.ps.cpu_times()
                t0 = time.monotonic()
                rss = []
                while time.monotonic() - t0 < args.seconds:
                    rss.append(server.ps.memory_info().rss)
                    await asyncio.sleep(0.5)
                cpu1 = server.ps.cpu_times()
                dt = time.monotonic() - t0
                pk1 = [await v.packets() for v in viewers]
                frames = sum(FRAMES.values()) - fr0
                st = server.stats()
                cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / dt * 100
                row = {
                    "viewers": n,
                    "cpuPercentOfCore": round(cpu, 1),
                    "rssMB": round(max(rss) / 2**20, 1),
                    "fpsPerViewer": round(frames / dt / n, 1) if n else None,
                    "rtpPacketsPerSecPerViewer": round(
                        sum(b - a for a, b in zip(pk0, pk1, strict=True)) / dt / n, 1
                    )
                    if n
                    else None,
                    "serverSessions": st["sessions"],
                    "serverViewers": st["viewers"],
                    "droppedFrames": st["cameras"][server.camera_id]["droppedFrames"],
                    "decodedFrames": st["cameras"][server.camera_id]["decodedFrames"],
                    "encodedFrames": st["cameras"][server.camera_id]["encodedFrames"],
                }
                results.append(row)
                print(json.dumps(row), flush=True)
            for v in viewers:
                await v.pc.close()
    finally:
        server.close()
        rtsp.stop()
    base = results[0] if results and results[0]["viewers"] == 0 else None
    for row in results:
        if base is not None and row["viewers"]:
            row["cpuPerViewer"] = round(
                (row["cpuPercentOfCore"] - base["cpuPercentOfCore"]) / row["viewers"], 2
            )
            row["rssPerViewerMB"] = round((row["rssMB"] - base["rssMB"]) / row["viewers"], 2)
    src_info = {"clip": source.name, "size": source.stat().st_size, "bitrate": args.bitrate}
    return {"source": src_info, "seconds": args.seconds, "results": results}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        asyncio.run(serve_child(sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--viewers", type=int, nargs="+", default=[0, 1, 4, 16])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--settle", type=float, default=4.0)
    ap.add_argument("--bitrate", default=None, help="e.g. 3M (default: ~0.9 Mbit/s clip)")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "live_view.json")
    args = ap.parse_args()
    out = asyncio.run(run(args))
    print()
    print(
        f"{'viewers':>7} {'cpu %core':>9} {'per viewer':>10} {'RSS MB':>7} "
        f"{'per viewer':>10} {'fps/viewer':>10}"
    )
    for r in out["results"]:
        print(
            f"{r['viewers']:>7} {r['cpuPercentOfCore']:>9} {r.get('cpuPerViewer', '-')!s:>10} "
            f"{r['rssMB']:>7} {r.get('rssPerViewerMB', '-')!s:>10} {r['fpsPerViewer']!s:>10}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2))
    print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    main()
