"""System alerts of the NVR fleet: severity by scope and duration, de-duplicated per subject.

Events (``metadata.event``): ``nvr-offline``, ``nvr-online`` (alert ``nvrId`` set),
``camera-offline``, ``camera-online`` (alert ``cameraId`` set). Severity
(``settings.nvr``): an NVR going offline is ``high``, ``critical`` when it takes
``critical_cameras`` cameras or more with it; a camera becoming unreachable while its NVR is
up is ``medium``; a return is ``low`` after an outage shorter than ``medium_after`` s,
``medium`` up to ``high_after`` s, ``high`` beyond. One alert per subject and event within
``alert_dedupe_seconds``: a link that flaps ten times in five minutes raises one
``nvr-offline`` and one ``nvr-online``, not twenty alerts.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from beholder.config.nvr import NvrSettings
from beholder.db.models import Alert
from beholder.messages import new_id, utcnow

Event = Literal["nvr-offline", "nvr-online", "camera-offline", "camera-online"]
Severity = Literal["low", "medium", "high", "critical"]
SYSTEM_ALERT = "system-alert"


class AlertPolicy:
    """Severity and de-duplication of fleet alerts (see the module doc)."""

    def __init__(self, settings: NvrSettings) -> None:
        self.settings = settings
        self._recent: dict[tuple[str, str], float] = {}
        """(subject id, event) → monotonic time of an alert this instance raised: inside the
        window no query is needed to know the next one is a duplicate."""

    def nvr_offline(self, cameras: int) -> Severity:
        """Severity of an NVR going offline with ``cameras`` cameras."""
        return "critical" if cameras >= self.settings.critical_cameras else "high"

    def returned(self, outage_seconds: float | None) -> Severity:
        """Severity of a return after ``outage_seconds`` (``None``: unknown → low)."""
        if outage_seconds is None or outage_seconds < self.settings.medium_after:
            return "low"
        if outage_seconds < self.settings.high_after:
            return "medium"
        return "high"

    async def raise_once(
        self,
        session: AsyncSession,
        event: Event,
        *,
        severity: Severity,
        message: str,
        metadata: dict[str, Any],
        nvr_id: str | None = None,
        camera_id: str | None = None,
    ) -> Alert | None:
        """Add the alert unless one of the same ``event`` about the same NVR/camera was
        created within the dedupe window; returns it (not yet committed) or ``None``."""
        window = self.settings.alert_dedupe_seconds
        now = utcnow()
        subject = (nvr_id or camera_id or "", event)
        raised = self._recent.get(subject)
        if raised is not None and time.monotonic() - raised < window:
            return None
        if window > 0:
            q = select(Alert.alert_metadata).where(
                Alert.type == SYSTEM_ALERT, Alert.created_at >= now - timedelta(seconds=window)
            )
            q = q.where(Alert.nvr_id == nvr_id) if nvr_id else q.where(Alert.camera_id == camera_id)
            with session.no_autoflush:  # pending camera changes need not be written first
                found = (await session.execute(q)).scalars().all()
            if any((meta or {}).get("event") == event for meta in found):
                return None
        alert = Alert(
            id=new_id(),
            nvr_id=nvr_id,
            camera_id=camera_id,
            type=SYSTEM_ALERT,
            severity=severity,
            message=message,
            alert_metadata={"event": event, **metadata},
            source="nvr-cascade",
            created_at=now,
        )
        session.add(alert)
        await session.flush()
        if window > 0:
            if len(self._recent) > 10_000:  # forget the expired ones
                horizon = time.monotonic() - window
                self._recent = {k: t for k, t in self._recent.items() if t > horizon}
            self._recent[subject] = time.monotonic()
        return alert
