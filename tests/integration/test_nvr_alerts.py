"""Camera-level effects of the NVR fleet on the real app (SQLite and PostgreSQL): probe
reports raise camera alerts (unreachable after reachable, reachable again) deduplicated over
flaps, a first unreachable probe raises none; on an NVR's return the cameras its worker was
retrying are restarted at once (a ``RESTART_STREAM`` on the bus), the others are left alone."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from beholder.bus.base import BusMessage
from beholder.contracts.bus import CameraCommand, CommandType
from beholder.contracts.nvr import NvrChannel, NvrProbeReport, NvrRegister
from beholder.contracts.subjects import Subjects
from beholder.db.models import Camera
from support.api import LiveApi
from support.polling import eventually


async def _registered(api: LiveApi, hostname: str, channels: int) -> tuple[Any, NvrRegister, str]:
    admin = await api.headers("admin")
    nvr_id = (
        await api.client.post("/api/nvrs", json={"hostname": hostname}, headers=admin)
    ).json()["id"]
    key = (await api.client.post(f"/api/nvrs/{nvr_id}/keys", headers=admin)).json()["key"]
    principal = await api.state.auth.authenticate(key)
    msg = NvrRegister(
        type="register",
        hostname=hostname,
        device_name=hostname,
        channels=[NvrChannel(number=i, url=f"rtsp://10.6.0.{i}/s") for i in range(1, channels + 1)],
    )
    await api.state.fleet.register(principal, msg)
    return principal, msg, nvr_id


def _probe(**channels: bool) -> NvrProbeReport:
    return NvrProbeReport(
        type="probe-report",
        channels=[
            {"number": int(n[2:]), "reachable": ok, **({} if ok else {"error": "timeout"})}
            for n, ok in channels.items()
        ],
    )


async def _alerts(api: LiveApi) -> list[dict[str, Any]]:
    r = await api.client.get(
        "/api/alerts?type=system-alert&limit=100", headers=await api.headers("viewer")
    )
    return sorted(r.json()["items"], key=lambda a: a["createdAt"])


async def test_probe_alerts_are_raised_once_per_change(api: LiveApi) -> None:
    service = api.state.fleet
    _, _, nvr_id = await _registered(api, "probe-nvr", 2)
    await service.probe_report(nvr_id, _probe(ch1=True, ch2=False))
    assert await _alerts(api) == []  # unknown → offline: a channel never seen working
    await service.probe_report(nvr_id, _probe(ch1=False))
    await service.probe_report(nvr_id, _probe(ch1=True))
    await service.probe_report(nvr_id, _probe(ch1=False))  # a flap inside the window
    await service.probe_report(nvr_id, _probe(ch1=True))
    alerts = await _alerts(api)
    assert [(a["metadata"]["event"], a["severity"]) for a in alerts] == [
        ("camera-offline", "medium"),
        ("camera-online", "low"),
    ]
    cams = (
        await api.client.get(f"/api/nvrs/{nvr_id}/cameras", headers=await api.headers("viewer"))
    ).json()["items"]
    assert {a["cameraId"] for a in alerts} == {cams[0]["id"]}
    assert alerts[0]["message"].endswith("The camera did not answer in time.")
    assert cams[1]["reachabilityDetail"] == "The camera did not answer in time."
    assert cams[1]["probe"]["error"] == "timeout" and cams[0]["probe"]["error"] is None


async def test_return_restarts_the_cameras_the_worker_was_retrying(api: LiveApi) -> None:
    service = api.state.fleet
    principal, msg, nvr_id = await _registered(api, "restart-nvr", 2)
    async with api.state.db.session() as s:
        cams = list(
            (
                await s.execute(
                    select(Camera).where(Camera.nvr_id == nvr_id).order_by(Camera.nvr_channel)
                )
            ).scalars()
        )
        cams[0].status = "ERROR"  # the worker keeps retrying it while the NVR is down
        retrying = cams[0].id
    seen: list[CameraCommand] = []

    async def on_command(m: BusMessage) -> None:
        seen.append(CameraCommand.from_bytes(m.data))

    sub = await api.state.bus.subscribe(Subjects.CAMERA_COMMANDS, on_command)
    try:
        await service.disconnected(nvr_id)
        await service.register(principal, msg)
        await eventually(lambda: seen, 10, "a camera command")
        assert [(c.command_type, c.camera_id) for c in seen] == [
            (CommandType.RESTART_STREAM, retrying)
        ]
        assert seen[0].payload["rtspUrl"] == "rtsp://10.6.0.1/s"
    finally:
        await sub.unsubscribe()
