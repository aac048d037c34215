"""Issue 9, finding 13: mobile streams belong to their owner (DESIGN §10). Where streams exist
today, in alerts, a principal sees and acts on only its own streams' alerts; admins see all.

Two users and an API key each own a stream; an alert of each stream (and a camera alert) is
inserted through the repositories; the real app (SQLite and PostgreSQL) is asked over HTTP."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from beholder.db.models import Alert
from beholder.db.repositories import alerts as alerts_repo
from beholder.db.repositories import streams as streams_repo
from support.api import LiveApi


@dataclass
class World:
    alice: dict[str, str]
    bob: dict[str, str]
    alice_key: dict[str, str]
    admin: dict[str, str]
    alice_stream: str
    bob_stream: str
    alice_alert: str
    bob_alert: str
    key_alert: str
    camera_alert: str


async def _user(api: LiveApi, name: str, role: str) -> tuple[str, dict[str, str]]:
    password = f"{name}-long-password-1"
    r = await api.client.post(
        "/api/users",
        json={"username": name, "password": password, "role": role},
        headers=await api.headers("admin"),
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], {"Authorization": f"Bearer {await api.login(name, password)}"}


async def _world(api: LiveApi) -> World:
    admin = await api.headers("admin")
    alice_id, alice = await _user(api, "alice", "operator")
    _, bob = await _user(api, "bob", "operator")
    bob_id = (await api.client.get("/api/auth/me", headers=bob)).json()["id"]
    key = await api.client.post(
        "/api/api-keys", json={"name": "phone", "scope": "mobile"}, headers=admin
    )
    assert key.status_code == 201, key.text
    key_id = key.json()["id"]
    cam = await api.client.post(
        "/api/cameras", json={"name": "door", "rtspUrl": "rtsp://h/s"}, headers=admin
    )
    async with api.state.db.session() as s:
        a = await streams_repo.create(s, "alice-phone", owner_id=alice_id)
        b = await streams_repo.create(s, "bob-phone", owner_id=bob_id)
        k = await streams_repo.create(s, "kiosk", owner_key_id=key_id)
        ids = {}
        for name, stream_id, camera_id in [
            ("alice", a.id, None),
            ("bob", b.id, None),
            ("key", k.id, None),
            ("camera", None, cam.json()["id"]),
        ]:
            row = Alert(
                id=str(uuid.uuid4()),
                stream_id=stream_id,
                camera_id=camera_id,
                type="face-detection",
                severity="medium",
                message=f"{name} alert",
            )
            await alerts_repo.insert(s, row)
            ids[name] = row.id
        streams = (a.id, b.id)
    return World(
        alice=alice,
        bob=bob,
        alice_key={"X-API-Key": key.json()["key"]},
        admin=admin,
        alice_stream=streams[0],
        bob_stream=streams[1],
        alice_alert=ids["alice"],
        bob_alert=ids["bob"],
        key_alert=ids["key"],
        camera_alert=ids["camera"],
    )


async def _listed(api: LiveApi, headers: dict[str, str], query: str = "") -> set[str]:
    r = await api.client.get(f"/api/alerts{query}", headers=headers)
    assert r.status_code == 200, r.text
    return {a["id"] for a in r.json()["items"]}


async def test_each_principal_sees_only_its_own_streams_alerts(api: LiveApi) -> None:
    w = await _world(api)
    everything = {w.alice_alert, w.bob_alert, w.key_alert, w.camera_alert}
    assert await _listed(api, w.alice) == {w.alice_alert, w.camera_alert}
    assert await _listed(api, w.bob) == {w.bob_alert, w.camera_alert}
    assert await _listed(api, w.alice_key) == {w.key_alert, w.camera_alert}
    assert await _listed(api, w.admin) == everything
    # Asking for someone else's stream by id gives nothing; one's own gives its alerts.
    assert await _listed(api, w.alice, f"?streamId={w.bob_stream}") == set()
    assert await _listed(api, w.bob, f"?streamId={w.bob_stream}") == {w.bob_alert}
    assert await _listed(api, w.admin, f"?streamId={w.alice_stream}") == {w.alice_alert}


async def test_someone_elses_stream_alert_is_not_found(api: LiveApi) -> None:
    w = await _world(api)
    for path in (f"/api/alerts/{w.bob_alert}", f"/api/alerts/{w.bob_alert}/snapshot.jpg"):
        r = await api.client.get(path, headers=w.alice)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "NOT_FOUND"
        assert r.json()["error"]["message"] == "Alert not found."
    r = await api.client.post(f"/api/alerts/{w.bob_alert}/acknowledge", headers=w.alice)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND", r.text
    # Bob's alert was not acknowledged by Alice's attempt; Bob and the admin see it.
    mine = await api.client.get(f"/api/alerts/{w.bob_alert}", headers=w.bob)
    assert mine.status_code == 200 and mine.json()["acknowledgedAt"] is None
    assert (await api.client.get(f"/api/alerts/{w.bob_alert}", headers=w.admin)).status_code == 200
    ack = await api.client.post(f"/api/alerts/{w.bob_alert}/acknowledge", headers=w.bob)
    assert ack.status_code == 200 and ack.json()["acknowledgedBy"] == "bob"
    # Camera alerts are not owned: everyone with the role sees and acknowledges them.
    r = await api.client.post(f"/api/alerts/{w.camera_alert}/acknowledge", headers=w.alice)
    assert r.status_code == 200, r.text


async def test_hub_replay_leaves_stream_alerts_out(api: LiveApi) -> None:
    """The hub's replay does not know who asks, so it sends camera alerts only."""
    w = await _world(api)
    async with api.state.db.session() as s:
        first = await alerts_repo.get(s, w.alice_alert)
        first.created_at = first.created_at.replace(year=2000)  # the oldest of all
    async with api.state.db.session() as s:
        replayed = {a.id for a in await alerts_repo.after(s, w.alice_alert, 100)}
    assert replayed == {w.camera_alert}
