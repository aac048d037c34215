"""Start-up reconciliation: no camera claims to run without a session."""

from pathlib import Path

from beholder.bus import BusMessage, MemoryBus
from beholder.messages import CameraCommand, Subjects, WorkerHeartbeat
from support.api import LiveApi, start_live_api, stop_live_api
from support.polling import eventually
from support.settings import make_settings


async def _running_camera(tmp_path: Path, database_url: str | None) -> tuple[str, Path]:
    live = await start_live_api(make_settings(tmp_path, database_url))
    try:
        op = await live.headers("operator")
        cam = (
            await live.client.post(
                "/api/cameras", json={"name": "c", "rtspUrl": "rtsp://h/s"}, headers=op
            )
        ).json()
        assert (
            await live.client.post(f"/api/cameras/{cam['id']}/start", headers=op)
        ).status_code == 202
    finally:
        await stop_live_api(live)
    return str(cam["id"]), tmp_path


async def _status(live: LiveApi, cam_id: str, want: str) -> dict:
    """The camera once its status is ``want``; fails the test after 5 s."""
    h = await live.headers("viewer")

    async def reached() -> dict | None:
        cam = (await live.client.get(f"/api/cameras/{cam_id}", headers=h)).json()
        return cam if cam["status"] == want else None

    cam: dict = await eventually(reached, 5, f"camera {want}")
    return cam


async def test_running_camera_without_worker_is_marked_error(
    tmp_path: Path, database_url: str | None
) -> None:
    cam_id, _ = await _running_camera(tmp_path, database_url)
    live = await start_live_api(make_settings(tmp_path, database_url))
    try:
        cam = await _status(live, cam_id, "ERROR")
        assert cam["status"] == "ERROR" and cam["errorCode"] == "SERVICE_UNAVAILABLE"
        assert "worker" in cam["statusDetail"]
    finally:
        await stop_live_api(live)


async def test_running_camera_is_restarted_on_a_live_worker(
    tmp_path: Path, database_url: str | None
) -> None:
    cam_id, _ = await _running_camera(tmp_path, database_url)
    bus = MemoryBus()
    await bus.start()
    commands: list[CameraCommand] = []

    async def pong(msg: BusMessage) -> None:
        await msg.respond(WorkerHeartbeat(worker_id="w", sessions=0).to_bytes())

    async def on_cmd(msg: BusMessage) -> None:
        commands.append(CameraCommand.from_bytes(msg.data))

    await bus.subscribe(Subjects.WORKER_PING, pong)
    await bus.subscribe(Subjects.CAMERA_COMMANDS, on_cmd)
    live = await start_live_api(make_settings(tmp_path, database_url), bus=bus)
    try:
        await eventually(lambda: commands, 5, "a START_STREAM command")
        assert [(c.command_type.value, c.camera_id) for c in commands] == [("START_STREAM", cam_id)]
        assert commands[0].payload["rtspUrl"] == "rtsp://h/s"
        assert (await _status(live, cam_id, "STARTING"))["status"] == "STARTING"
    finally:
        await stop_live_api(live)
