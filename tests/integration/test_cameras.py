"""Cameras CRUD, masking, validation and commands — on SQLite and PostgreSQL."""

import json

import pytest

from beholder.api.dispatch import Dispatched
from beholder.bus import BusMessage
from beholder.db.repositories import cameras as cameras_repo
from beholder.errors import BusError
from beholder.messages import (
    CameraCommand,
    CameraSpec,
    CameraStatus,
    StreamStatusEvent,
    Subjects,
)
from support.api import LiveApi
from support.polling import eventually

URL = "rtsp://admin:s3cret-pw@192.168.1.20:554/Streaming/Channels/101"


async def _create(api: LiveApi, name: str = "Front door", url: str = URL, **extra: object) -> dict:
    r = await api.client.post(
        "/api/cameras",
        json={"name": name, "rtspUrl": url, **extra},
        headers=await api.headers("operator"),
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_crud_masks_credentials_everywhere(api: LiveApi) -> None:
    cam = await _create(api, location="Porch")
    assert cam["rtspUrl"] == "rtsp://admin:***@192.168.1.20:554/Streaming/Channels/101"
    assert cam["status"] == "OFFLINE" and cam["faceDetectionEnabled"] is True
    viewer = await api.headers("viewer")
    listed = await api.client.get("/api/cameras", headers=viewer)
    assert "s3cret-pw" not in listed.text and listed.json()["items"][0]["id"] == cam["id"]
    got = await api.client.get(f"/api/cameras/{cam['id']}", headers=viewer)
    assert got.json()["location"] == "Porch"
    op = await api.headers("operator")
    upd = await api.client.patch(
        f"/api/cameras/{cam['id']}", json={"location": "Garage"}, headers=op
    )
    assert (
        upd.status_code == 200 and upd.json()["location"] == "Garage" and "s3cret" not in upd.text
    )
    assert (await api.client.delete(f"/api/cameras/{cam['id']}", headers=op)).status_code == 204
    gone = await api.client.get(f"/api/cameras/{cam['id']}", headers=viewer)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "NOT_FOUND"


async def test_duplicate_name_is_a_conflict(api: LiveApi) -> None:
    await _create(api, "Yard")
    r = await api.client.post(
        "/api/cameras",
        json={"name": "Yard", "rtspUrl": "rtsp://10.0.0.9/s"},
        headers=await api.headers("operator"),
    )
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "CONFLICT" and "name" in err["message"]
    assert (
        "UNIQUE" not in r.text and "IntegrityError" not in r.text and "duplicate key" not in r.text
    )


async def test_bad_rtsp_url_gets_a_human_message(api: LiveApi) -> None:
    r = await api.client.post(
        "/api/cameras",
        json={"name": "x", "rtspUrl": "http://cam/stream"},
        headers=await api.headers("operator"),
    )
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "INVALID_INPUT" and "rtsp://" in err["message"]


async def test_commands_return_202_and_reach_the_bus(api: LiveApi) -> None:
    cam = await _create(api)
    seen: list[CameraCommand] = []

    async def on_cmd(msg: BusMessage) -> None:
        seen.append(CameraCommand.from_bytes(msg.data))

    await api.state.bus.subscribe(Subjects.CAMERA_COMMANDS, on_cmd)
    op = await api.headers("operator")
    r = await api.client.post(f"/api/cameras/{cam['id']}/start", headers=op)
    assert r.status_code == 202
    body = r.json()
    assert body["cameraId"] == cam["id"] and body["status"] == "STARTING" and body["correlationId"]
    r2 = await api.client.post(
        f"/api/cameras/{cam['id']}/face-detection", json={"enabled": False}, headers=op
    )
    assert r2.status_code == 202
    r3 = await api.client.post(f"/api/cameras/{cam['id']}/stop", headers=op)
    assert r3.status_code == 202 and r3.json()["status"] == "STOPPING"
    await eventually(lambda: len(seen) >= 3, 5, "three commands on the bus")
    kinds = [c.command_type.value for c in seen]
    assert kinds == ["START_STREAM", "TOGGLE_FACE_DETECTION", "STOP_STREAM"]
    # The worker gets the real URL (it needs it); clients never do.
    assert seen[0].payload["rtspUrl"] == URL and seen[0].correlation_id == body["correlationId"]
    assert seen[1].payload == {"enabled": False}
    after = (await api.client.get(f"/api/cameras/{cam['id']}", headers=op)).json()
    assert after["faceDetectionEnabled"] is False


class _InstantWorker:
    """The api's dispatcher with a worker that answers before the request returns: after
    each START it reports PROCESSING on ``stream.status`` and waits until the api stored it
    (as a fast worker does while a slow api request has not committed yet)."""

    def __init__(self, api: LiveApi, fenced: bool) -> None:
        self.api = api
        self.inner = api.state.dispatcher
        self.fenced = fenced

    async def send(self, cmd: CameraCommand, spec: CameraSpec | None) -> Dispatched:
        sent = await self.inner.send(cmd, spec)
        event = StreamStatusEvent(
            camera_id=cmd.camera_id,
            status=CameraStatus.PROCESSING,
            worker_id="w-fast",
            epoch=1 if self.fenced else None,
            seq=1 if self.fenced else None,
        )
        await self.api.state.bus.publish(Subjects.STREAM_STATUS, event.to_bytes())

        async def stored() -> bool:
            async with self.api.state.db.session() as s:
                cam = await cameras_repo.find(s, cmd.camera_id)
                return cam is not None and cam.status == CameraStatus.PROCESSING.value

        await eventually(stored, 5, "the worker's PROCESSING stored while the request runs")
        return sent


@pytest.mark.parametrize("fenced", [False, True], ids=["serve", "distributed"])
async def test_a_worker_answering_before_the_start_request_returns_is_not_overwritten(
    api: LiveApi, fenced: bool
) -> None:
    """The camera's new state is committed before the command leaves: the worker's first
    status finds the camera enabled (not a late event of a stopped camera), and the request
    never puts its older STARTING over the worker's PROCESSING."""
    cam = await _create(api)
    api.state.dispatcher = _InstantWorker(api, fenced)
    op = await api.headers("operator")
    r = await api.client.post(f"/api/cameras/{cam['id']}/start", headers=op)
    assert r.status_code == 202, r.text
    got = (await api.client.get(f"/api/cameras/{cam['id']}", headers=op)).json()
    assert got["status"] == "PROCESSING" and got["workerId"] == "w-fast"


class _Unreachable:
    """A dispatcher whose bus refuses every command."""

    async def send(self, cmd: CameraCommand, spec: CameraSpec | None) -> Dispatched:
        raise BusError(detail="test: no route to the bus")


async def test_a_start_that_cannot_reach_a_worker_leaves_the_camera_as_it_was(
    api: LiveApi,
) -> None:
    cam = await _create(api)
    api.state.dispatcher = _Unreachable()
    op = await api.headers("operator")
    r = await api.client.post(f"/api/cameras/{cam['id']}/start", headers=op)
    assert r.status_code == 503 and r.json()["error"]["code"] == "SERVICE_UNAVAILABLE", r.text
    got = (await api.client.get(f"/api/cameras/{cam['id']}", headers=op)).json()
    assert (got["status"], got["enabled"]) == (cam["status"], cam["enabled"]) == ("OFFLINE", True)


async def test_snapshot_of_stopped_camera_is_503(api: LiveApi) -> None:
    cam = await _create(api)
    r = await api.client.get(
        f"/api/cameras/{cam['id']}/snapshot.jpg", headers=await api.headers("viewer")
    )
    assert r.status_code == 503 and r.json()["error"]["code"] == "STREAM_UNAVAILABLE"


async def test_hundred_cameras_list(api: LiveApi) -> None:
    op = await api.headers("operator")
    for i in range(100):
        r = await api.client.post(
            "/api/cameras",
            json={"name": f"cam-{i:03d}", "rtspUrl": f"rtsp://10.0.1.{i}/s"},
            headers=op,
        )
        assert r.status_code == 201
    items = (await api.client.get("/api/cameras", headers=op)).json()["items"]
    assert [c["name"] for c in items] == [f"cam-{i:03d}" for i in range(100)]
    json.dumps(items)


async def test_fixing_the_url_of_a_failing_camera_restarts_it(api: LiveApi) -> None:
    """An operator corrects the URL of a camera in ERROR: the worker, still retrying the old
    URL, gets a restart with the new one; a stopped camera's new URL waits for its start."""
    cam = await _create(api)
    stopped = await _create(api, name="Stopped", url="rtsp://10.0.0.8/s")
    async with api.state.db.session() as s:
        await cameras_repo.set_status(s, cam["id"], "ERROR", error_code="STREAM_UNAVAILABLE")
        await s.commit()
    seen: list[CameraCommand] = []

    async def on_cmd(msg: BusMessage) -> None:
        seen.append(CameraCommand.from_bytes(msg.data))

    await api.state.bus.subscribe(Subjects.CAMERA_COMMANDS, on_cmd)
    op = await api.headers("operator")
    fixed = "rtsp://10.0.0.7:554/fixed"
    r = await api.client.patch(f"/api/cameras/{cam['id']}", json={"rtspUrl": fixed}, headers=op)
    assert r.status_code == 200
    r = await api.client.patch(
        f"/api/cameras/{stopped['id']}", json={"rtspUrl": "rtsp://10.0.0.6/s"}, headers=op
    )
    assert r.status_code == 200
    await eventually(lambda: len(seen) >= 1, 5, "the restart on the bus")
    assert [(c.command_type.value, c.camera_id) for c in seen] == [("RESTART_STREAM", cam["id"])]
    assert seen[0].payload["rtspUrl"] == fixed
