"""The NVR offline cascade through the service API the agent socket calls, seen on a connected
dashboard hub socket (real app on a socket, SQLite and PostgreSQL): register → online; the
socket closes → NVR and cameras offline at once (``nvr_offline`` with ``camerasUpdated``,
``camera-status-update`` with reachability ``offline``/"NVR offline"), persisted before
broadcast; return → online; silence past the missed heartbeats → offline; system alerts
once per outage and deduplicated over flaps; the debounced ``stats:updated`` summary."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import websockets

from beholder.config import NvrSettings
from beholder.contracts.hub import HUB_MESSAGE
from beholder.contracts.nvr import NvrChannel, NvrProbeReport, NvrRegister
from beholder.messages import utcnow
from support.api import LiveApi, live_api
from support.polling import eventually
from support.settings import make_settings


class Dashboard:
    """A hub client that keeps every message it got."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def next(self, kind: str, **match: Any) -> dict[str, Any]:
        async with asyncio.timeout(10):
            while True:
                msg: dict[str, Any] = json.loads(await self.ws.recv())
                HUB_MESSAGE.validate_python(msg)  # every message is in the contract
                self.seen.append(msg)
                if msg["type"] == kind and all(msg.get(k) == v for k, v in match.items()):
                    return msg

    async def until(self, kind: str, n: int, **match: Any) -> list[dict[str, Any]]:
        got = [m for m in self.seen if m["type"] == kind]
        while len(got) < n:
            got.append(await self.next(kind, **match))
        return got


async def _dashboard(api: LiveApi, topics: list[str]) -> tuple[Any, Dashboard]:
    ws = await websockets.connect(api.ws_url)
    board = Dashboard(ws)
    await ws.send(json.dumps({"type": "auth", "token": await api.token("viewer")}))
    await board.next("auth-ok")
    await ws.send(json.dumps({"type": "subscribe", "topics": topics}))
    await board.next("subscribed")
    board.seen.clear()
    return ws, board


async def _fleet_nvr(api: LiveApi, hostname: str, channels: int) -> tuple[Any, NvrRegister]:
    admin = await api.headers("admin")
    r = await api.client.post(
        "/api/nvrs", json={"hostname": hostname, "region": "north"}, headers=admin
    )
    nvr_id = r.json()["id"]
    key = (await api.client.post(f"/api/nvrs/{nvr_id}/keys", headers=admin)).json()["key"]
    principal = await api.state.auth.authenticate(key)
    msg = NvrRegister(
        type="register",
        hostname=hostname,
        device_name="Site A",
        channels=[
            NvrChannel(number=i, url=f"rtsp://u:p@10.4.0.{i}/s") for i in range(1, channels + 1)
        ],
    )
    return principal, msg


def _all_reachable(n: int) -> NvrProbeReport:
    return NvrProbeReport(
        type="probe-report",
        channels=[{"number": i, "reachable": True, "latencyMs": 3.0} for i in range(1, n + 1)],
    )


async def _fleet_alerts(api: LiveApi) -> list[dict[str, Any]]:
    r = await api.client.get(
        "/api/alerts?type=system-alert&limit=100", headers=await api.headers("viewer")
    )
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_disconnect_cascades_offline_and_return_brings_back(api: LiveApi) -> None:
    service = api.state.fleet
    principal, msg = await _fleet_nvr(api, "site-a-nvr", 3)
    ws, board = await _dashboard(api, ["nvrs", "cameras", "alerts"])
    try:
        conn = object()
        reg = await service.register(principal, msg, connection=conn)
        online = await board.next("nvr_online")
        assert (online["nvrId"], online["camerasUpdated"]) == (reg.nvr_id, 0)
        assert online["hostname"] == "site-a-nvr" and online["region"] == "north"
        await service.probe_report(reg.nvr_id, _all_reachable(3))
        await board.until("camera-status-update", 3)
        status = await board.next("nvr_status_update")
        assert status["nvr"]["cameraCounts"]["online"] == 3
        board.seen.clear()

        # A socket that never registered, or a second socket of the same NVR, closing does
        # not take it offline.
        await service.disconnected(reg.nvr_id, "never-registered")
        await service.register(principal, msg, connection="newer")
        await service.disconnected(reg.nvr_id, "newer")
        assert service.connected(reg.nvr_id)

        await service.disconnected(reg.nvr_id, conn)
        offline = await board.next("nvr_offline")
        assert (offline["nvrId"], offline["camerasUpdated"]) == (reg.nvr_id, 3)
        cams = await board.until("camera-status-update", 3)
        for m in cams:
            assert m["camera"]["reachability"] == "offline"
            assert m["camera"]["reachabilityDetail"] == "NVR offline"
            assert m["camera"]["nvrId"] == reg.nvr_id
        alert = await board.next("alert")
        assert alert["alertType"] == "system-alert" and alert["nvrId"] == reg.nvr_id
        assert alert["severity"] == "high" and alert["metadata"]["event"] == "nvr-offline"
        status = await board.next("nvr_status_update")
        assert status["nvr"]["status"] == "offline"
        assert status["nvr"]["cameraCounts"]["offline"] == 3
        # Persisted before it was broadcast: REST already says so.
        viewer = await api.headers("viewer")
        nvr = (await api.client.get(f"/api/nvrs/{reg.nvr_id}", headers=viewer)).json()
        assert nvr["status"] == "offline"
        r = await api.client.get(f"/api/cameras?nvrId={reg.nvr_id}", headers=viewer)
        assert {c["reachability"] for c in r.json()["items"]} == {"offline"}
        board.seen.clear()

        # The agent comes back: online, the cascade's offline undone (unknown until probed).
        await service.register(principal, msg, connection=conn)
        back = await board.next("nvr_online")
        assert back["camerasUpdated"] == 3
        cams = await board.until("camera-status-update", 3)
        assert {m["camera"]["reachability"] for m in cams} == {"unknown"}
        back_alert = await board.next("alert")
        assert back_alert["metadata"]["event"] == "nvr-online" and back_alert["severity"] == "low"
        await service.probe_report(reg.nvr_id, _all_reachable(3))
        board.seen.clear()
        await board.until("camera-status-update", 3)
        assert {m["camera"]["reachability"] for m in board.seen if "camera" in m} == {"online"}

        # A flap: offline and back again within the dedupe window raise no new alert.
        await service.disconnected(reg.nvr_id, conn)
        await board.next("nvr_offline", camerasUpdated=3)
        await service.register(principal, msg, connection=conn)
        await board.next("nvr_online", camerasUpdated=3)
        alerts = await _fleet_alerts(api)
        assert sorted(a["metadata"]["event"] for a in alerts) == ["nvr-offline", "nvr-online"]
        assert all(a["nvrId"] == reg.nvr_id for a in alerts)
    finally:
        await ws.close()


async def test_silence_marks_offline_and_a_heartbeat_brings_back(api: LiveApi) -> None:
    service = api.state.fleet
    principal, msg = await _fleet_nvr(api, "site-s-nvr", 2)
    ws, board = await _dashboard(api, ["nvrs"])
    try:
        reg = await service.register(principal, msg)
        await board.next("nvr_online")
        limit = service.settings.silence_seconds  # 3 × 10 s by default
        assert await service.check_silence(utcnow() + timedelta(seconds=limit - 1)) == []
        await service.heartbeat(reg.nvr_id)
        gone = await service.check_silence(utcnow() + timedelta(seconds=limit + 1))
        assert gone == [reg.nvr_id]
        offline = await board.next("nvr_offline")
        assert offline["camerasUpdated"] == 2
        assert await service.check_silence(utcnow() + timedelta(seconds=limit + 2)) == []
        # The agent was only paused: its next heartbeat brings the NVR back.
        await service.heartbeat(reg.nvr_id)
        back = await board.next("nvr_online")
        assert back["camerasUpdated"] == 2
        alerts = await _fleet_alerts(api)
        offline_alert = next(a for a in alerts if a["metadata"]["event"] == "nvr-offline")
        assert offline_alert["metadata"]["reason"] == "silent"
        assert "no heartbeat" in offline_alert["message"]
    finally:
        await ws.close()


async def test_summary_values_and_debounced_push(api: LiveApi) -> None:
    service = api.state.fleet
    viewer = await api.headers("viewer")
    principal, msg = await _fleet_nvr(api, "site-k-nvr", 4)
    await api.client.post(
        "/api/nvrs",
        json={"hostname": "idle-nvr", "region": "south"},
        headers=await api.headers("admin"),
    )
    ws, board = await _dashboard(api, ["nvrs"])
    try:
        reg = await service.register(principal, msg)
        await service.probe_report(
            reg.nvr_id,
            NvrProbeReport(
                type="probe-report",
                channels=[
                    {"number": 1, "reachable": True},
                    {"number": 2, "reachable": True},
                    {"number": 3, "reachable": False, "error": "timeout"},
                ],
            ),
        )
        summary = (await api.client.get("/api/stats/summary", headers=viewer)).json()
        assert summary["nvrs"] == {"total": 2, "online": 1, "offline": 1}
        cams = summary["cameras"]
        assert (cams["total"], cams["online"], cams["offline"], cams["unknown"]) == (4, 2, 1, 1)
        assert cams["byStatus"] == {"OFFLINE": 4}
        assert summary["regions"] == [
            {"region": "north", "nvrs": 1, "nvrsOnline": 1, "cameras": 4, "camerasOnline": 2},
            {"region": "south", "nvrs": 1, "nvrsOnline": 0, "cameras": 0, "camerasOnline": 0},
        ]
        assert len(summary["alertsByHour"]) == 24
        assert summary["alertsByHour"][-1]["hour"].endswith(":00:00.000Z")

        # Pushed: the latest figures arrive as stats:updated.
        async def latest_online() -> bool:
            pushed = [m for m in board.seen if m["type"] == "stats:updated"]
            return bool(pushed) and pushed[-1]["summary"]["cameras"]["online"] == 2

        async def drain() -> bool:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    board.seen.append(json.loads(await ws.recv()))
            return await latest_online()

        await eventually(drain, 10, "a stats:updated with the probed figures")

        await service.disconnected(reg.nvr_id)

        async def offline_pushed() -> bool:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    board.seen.append(json.loads(await ws.recv()))
            pushed = [m for m in board.seen if m["type"] == "stats:updated"]
            return pushed[-1]["summary"]["nvrs"]["online"] == 0

        await eventually(offline_pushed, 10, "a stats:updated with the NVR offline")
    finally:
        await ws.close()


async def test_a_burst_of_changes_is_one_push_per_debounce(
    tmp_path: Path, database_url: str | None
) -> None:
    """With a debounce far longer than the test, the first change is pushed at once and a
    burst after it is held for the next push (never one push per change)."""
    settings = make_settings(tmp_path, database_url, nvr=NvrSettings(stats_debounce=60))
    async with live_api(settings) as api:
        service = api.state.fleet
        ws, board = await _dashboard(api, ["nvrs"])
        try:
            before = service.summary.pushes
            principal, msg = await _fleet_nvr(api, "site-b-nvr", 2)  # the first change
            first = await board.next("stats:updated")  # the leading edge: pushed at once
            assert first["summary"]["nvrs"] == {"total": 1, "online": 0, "offline": 1}
            reg = await service.register(principal, msg)
            for i in range(10):
                await service.probe_report(
                    reg.nvr_id,
                    NvrProbeReport(
                        type="probe-report",
                        channels=[{"number": 1, "reachable": i % 2 == 0}],
                    ),
                )
            assert service.summary.pending  # folded into the next push…
            assert service.summary.pushes - before == 1  # …not one push per change
        finally:
            await ws.close()
