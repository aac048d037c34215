"""The examples against a running app (real uvicorn, SQLite, the relay at /api/streams/ws):

- ``examples/mobile_client.py`` with a ``mobile`` key registers a stream over REST and
  streams real frames; ``examples/ml_service/client.py`` with an ``ml-service`` key watches
  it with Beholder's detector and answers with an alert, which reaches the phone, is stored
  with the service's key as its source, and is sent once per person in view;
- with face detection on, the built-in detector's alert comes back to the phone
  (``beholder serve`` with its in-process worker);
- a second phone on the same stream makes the first stop for good (4409).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from beholder.config import WorkerSettings
from fixtures.relay_frames import clip_jpegs
from support.api import LiveApi, live_api
from support.polling import eventually
from support.settings import make_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import mobile_client
from ml_service import client as ml_client

pytestmark = [pytest.mark.slow]


def looped() -> Iterator[bytes]:
    return itertools.cycle(clip_jpegs())


@pytest.fixture
async def tasks() -> AsyncIterator[list[asyncio.Task[Any]]]:
    made: list[asyncio.Task[Any]] = []
    yield made
    for t in made:
        t.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t


async def phone(api: LiveApi, key: str, **kw: Any) -> tuple[mobile_client.MobileClient, str]:
    creds = mobile_client.Credentials(api_key=key)
    async with httpx.AsyncClient(base_url=api.url) as http:
        sid = await mobile_client.register_stream(
            http, creds, "test phone", "python", {"fps": 10, "resolution": "480x270"}
        )
    client = mobile_client.MobileClient(
        api.url, creds, sid, looped(), fps=10, on_alert=lambda m: None, **kw
    )
    return client, sid


async def test_mobile_client_and_ml_service_close_the_loop(
    sqlite_api: LiveApi, tasks: list[asyncio.Task[Any]]
) -> None:
    api = sqlite_api
    client, sid = await phone(api, await api.api_key("mobile"))
    ml_key = await api.api_key("ml-service")
    service = ml_client.MlService(api.url, ml_key, streams=[sid], fps=5.0)
    tasks.append(asyncio.create_task(client.run()))
    tasks.append(asyncio.create_task(service.run()))

    alerts = await eventually(lambda: client.alerts, 30, "an ML alert on the phone")
    alert = alerts[0]
    assert alert["streamId"] == sid and alert["alertType"] == "ml-alert"
    meta = alert["metadata"]
    assert 0 < meta["confidence"] <= 1 and len(meta["box"]) == 4
    assert meta["objectType"] == "face"
    assert alert["source"].startswith("api_key:")

    # Stored, and filtered by stream.
    r = await api.client.get(
        "/api/alerts", params={"streamId": sid}, headers=await api.headers("admin")
    )
    assert r.status_code == 200, r.text
    stored = r.json()["items"]
    assert [a["id"] for a in stored] == [alert["id"]]
    assert stored[0]["source"] == alert["source"] and stored[0]["type"] == "ml-alert"

    # The two people stay in view: the service keeps analysing, no second alert.
    seen = service.analysed
    await eventually(lambda: service.analysed >= seen + 10, 30, "10 more analyses")
    assert len(service.sent) == 1 and len(client.alerts) == 1
    assert client.frames_sent > 0 and client.connections == 1


async def test_the_built_in_detector_answers_the_phone(
    tmp_path: Path, tasks: list[asyncio.Task[Any]]
) -> None:
    settings = make_settings(
        tmp_path, run_worker=True, worker=WorkerSettings(heartbeat_interval=0.5, alert_cooldown=0)
    )
    async with live_api(settings) as api:
        client, sid = await phone(api, await api.api_key("mobile"))
        r = await api.client.patch(
            f"/api/streams/{sid}",
            json={"faceDetectionEnabled": True},
            headers=await api.headers("admin"),
        )
        assert r.status_code == 200, r.text
        tasks.append(asyncio.create_task(client.run()))
        alerts = await eventually(lambda: client.alerts, 60, "the detector's alert")
        alert = alerts[0]
        assert alert["alertType"] == "face-detection" and alert["streamId"] == sid
        assert alert["source"].startswith("worker:")
        assert len(alert["metadata"]["faces"]) == 2
        client.stop()


async def test_a_second_phone_replaces_the_first_which_stops(
    sqlite_api: LiveApi, tasks: list[asyncio.Task[Any]]
) -> None:
    api = sqlite_api
    key = await api.api_key("mobile")
    first, sid = await phone(api, key)
    second = mobile_client.MobileClient(
        api.url, mobile_client.Credentials(api_key=key), sid, looped(), fps=10
    )
    run_first = asyncio.create_task(first.run())
    tasks.append(run_first)
    await eventually(lambda: first.frames_sent > 0, 15, "the first phone streaming")
    tasks.append(asyncio.create_task(second.run()))
    with pytest.raises(mobile_client.Stop, match="4409"):
        await asyncio.wait_for(run_first, 15)
    sent = second.frames_sent
    await eventually(lambda: second.frames_sent > sent + 5, 15, "the second phone streaming")


def test_backoff_is_full_jitter_and_capped() -> None:
    for attempt in (1, 2, 5, 30):
        cap = min(30.0, 2.0 ** (attempt - 1))
        delays = [mobile_client.backoff_delay(attempt) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays) and max(delays) > cap / 2
    assert mobile_client.ws_url("https://b.example/") == "wss://b.example/api/streams/ws"
    assert ml_client.ws_url("http://127.0.0.1:8080") == "ws://127.0.0.1:8080/api/streams/ws"
