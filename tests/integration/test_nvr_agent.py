"""``beholder nvr-agent`` as a real process against the real app (uvicorn on a socket) with
real GStreamer RTSP mounts as the NVR's channels: template import, probes (unreachable,
wrong credentials), the offline cascade seen on a dashboard hub socket (SIGKILL, SIGSTOP,
SIGCONT), alerts once per outage. No timing is asserted: waits are ``eventually``."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from beholder.config import NvrSettings
from fixtures.rtsp_server import RtspServer, free_port
from support.api import LiveApi, live_api, start_live_api, stop_live_api
from support.nvr_agent import AgentProcess, Dashboard, create_nvr, nvr_cameras
from support.polling import eventually
from support.settings import make_settings

pytestmark = [pytest.mark.rtsp, pytest.mark.slow]

HEARTBEAT = 0.5
"""Server heartbeat (s) in these tests: silence → offline after 3 × 0.5 s."""


@pytest.fixture
async def fleet_api(tmp_path: Path, database_url: str | None) -> AsyncIterator[LiveApi]:
    """The app on SQLite and PostgreSQL, short NVR heartbeats, no alert de-duplication
    window (so that two outages in a test make two alerts)."""
    nvr = NvrSettings(heartbeat_seconds=HEARTBEAT, missed_heartbeats=3, alert_dedupe_seconds=0)
    async with live_api(make_settings(tmp_path, database_url, nvr=nvr)) as live:
        yield live


@pytest.fixture
async def fleet_api_sqlite(tmp_path: Path) -> AsyncIterator[LiveApi]:
    """As :func:`fleet_api`, SQLite only (tests about the agent, not the repositories)."""
    nvr = NvrSettings(heartbeat_seconds=HEARTBEAT, missed_heartbeats=3, alert_dedupe_seconds=0)
    async with live_api(make_settings(tmp_path, None, nvr=nvr)) as live:
        yield live


def _config(hostname: str, **extra: Any) -> dict[str, Any]:
    return {
        "nvr": {"hostname": hostname, "deviceName": "Site A", "region": "north"},
        "heartbeatSeconds": HEARTBEAT,
        "probeSeconds": 0.5,
        "probeTimeout": 2,
        **extra,
    }


@pytest.fixture
def agents(tmp_path: Path) -> Any:
    started: list[AgentProcess] = []

    def make(
        api: LiveApi, key: str, config: dict[str, Any], env: dict[str, str] | None = None
    ) -> AgentProcess:
        agent = AgentProcess(tmp_path, api, key, config).start(env)
        started.append(agent)
        return agent

    yield make
    for agent in started:
        agent.stop()


async def test_template_import_finds_exactly_the_mounts(
    fleet_api: LiveApi,
    agents: Callable[..., AgentProcess],
    rtsp_server_factory: Callable[..., RtspServer],
    rtsp_media: dict[str, Path],
) -> None:
    server = rtsp_server_factory(
        {f"ch{n}": rtsp_media["two"] for n in (1, 2, 4)},
        auth=("viewer", "cam-pass"),
        auth_method="digest",
    )
    nvr, key, _ = await create_nvr(fleet_api, "site-a-nvr")
    template = {
        "preset": "generic",
        "url": "rtsp://{host}:{port}/ch{n}",
        "host": "127.0.0.1",
        "port": server.port,
        "username": "viewer",
        "password": "${CAM_PASSWORD}",
        "channels": "1-6",
    }
    env = {"CAM_PASSWORD": "cam-pass"}
    agent = agents(fleet_api, key, _config("site-a-nvr", template=template), env)

    async def three_online() -> list[dict[str, Any]] | None:
        cams = await nvr_cameras(fleet_api, nvr["id"])
        return cams if [c["reachability"] for c in cams] == ["online"] * 3 else None

    cams = await eventually(three_online, 30, lambda: f"3 cameras online; log: {agent.log_text()}")
    assert [c["nvrChannel"] for c in cams] == [1, 2, 4]
    assert [c["name"] for c in cams] == ["Site A ch1", "Site A ch2", "Site A ch4"]
    for cam in cams:
        assert cam["nvrId"] == nvr["id"]
        assert "cam-pass" not in cam["rtspUrl"]  # stored with credentials, shown masked
        assert cam["probe"]["codec"] == "H264"
        assert (cam["probe"]["width"], cam["probe"]["height"]) == (480, 270)
    r = await fleet_api.client.get(
        f"/api/nvrs/{nvr['id']}", headers=await fleet_api.headers("viewer")
    )
    assert r.json()["status"] == "online"
    assert "cam-pass" not in agent.log_text()

    # A restart imports again: same cameras, none created.
    agent.signal(signal.SIGTERM)
    assert await agent.wait() == 0
    agent.start(env)
    await eventually(
        lambda: any(
            line.get("event") == "registered" and line.get("cameras_created") == 0
            for line in agent.log_lines()
        ),
        30,
        "the second registration",
    )
    again = await nvr_cameras(fleet_api, nvr["id"])
    assert [c["id"] for c in again] == [c["id"] for c in cams]


async def test_unreachable_channel_and_wrong_credentials(
    fleet_api_sqlite: LiveApi,
    agents: Callable[..., AgentProcess],
    rtsp_server_factory: Callable[..., RtspServer],
    rtsp_private_camera: RtspServer,
    rtsp_media: dict[str, Path],
) -> None:
    api = fleet_api_sqlite
    locked = rtsp_server_factory({"cam": rtsp_media["two"]}, auth=("viewer", "right"))
    nvr, key, _ = await create_nvr(api, "site-b-nvr")
    channels = [
        {"number": 1, "name": "Dies", "url": rtsp_private_camera.url("two")},
        {"number": 2, "name": "Wrong", "url": locked.url("cam", user="viewer", password="wrong")},
        {"number": 3, "name": "Right", "url": locked.url("cam", user="viewer", password="right")},
    ]
    agent = agents(api, key, _config("site-b-nvr", channels=channels))

    async def states() -> list[tuple[str, str | None]]:
        cams = await nvr_cameras(api, nvr["id"])
        return [(c["reachability"], (c["probe"] or {}).get("error")) for c in cams]

    want = [("online", None), ("offline", "unauthorized"), ("online", None)]
    await eventually(lambda: _equals(states(), want), 30, lambda: f"{want}; {agent.log_text()}")
    cams = await nvr_cameras(api, nvr["id"])
    assert cams[1]["reachabilityDetail"] not in (None, "NVR offline")  # a camera fault

    rtsp_private_camera.stop()  # channel 1 stops answering
    want = [("offline", "refused"), ("offline", "unauthorized"), ("online", None)]
    await eventually(lambda: _equals(states(), want), 30, lambda: f"{want}; {agent.log_text()}")
    assert agent.proc is not None and agent.proc.poll() is None  # a bad channel never kills it
    assert "wrong" not in agent.log_text() and "right@" not in agent.log_text()


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_cascade_over_real_sockets(
    fleet_api: LiveApi,
    agents: Callable[..., AgentProcess],
    rtsp_camera: RtspServer,
) -> None:
    api = fleet_api
    nvr, key, _ = await create_nvr(api, "site-c-nvr")
    channels = [
        {"number": 1, "url": rtsp_camera.url("two")},
        {"number": 2, "url": rtsp_camera.url("walk")},
    ]
    config = _config("site-c-nvr", channels=channels)
    dash = await Dashboard.open(api)
    agent = agents(api, key, config)

    def camera_updates(reach: str, detail: str | None = None) -> set[str]:
        return {
            m["cameraId"]
            for m in dash.of("camera-status-update")
            if (m.get("camera") or {}).get("nvrId") == nvr["id"]
            and m["camera"]["reachability"] == reach
            and (detail is None or m["camera"]["reachabilityDetail"] == detail)
        }

    def of_nvr(kind: str) -> list[dict[str, Any]]:
        return dash.of(kind, lambda m: m.get("nvrId") == nvr["id"])

    await eventually(lambda: len(camera_updates("online")) == 2, 30, "both cameras online")
    assert len(of_nvr("nvr_online")) == 1

    # 1. SIGKILL: the socket closes → offline at once, with its two cameras.
    agent.signal(signal.SIGKILL)
    await eventually(lambda: of_nvr("nvr_offline"), 15, "nvr_offline after SIGKILL")
    offline = of_nvr("nvr_offline")[0]
    assert offline["camerasUpdated"] == 2
    assert (offline["hostname"], offline["region"]) == ("site-c-nvr", "north")
    await eventually(lambda: len(camera_updates("offline", "NVR offline")) == 2, 10, "cameras")
    await agent.wait()

    # 2. back: a new agent process registers → online, cameras reachable again.
    dash.messages.clear()
    agent = agents(api, key, config)
    await eventually(lambda: of_nvr("nvr_online"), 30, "nvr_online after restart")
    await eventually(lambda: len(camera_updates("online")) == 2, 30, "cameras online again")

    # 3. SIGSTOP: the socket stays open but nothing comes → offline after 3 heartbeats.
    dash.messages.clear()
    agent.signal(signal.SIGSTOP)
    await eventually(lambda: of_nvr("nvr_offline"), 30, "nvr_offline after SIGSTOP")
    assert of_nvr("nvr_offline")[0]["camerasUpdated"] == 2
    await eventually(lambda: len(camera_updates("offline", "NVR offline")) == 2, 10, "cameras")

    # 4. SIGCONT: heartbeats resume → online again.
    dash.messages.clear()
    agent.signal(signal.SIGCONT)
    await eventually(lambda: of_nvr("nvr_online"), 30, "nvr_online after SIGCONT")
    await eventually(lambda: len(camera_updates("online")) == 2, 30, "cameras online again")
    assert len(of_nvr("nvr_offline")) == 0

    # Alerts: one NVR-offline system alert per outage (two outages), none per camera.
    r = await api.client.get(
        "/api/alerts",
        params={"type": "system-alert", "limit": 100},
        headers=await api.headers("admin"),
    )
    events = [
        a["metadata"]["event"]
        for a in r.json()["items"]
        if (a.get("metadata") or {}).get("hostname") == "site-c-nvr"
    ]
    assert events.count("nvr-offline") == 2, events  # SIGKILL and SIGSTOP
    assert events.count("nvr-online") == 2, events  # restart and SIGCONT
    await dash.close()


async def test_agent_reconnects_and_resends_its_last_state(
    tmp_path: Path, agents: Callable[..., AgentProcess], rtsp_camera: RtspServer
) -> None:
    """The server restarts: the agent reconnects (backoff), registers again (no camera
    created) and resends the report it kept — no new probe round runs (probeSeconds is
    an hour), so the new server's fresh ``checkedAt`` can only come from the kept state."""
    nvr_settings = NvrSettings(heartbeat_seconds=HEARTBEAT, alert_dedupe_seconds=0)
    settings = make_settings(tmp_path, None, nvr=nvr_settings)
    api = await start_live_api(settings)
    try:
        nvr, key, _ = await create_nvr(api, "site-d-nvr")
        channels = [{"number": 1, "url": rtsp_camera.url("two")}]
        agent = agents(api, key, _config("site-d-nvr", channels=channels, probeSeconds=3600))

        async def checked_at() -> str | None:
            cams = await nvr_cameras(api, nvr["id"])
            probe = cams[0]["probe"] if cams else None
            return probe["checkedAt"] if probe else None

        first = await eventually(checked_at, 30, lambda: f"a probe report; {agent.log_text()}")
    finally:
        await stop_live_api(api)
    api = await start_live_api(settings)
    agent.api = api
    try:
        await eventually(
            lambda: sum(line.get("event") == "registered" for line in agent.log_lines()) >= 2,
            30,
            lambda: f"a second registration; {agent.log_text()}",
        )
        again = await eventually(
            lambda: _newer(checked_at(), first), 30, "the kept report on the new server"
        )
        assert again > first
        cams = await nvr_cameras(api, nvr["id"])
        assert len(cams) == 1 and cams[0]["reachability"] == "online"
        lines = [ln for ln in agent.log_lines() if ln.get("event") == "registered"]
        assert lines[-1]["cameras_created"] == 0
        assert any(ln.get("event") == "reconnecting" for ln in agent.log_lines())
    finally:
        await stop_live_api(api)


async def _newer(value: Any, than: str) -> str | None:
    got = await value
    return got if got is not None and got > than else None


async def test_template_discovery_waits_for_the_nvr(
    fleet_api_sqlite: LiveApi,
    agents: Callable[..., AgentProcess],
    rtsp_media: dict[str, Path],
    tmp_path: Path,
) -> None:
    """The NVR does not answer when the agent starts: it registers without channels, keeps
    probing the range, and registers the channels once they answer (same socket)."""
    api = fleet_api_sqlite
    port = free_port()
    nvr, key, _ = await create_nvr(api, "site-e-nvr")
    template = {"preset": "generic", "url": f"rtsp://127.0.0.1:{port}/ch{{n}}", "channels": "1-3"}
    agent = agents(api, key, _config("site-e-nvr", template=template))
    await eventually(
        lambda: any(ln.get("event") == "registered" for ln in agent.log_lines()),
        30,
        lambda: f"a registration without channels; {agent.log_text()}",
    )
    assert await nvr_cameras(api, nvr["id"]) == []
    server = RtspServer({"ch2": rtsp_media["two"]}, port=port, log_path=tmp_path / "late.log")
    server.start()
    try:
        cams = await eventually(
            lambda: nvr_cameras(api, nvr["id"]), 30, lambda: f"channel 2; {agent.log_text()}"
        )
        assert [c["nvrChannel"] for c in cams] == [2]
    finally:
        server.stop()
