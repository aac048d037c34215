"""NVR fleet alerts across a database outage (issue 14 item 8), on a private PostgreSQL that
the test stops: the heartbeats of the outage could not be written, so once the database is
back no NVR may be judged silent before its agent has had the silence limit to be heard
again (else every NVR would raise a false ``nvr-offline`` system alert)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from beholder.config import NvrSettings
from beholder.contracts.nvr import NvrChannel, NvrRegister
from beholder.errors import DatabaseError
from beholder.messages import utcnow
from support.api import live_api
from support.cluster import PrivatePostgres
from support.settings import make_settings


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    pg.start()
    try:
        yield pg
    finally:
        pg.destroy()


async def test_no_false_nvr_offline_after_a_database_outage(
    tmp_path: Path, postgres: PrivatePostgres
) -> None:
    # A long silence limit: the service's own monitor stays out of the way.
    nvr = NvrSettings(heartbeat_seconds=60, missed_heartbeats=3)
    async with live_api(make_settings(tmp_path, postgres.url, nvr=nvr)) as api:
        admin = await api.headers("admin")
        r = await api.client.post("/api/nvrs", json={"hostname": "site-d"}, headers=admin)
        nvr_id = r.json()["id"]
        key = (await api.client.post(f"/api/nvrs/{nvr_id}/keys", headers=admin)).json()["key"]
        principal = await api.state.auth.authenticate(key)
        service = api.state.fleet
        channels = [NvrChannel(number=1, url="rtsp://u:p@10.4.0.1/s")]
        await service.register(
            principal,
            NvrRegister(type="register", hostname="site-d", device_name="D", channels=channels),
        )
        limit = service.settings.silence_seconds
        later = utcnow() + timedelta(seconds=limit + 1)  # as seen once the limit has passed

        await asyncio.to_thread(postgres.stop)
        with pytest.raises(DatabaseError):
            await service.check_silence()
        await asyncio.to_thread(postgres.start)

        assert await service.check_silence(later) == []
        r = await api.client.get(f"/api/nvrs/{nvr_id}", headers=admin)
        assert r.json()["status"] == "online"
        r = await api.client.get("/api/alerts?type=system-alert", headers=admin)
        events = [a["metadata"].get("event") for a in r.json()["items"]]
        assert "nvr-offline" not in events
