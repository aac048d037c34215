"""The api side of the NVR fleet (issue 11): what the agent socket ``/api/nvrs/ws`` calls,
the offline cascade, its alerts and the silence monitor. ``AppState.nvr`` holds the one
:class:`NvrService` of an api instance (started and stopped by the api lifecycle).

Interface for the agent socket (every method persists first, then broadcasts on the hub;
errors are :class:`~beholder.errors.AppError` subclasses to send back as ``error`` in the
one error shape — after ``PermissionDenied`` close with 1008):

``service.authorize(principal) -> str``
    The NVR id an authenticated principal may act as: an API key of scope ``nvr`` bound
    to an NVR (``Principal.nvr_id``). Anything else → ``PermissionDenied``. Call it right
    after ``auth`` (refuse the socket early).
``await service.register(principal, msg: NvrRegister, connection=ws) -> NvrRegistered``
    Checks the key may register ``msg.hostname`` (its own NVR only, else
    ``PermissionDenied``), validates channel numbers (unique) and URLs (``InvalidInput``
    naming the channel), updates the NVR's reported fields (device name, region, site,
    model, firmware: given ones only), creates or updates one camera per channel
    (idempotent by NVR + number; name ``"<deviceName> ch<n>"`` unless named), marks the NVR
    online (``nvr_online``, its cascade-offline cameras back to ``unknown`` until probed,
    cameras the worker is retrying restarted at once) and returns the ``registered`` reply
    (send it with ``contracts.nvr.wire``). ``connection``: any hashable token of the socket
    (the ``WebSocket``) so that a reconnect overlapping the old socket is not mistaken for a
    disconnect. Registering again on the same socket is allowed.
``await service.heartbeat(nvr_id)``
    The agent is alive (``last_seen`` now — not written again within half a heartbeat of
    the last write, e.g. a probe report's; an NVR that the silence monitor marked offline
    comes back online). Call after ``register`` only, with ``registered.nvr_id``.
``await service.probe_report(nvr_id, msg: NvrProbeReport)``
    Records each channel's probe (``probe`` JSON, reachability ``online``/``offline`` with
    a detail from ``error``); cameras whose reachability changed get a
    ``camera-status-update``; camera alerts per :mod:`.alerts`. Counts as a heartbeat.
    Channels with no camera of this NVR are ignored (an agent never touches another NVR's
    cameras: ``nvr_id`` comes from its key).
``await service.disconnected(nvr_id, connection=ws)``
    The socket closed (any reason): once no registered socket of the NVR is left on this
    instance, the NVR goes offline at once with its cameras (``nvr_offline`` with
    ``camerasUpdated``). A socket that never registered changes nothing (call it anyway).
``service.heartbeat_seconds`` / ``service.settings``
    ``BEHOLDER_NVR_*`` (``auth_timeout``, ``ping_interval`` for the socket).

Offline: all the NVR's cameras get reachability ``offline`` with detail
:data:`OFFLINE_DETAIL` (``"NVR offline"``, distinct from a camera fault); their lifecycle
status is left to the worker (which keeps retrying). The silence monitor marks an ``online``
NVR offline when its ``last_seen`` is older than ``missed_heartbeats`` × ``heartbeat_seconds``
(it reads the database, so it also catches NVRs left online by an instance that died).
Hub messages (topic ``nvrs``): ``nvr_online``/``nvr_offline``, ``nvr_status_update``, and a
``camera-status-update`` per changed camera (topic ``cameras``, the plan's
``camera_status_update``), system alerts on ``alerts``; the summary ``stats:updated`` goes
through :class:`.summary.SummaryPusher`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from beholder.auth.roles import ApiKeyScope, Principal
from beholder.bus.base import Bus
from beholder.camera_networks import AddressRefused
from beholder.config import Settings
from beholder.contracts import nvr as nvr_messages
from beholder.contracts.nvr import NvrProbeReport, NvrRegister, NvrRegistered
from beholder.contracts.resources import CameraProbe
from beholder.db.engine import Database
from beholder.db.models import Alert, Camera
from beholder.db.repositories import cameras as cameras_repo
from beholder.db.repositories import nvrs as nvrs_repo
from beholder.errors import AppError, DatabaseError, InvalidInput, PermissionDenied
from beholder.messages import utcnow
from beholder.nvr.alerts import AlertPolicy
from beholder.nvr.cascade import OFFLINE_DETAIL, Cascade, Hooks, Outbox, outage_text
from beholder.nvr.summary import SummaryPusher, stop_task
from beholder.rtsp_url import validate_rtsp_url

log = structlog.get_logger(__name__)

PROBE_DETAIL = {
    "unauthorized": "The camera refused the NVR's credentials.",
    "timeout": "The camera did not answer in time.",
    "refused": "The camera refused the connection.",
    "not-found": "The camera has no such stream.",
    "protocol": "The camera's answer is not RTSP.",
}
"""Reachability detail of a camera by the probe's ``error``."""

_SOLE = "sole-connection"


class NvrService:
    """See the module doc. ``settings``: the whole :class:`Settings` (reads ``nvr`` and
    ``camera``); ``bus``: where camera restarts go on an NVR's return."""

    def __init__(self, settings: Settings, db: Database, bus: Bus, hooks: Hooks) -> None:
        self.settings = settings.nvr
        self._camera_settings = settings.camera
        self._db = db
        self._bus = bus
        self._hooks = hooks
        self.policy = AlertPolicy(settings.nvr)
        self.summary = SummaryPusher(db, hooks.publish, settings.nvr.stats_debounce)
        self.cascade = Cascade(settings.nvr, db, bus, hooks, self.policy, self.summary)
        self._connections: dict[str, set[Hashable]] = {}
        self._heard: dict[str, float] = {}
        """NVR id → monotonic time this instance last wrote its ``last_seen`` (an online
        NVR): a heartbeat within half a heartbeat of that writes nothing."""
        self._monitor: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._silence_grace_until = 0.0
        """Monotonic time before which no NVR is judged silent: after the database failed,
        the heartbeats of that time could not be written either (issue 14 item 8)."""

    @property
    def heartbeat_seconds(self) -> float:
        return self.settings.heartbeat_seconds

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the summary pusher and the silence monitor."""
        self.summary.start()
        if self._monitor is None:
            self._stopping.clear()
            self._monitor = asyncio.create_task(self._watch(), name="nvr-silence-monitor")

    async def stop(self) -> None:
        """Stop the monitor and the pusher, letting a check or push under way finish."""
        task, self._monitor = self._monitor, None
        if task is not None:
            await stop_task(task, self._stopping)
        await self.summary.stop()

    async def _watch(self) -> None:
        interval = min(1.0, max(0.05, self.settings.heartbeat_seconds / 4))
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._stopping.wait()
                return
            try:
                await self.check_silence()
            except AppError as exc:
                log.warning("NVR silence check failed", code=exc.code.value, detail=exc.detail)
            except Exception:
                log.exception("NVR silence check failed")

    async def check_silence(self, now: datetime | None = None) -> list[str]:
        """Mark offline every online NVR silent for longer than the allowed heartbeats;
        returns their ids (the monitor calls this every ≤ 1 s). After a database failure
        (``DatabaseError``, raised) nobody is judged for ``silence_seconds``."""
        if time.monotonic() < self._silence_grace_until:
            return []
        now = now or utcnow()
        cutoff = now - timedelta(seconds=self.settings.silence_seconds)
        try:
            async with self._db.session() as s:
                ids = await nvrs_repo.silent_ids(s, cutoff)
        except DatabaseError:
            # Heartbeats failed to be written too: an agent heard all along would look
            # silent once the database returns, raising a false nvr-offline for every NVR.
            # Judge again only when they have had the silence limit to be written.
            self._silence_grace_until = time.monotonic() + self.settings.silence_seconds
            raise
        gone = []
        for nvr_id in ids:
            self._heard.pop(nvr_id, None)
            if await self.cascade.go_offline(nvr_id, "silent"):
                gone.append(nvr_id)
        return gone

    # -- the agent socket's calls ------------------------------------------------------------

    def authorize(self, principal: Principal) -> str:
        """The NVR ``principal`` may act as; ``PermissionDenied`` unless it is an ``nvr`` key
        bound to an NVR."""
        if principal.scope is not ApiKeyScope.NVR or principal.nvr_id is None:
            raise PermissionDenied(
                "Only an NVR agent key (created for an NVR under /api/nvrs/{id}/keys) may "
                "connect here.",
                detail=f"principal {principal.key} scope {principal.scope}",
            )
        return principal.nvr_id

    def _check_channels(self, msg: NvrRegister) -> None:
        seen: set[int] = set()
        for ch in msg.channels:
            if ch.number in seen:
                raise InvalidInput(f"Channel {ch.number} is listed twice.")
            seen.add(ch.number)
            try:
                validate_rtsp_url(ch.url)
                self._camera_settings.policy.check_literal(ch.url)
            except InvalidInput as exc:
                raise InvalidInput(
                    f"Channel {ch.number}: {exc.message}", detail=exc.detail
                ) from exc
            except AddressRefused as exc:
                raise InvalidInput(
                    f"Channel {ch.number}: the address {exc.address} is in a network this "
                    "server does not connect to (see BEHOLDER_CAMERA_NETWORKS).",
                    detail=str(exc),
                ) from exc

    async def register(
        self, principal: Principal, msg: NvrRegister, connection: Hashable | None = None
    ) -> NvrRegistered:
        """See the module doc."""
        nvr_id = self.authorize(principal)
        self._check_channels(msg)
        out = Outbox([], [])
        created = updated = 0
        async with self._db.session() as s:
            nvr = await nvrs_repo.find(s, nvr_id)
            if nvr is None:
                raise PermissionDenied("This key's NVR no longer exists.", detail=nvr_id)
            if nvr.hostname != msg.hostname:
                raise PermissionDenied(
                    "This key may only register its own NVR.",
                    detail=f"key of {nvr.hostname} tried {msg.hostname}",
                )
            changes: dict[str, Any] = {"device_name": msg.device_name}
            for field in ("region", "site", "model", "firmware"):
                value = getattr(msg, field)
                if value is not None:
                    changes[field] = value
            changes = {k: v for k, v in changes.items() if getattr(nvr, k) != v}
            if changes:
                await nvrs_repo.update_fields(s, nvr, changes)
            specs = [
                cameras_repo.ChannelSpec(
                    ch.number,
                    ch.name or f"{msg.device_name} ch{ch.number}",
                    ch.url.strip(),
                    explicit_name=ch.name is not None,
                )
                for ch in msg.channels
            ]
            for cam, is_new, changed in await cameras_repo.sync_channels(
                s, nvr_id, nvr.hostname, specs
            ):
                created += is_new
                updated += changed and not is_new
                if changed:
                    out.camera(self._hooks, cam)
            was_online = nvr.status == "online"
            if was_online and (changes or out.messages):
                self.cascade.status_of(out, nvr, await cameras_repo.of_nvr(s, nvr_id))
        self._connections.setdefault(nvr_id, set()).add(
            connection if connection is not None else _SOLE
        )
        # Already online (a re-registration): no transition to make, nothing more to write.
        came_back = not was_online and await self.cascade.go_online(nvr_id)
        if not was_online and not came_back and (changes or out.messages):
            await self.cascade.send_nvr(nvr_id, out)  # someone else brought it online
        await self.cascade.flush(out)
        if created or updated or changes:
            self.summary.poke()
        log.info(
            "NVR registered",
            nvr_id=nvr_id,
            channels=len(msg.channels),
            created=created,
            updated=updated,
        )
        return nvr_messages.registered(nvr_id, self.heartbeat_seconds, created, updated)

    async def heartbeat(self, nvr_id: str) -> None:
        """See the module doc. Within half a heartbeat of the last ``last_seen`` this
        instance wrote (a probe report's, usually), nothing is written: the silence limit
        is several heartbeats, a ``last_seen`` that much older changes nothing."""
        t = time.monotonic()
        heard = self._heard.get(nvr_id)
        if heard is not None and t - heard < self.settings.heartbeat_seconds / 2:
            return
        async with self._db.session() as s:
            if await nvrs_repo.touch_online(s, nvr_id, utcnow()):
                self._heard[nvr_id] = t
                return
        self._heard.pop(nvr_id, None)
        await self.cascade.go_online(nvr_id)

    async def probe_report(self, nvr_id: str, msg: NvrProbeReport) -> None:
        """See the module doc. One transaction: the heartbeat, the changed cameras, their
        alerts; the NVR's ``nvr_status_update`` is counted from the rows it read."""
        now = utcnow()
        out = Outbox([], [])
        async with self._db.session() as s:
            alive = await nvrs_repo.touch_online(s, nvr_id, now)
            if alive:
                self._heard[nvr_id] = time.monotonic()
                await self._apply_probes(s, nvr_id, msg, now, out)
        if not alive:  # the NVR was offline (silent): bring it back, then record
            await self.cascade.go_online(nvr_id)
            async with self._db.session() as s:
                await self._apply_probes(s, nvr_id, msg, now, out)
        if out.messages:
            await self.cascade.flush(out)
            self.summary.poke()

    async def _apply_probes(
        self, s: AsyncSession, nvr_id: str, msg: NvrProbeReport, now: datetime, out: Outbox
    ) -> None:
        """Record ``msg``'s probes in ``s``; queue the changed cameras' messages, their
        alerts and (when any changed) the NVR's status update on ``out``."""
        every = await cameras_repo.of_nvr(s, nvr_id)
        cams = {c.nvr_channel: c for c in every}
        for ch in msg.channels:
            cam = cams.get(ch.number)
            if cam is None:
                continue
            reach = "online" if ch.reachable else "offline"
            detail = None if ch.reachable else PROBE_DETAIL[ch.error or "protocol"]
            probe = CameraProbe(
                latency_ms=ch.latency_ms,
                codec=ch.codec,
                width=ch.width,
                height=ch.height,
                error=None if ch.reachable else ch.error,
                checked_at=now,
            ).model_dump(mode="json", by_alias=True)
            before = (cam.reachability, cam.reachability_detail, cam.updated_at)
            if not cameras_repo.record_probe(cam, reach, detail, probe):
                continue
            out.camera(self._hooks, cam)
            alert = await self._probe_alert(s, nvr_id, cam, before, ch.error)
            if alert is not None:
                out.messages.append(("alerts", self._hooks.alert(alert), cam.id))
        if out.messages:
            nvr = await nvrs_repo.find(s, nvr_id)
            if nvr is not None:
                self.cascade.status_of(out, nvr, every)

    async def _probe_alert(
        self,
        s: AsyncSession,
        nvr_id: str,
        cam: Camera,
        before: tuple[str, str | None, datetime],
        error: str | None,
    ) -> Alert | None:
        """The camera alert of a reachability change found by a probe, if any: unreachable
        after being reachable (``medium``), reachable again after its own fault (by
        duration); changes due to the NVR's outage raise none here (the NVR's alert
        covers them)."""
        if not self.settings.camera_alerts:
            return None
        was, was_detail, since = before
        meta: dict[str, Any] = {"nvrId": nvr_id, "cameraName": cam.name}
        if was == "online" and cam.reachability == "offline":
            return await self.policy.raise_once(
                s,
                "camera-offline",
                severity="medium",
                message=f"Camera {cam.name} is unreachable: {cam.reachability_detail}",
                metadata={**meta, "error": error},
                camera_id=cam.id,
            )
        if was == "offline" and cam.reachability == "online" and was_detail != OFFLINE_DETAIL:
            outage = (utcnow() - since).total_seconds()
            return await self.policy.raise_once(
                s,
                "camera-online",
                severity=self.policy.returned(outage),
                message=f"Camera {cam.name} is reachable again after {outage_text(outage)}",
                metadata={**meta, "outageSeconds": round(outage, 1)},
                camera_id=cam.id,
            )
        return None

    async def disconnected(self, nvr_id: str, connection: Hashable | None = None) -> None:
        """See the module doc. A socket that never registered changes nothing."""
        conns = self._connections.get(nvr_id)
        key = connection if connection is not None else _SOLE
        if conns is None or key not in conns:
            return
        conns.discard(key)
        if conns:
            return  # another socket of this NVR is still open here
        del self._connections[nvr_id]
        self._heard.pop(nvr_id, None)
        await self.cascade.go_offline(nvr_id, "disconnected")

    def connected(self, nvr_id: str) -> bool:
        """True while a registered socket of the NVR is open on this instance."""
        return bool(self._connections.get(nvr_id))


__all__ = ["OFFLINE_DETAIL", "PROBE_DETAIL", "Hooks", "NvrService"]
