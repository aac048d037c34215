"""Public views of NVR rows (``NvrOut``), shared by the REST API and the hub messages."""

from __future__ import annotations

from beholder.contracts.nvr import CameraCounts, NvrOut
from beholder.db.models import Nvr
from beholder.db.repositories.nvrs import CameraTally


def nvr_out(nvr: Nvr, tally: CameraTally | None = None) -> NvrOut:
    """``nvr`` as clients see it, with its cameras' counts (zeros when ``tally`` is None)."""
    t = tally or CameraTally()
    return NvrOut(
        id=nvr.id,
        hostname=nvr.hostname,
        device_name=nvr.device_name,
        region=nvr.region,
        site=nvr.site,
        model=nvr.model,
        firmware=nvr.firmware,
        status="online" if nvr.status == "online" else "offline",
        last_seen=nvr.last_seen_at,
        camera_counts=CameraCounts(
            total=t.total,
            online=t.online,
            offline=t.offline,
            unknown=t.unknown,
            by_status=dict(t.by_status or {}),
        ),
        created_at=nvr.created_at,
        updated_at=nvr.updated_at,
    )
