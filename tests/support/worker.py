"""The camera worker under test: :class:`WorkerHarness` runs a :class:`WorkerManager` on a
fresh in-memory bus and records every status event and alert it publishes; the
``worker_harness`` fixture makes them with short test timeouts.

Cameras may be named (``"cam"``): ids on the bus are UUIDs, so a name that is not one stands
for :func:`support.ids.cam_id` of it in every method here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from beholder.messages import (
    CameraCommand,
    CameraSpec,
    CommandType,
    FaceDetectionAlert,
    StreamStatusEvent,
    Subjects,
    is_id,
)
from support.ids import cam_id
from support.polling import eventually
from support.settings import make_camera_settings, make_worker_settings


def camera_id_of(name: str) -> str:
    """``name`` when it is a UUID, else the UUID standing for it (:func:`cam_id`)."""
    return name if is_id(name) else cam_id(name)


class WorkerHarness:
    """A :class:`WorkerManager` on a fresh in-memory bus, recording what it publishes."""

    def __init__(self, bus: Any, manager: Any) -> None:
        self.bus = bus
        self.manager = manager
        self.events: list[StreamStatusEvent] = []
        self.alerts: list[FaceDetectionAlert] = []

    async def _on_status(self, msg: Any) -> None:
        self.events.append(StreamStatusEvent.from_bytes(msg.data))

    async def _on_alert(self, msg: Any) -> None:
        self.alerts.append(FaceDetectionAlert.from_bytes(msg.data))

    async def send(self, kind: str, camera_id: str, payload: dict[str, Any] | None = None) -> None:
        """Publish a ``CameraCommand`` of type ``kind`` (e.g. ``"STOP_STREAM"``)."""
        cmd = CameraCommand(
            command_type=CommandType(kind), camera_id=camera_id_of(camera_id), payload=payload or {}
        )
        await self.bus.publish(Subjects.CAMERA_COMMANDS, cmd.to_bytes())

    async def start_camera(self, camera_id: str, url: str, *, detect: bool = True) -> None:
        spec = CameraSpec(
            camera_id=camera_id_of(camera_id),
            name=camera_id,
            rtsp_url=url,
            face_detection_enabled=detect,
        )
        await self.send("START_STREAM", camera_id, spec.to_wire())

    def session(self, camera_id: str) -> Any:
        """The worker's session of ``camera_id`` (a name or a UUID), or ``None``."""
        return self.manager.get_session(camera_id_of(camera_id))

    def statuses(self, camera_id: str) -> list[StreamStatusEvent]:
        cid = camera_id_of(camera_id)
        return [e for e in self.events if e.camera_id == cid]

    def alerts_for(self, camera_id: str) -> list[FaceDetectionAlert]:
        cid = camera_id_of(camera_id)
        return [a for a in self.alerts if a.camera_id == cid]

    async def wait_for(
        self,
        camera_id: str,
        status: str,
        *,
        timeout: float = 10.0,
        after: int = 0,
        where: Callable[[StreamStatusEvent], bool] | None = None,
    ) -> StreamStatusEvent:
        """First status event of ``camera_id`` with ``status`` at index >= ``after`` of
        :attr:`events`; fails the test after ``timeout`` seconds naming what it saw."""

        cid = camera_id_of(camera_id)

        def found() -> StreamStatusEvent | None:
            for e in self.events[after:]:
                if e.camera_id == cid and e.status.value == status and (where is None or where(e)):
                    return e
            return None

        def seen() -> str:
            saw = [(e.status.value, e.error_code, e.attempt) for e in self.statuses(camera_id)]
            return f"{camera_id} to be {status}; saw {saw}"

        event: StreamStatusEvent = await eventually(found, timeout, seen)
        return event

    async def wait_for_alert(self, camera_id: str, timeout: float = 10.0) -> FaceDetectionAlert:
        """The first alert of ``camera_id``; fails the test after ``timeout`` seconds."""
        alerts: list[FaceDetectionAlert] = await eventually(
            lambda: self.alerts_for(camera_id), timeout, f"an alert for {camera_id}"
        )
        return alerts[0]


async def start_worker_harness(camera: Any = None, **overrides: Any) -> WorkerHarness:
    """A started harness; ``overrides`` are ``WorkerSettings`` fields, ``camera`` the
    ``CameraSettings`` (default: the tests' networks, loopback included). Stop it with
    :func:`stop_worker_harness`."""
    from beholder.bus import MemoryBus
    from beholder.worker.manager import WorkerManager

    bus = MemoryBus()
    await bus.start()
    manager = WorkerManager(
        make_worker_settings(**overrides),
        bus,
        "test-worker",
        camera=camera if camera is not None else make_camera_settings(),
    )
    harness = WorkerHarness(bus, manager)
    await bus.subscribe(Subjects.STREAM_STATUS, harness._on_status)
    await bus.subscribe(Subjects.CAMERA_EVENTS, harness._on_alert)
    await manager.start()
    return harness


async def stop_worker_harness(harness: WorkerHarness) -> None:
    await harness.manager.stop()
    await harness.bus.close()


@pytest.fixture
async def worker_harness() -> AsyncIterator[Callable[..., Any]]:
    """``await make(camera=None, **worker_settings) -> WorkerHarness`` with short timeouts
    for tests; every harness made is stopped after the test."""
    made: list[WorkerHarness] = []

    async def make(camera: Any = None, **overrides: Any) -> WorkerHarness:
        harness = await start_worker_harness(camera, **overrides)
        made.append(harness)
        return harness

    yield make
    for h in made:
        await stop_worker_harness(h)
