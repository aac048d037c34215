"""The NVR offline cascade (issue 11): the two transitions of an NVR, each persisted in one
transaction (NVR status, its cameras' reachability, the system alert) and then broadcast
(``nvr_online``/``nvr_offline`` first, then each changed camera's ``camera-status-update``,
the alert, the NVR's ``nvr_status_update``), and the summary poked. A transition happens once
per change of state (a conditional ``UPDATE``), so one outage raises one alert whoever notices
it first (the socket closing, or the silence monitor). Used by :mod:`.service`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import structlog
from sqlalchemy.orm.attributes import set_committed_value

from beholder.bus.base import Bus
from beholder.config.nvr import NvrSettings
from beholder.contracts import hub as hub_messages
from beholder.contracts.hub import HubMessage
from beholder.contracts.resources import CameraOut
from beholder.db.engine import Database
from beholder.db.models import Alert, Camera, Nvr
from beholder.db.repositories import cameras as cameras_repo
from beholder.db.repositories import nvrs as nvrs_repo
from beholder.errors import BusError
from beholder.messages import CameraCommand, CameraSpec, CameraStatus, CommandType, Subjects, utcnow
from beholder.nvr.alerts import AlertPolicy
from beholder.nvr.summary import Publish, SummaryPusher
from beholder.nvr.views import nvr_out

log = structlog.get_logger(__name__)

OFFLINE_DETAIL = "NVR offline"
"""Reachability detail of a camera made offline by its NVR's outage."""


def outage_text(seconds: float) -> str:
    """A duration for people: ``"42 s"``, ``"12 min"``, ``"3.5 h"``."""
    if seconds < 90:
        return f"{int(seconds)} s"
    if seconds < 5400:
        return f"{int(seconds // 60)} min"
    return f"{seconds / 3600:.1f} h"


def _moved(nvr: Nvr, status: str, at: datetime) -> None:
    """Mirror :func:`nvrs_repo.set_status` on the loaded row (no re-read, nothing to flush)."""
    set_committed_value(nvr, "status", status)
    set_committed_value(nvr, "updated_at", at)
    if status == "online":
        set_committed_value(nvr, "last_seen_at", at)


@dataclass(frozen=True, slots=True)
class Hooks:
    """What the service needs from the api layer (which it may not import):
    ``publish(topic, message, camera_id)`` fans a hub message out to every api instance;
    ``camera(row)`` is the public ``CameraOut`` of a camera; ``alert(row)`` the hub message
    of an alert."""

    publish: Publish
    camera: Callable[[Camera], CameraOut]
    alert: Callable[[Alert], HubMessage]


@dataclass(slots=True)
class Outbox:
    """Hub messages and commands built inside a transaction, sent after it commits."""

    messages: list[tuple[str, HubMessage, str | None]]
    commands: list[CameraCommand]

    def camera(self, hooks: Hooks, cam: Camera) -> None:
        view = hooks.camera(cam)
        msg = hub_messages.camera_status_update(
            view.id,
            view.status,
            error_code=view.error_code,
            details=view.status_detail,
            camera=view,
        )
        self.messages.append(("cameras", msg, view.id))


class Cascade:
    """NVR transitions (see the module doc); ``summary`` is poked after each."""

    def __init__(
        self,
        settings: NvrSettings,
        db: Database,
        bus: Bus,
        hooks: Hooks,
        policy: AlertPolicy,
        summary: SummaryPusher,
    ) -> None:
        self.settings = settings
        self._db = db
        self._bus = bus
        self._hooks = hooks
        self.policy = policy
        self.summary = summary

    async def go_online(self, nvr_id: str) -> bool:
        """offline → online (persisted, then broadcast); False when it was online already."""
        now = utcnow()
        out = Outbox([], [])
        async with self._db.session() as s:
            nvr = await nvrs_repo.find(s, nvr_id)
            if nvr is None:
                return False
            last_seen = nvr.last_seen_at
            if not await nvrs_repo.set_status(s, nvr_id, "online", now):
                return False
            _moved(nvr, "online", now)
            every = await cameras_repo.of_nvr(s, nvr_id)
            cams = cameras_repo.mark_reachability(
                every, "unknown", None, only_detail=OFFLINE_DETAIL
            )
            for cam in cams:
                out.camera(self._hooks, cam)
            if last_seen is not None:  # a return, not the first registration
                outage = (now - last_seen).total_seconds()
                alert = await self.policy.raise_once(
                    s,
                    "nvr-online",
                    severity=self.policy.returned(outage),
                    message=f"NVR {self._label(nvr)} is back online after {outage_text(outage)}",
                    metadata={"hostname": nvr.hostname, "outageSeconds": round(outage, 1)},
                    nvr_id=nvr_id,
                )
                if alert is not None:
                    out.messages.append(("alerts", self._hooks.alert(alert), None))
            for cam in every:
                if cam.enabled and cam.status in (CameraStatus.CONNECTING, CameraStatus.ERROR):
                    spec = CameraSpec(
                        camera_id=cam.id,
                        name=cam.name,
                        rtsp_url=cam.rtsp_url,
                        face_detection_enabled=cam.face_detection_enabled,
                    )
                    out.commands.append(
                        CameraCommand(
                            command_type=CommandType.RESTART_STREAM,
                            camera_id=cam.id,
                            payload=spec.to_wire(),
                        )
                    )
            self.status_of(out, nvr, every)
            connectivity = self._connectivity(True, nvr, len(cams), now)
        log.info("NVR online", nvr_id=nvr_id, cameras_updated=len(cams))
        out.messages.insert(0, ("nvrs", connectivity, None))
        await self.flush(out)
        self.summary.poke()
        return True

    async def go_offline(self, nvr_id: str, reason: Literal["disconnected", "silent"]) -> bool:
        """online → offline with the cascade (persisted, then broadcast); False when it was
        offline already (so one outage raises one alert, whoever notices it first)."""
        now = utcnow()
        out = Outbox([], [])
        async with self._db.session() as s:
            nvr = await nvrs_repo.find(s, nvr_id)
            if nvr is None or not await nvrs_repo.set_status(s, nvr_id, "offline", now):
                return False
            _moved(nvr, "offline", now)
            every = await cameras_repo.of_nvr(s, nvr_id)
            cams = cameras_repo.mark_reachability(every, "offline", OFFLINE_DETAIL)
            for cam in cams:
                out.camera(self._hooks, cam)
            total = len(every)
            why = (
                "its agent disconnected"
                if reason == "disconnected"
                else f"no heartbeat for {outage_text(self.settings.silence_seconds)}"
            )
            alert = await self.policy.raise_once(
                s,
                "nvr-offline",
                severity=self.policy.nvr_offline(total),
                message=f"NVR {self._label(nvr)} is offline ({why}); "
                f"{total} camera{'s' if total != 1 else ''} affected",
                metadata={"hostname": nvr.hostname, "reason": reason, "camerasAffected": total},
                nvr_id=nvr_id,
            )
            if alert is not None:
                out.messages.append(("alerts", self._hooks.alert(alert), None))
            self.status_of(out, nvr, every)
            connectivity = self._connectivity(False, nvr, len(cams), now)
        log.info("NVR offline", nvr_id=nvr_id, reason=reason, cameras_updated=len(cams))
        out.messages.insert(0, ("nvrs", connectivity, None))
        await self.flush(out)
        self.summary.poke()
        return True

    @staticmethod
    def _label(nvr: Nvr) -> str:
        return f"{nvr.device_name} ({nvr.hostname})" if nvr.device_name else nvr.hostname

    @staticmethod
    def _connectivity(online: bool, nvr: Nvr, n: int, at: datetime) -> HubMessage:
        return hub_messages.nvr_connectivity(
            online, nvr.id, nvr.hostname, nvr.device_name, nvr.region, n, at
        )

    def status_of(self, out: Outbox, nvr: Nvr, cameras: list[Camera]) -> None:
        """Queue the NVR's ``nvr_status_update`` from rows the caller's transaction holds
        (``cameras``: all the NVR's cameras, as that transaction leaves them): no re-read."""
        view = nvr_out(nvr, nvrs_repo.tally_of(cameras))
        out.messages.append(("nvrs", hub_messages.nvr_status_update(view), None))

    async def send_nvr(self, nvr_id: str, out: Outbox) -> None:
        """Queue the NVR's current ``nvr_status_update`` (read after the commit)."""
        async with self._db.session() as s:
            nvr = await nvrs_repo.find(s, nvr_id)
            if nvr is None:
                return
            tally = (await nvrs_repo.camera_tallies(s, [nvr_id]))[nvr_id]
            out.messages.append(("nvrs", hub_messages.nvr_status_update(nvr_out(nvr, tally)), None))

    async def flush(self, out: Outbox) -> None:
        for topic, message, camera_id in out.messages:
            await self._hooks.publish(topic, message, camera_id)
        for cmd in out.commands:
            try:
                await self._bus.publish(Subjects.CAMERA_COMMANDS, cmd.to_bytes())
            except BusError:
                log.warning("camera restart on NVR return not sent", camera_id=cmd.camera_id)
        out.messages.clear()
        out.commands.clear()
