"""``/api/nvrs`` and ``/api/stats/summary`` on the real app (SQLite and PostgreSQL): CRUD,
filters with counts per value, cursor pages, delete that asks detach|delete and never
orphans, roles, keys bound to one NVR (shown once, with the install command), channel
import idempotent through the service, camera filters, and the summary's values."""

from __future__ import annotations

from typing import Any

from beholder.contracts.nvr import NvrChannel, NvrProbeReport, NvrRegister
from support.api import LiveApi


async def _nvr(api: LiveApi, hostname: str, **fields: Any) -> dict[str, Any]:
    r = await api.client.post(
        "/api/nvrs", json={"hostname": hostname, **fields}, headers=await api.headers("admin")
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def _key(api: LiveApi, nvr_id: str) -> dict[str, Any]:
    r = await api.client.post(f"/api/nvrs/{nvr_id}/keys", headers=await api.headers("admin"))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _register(hostname: str, n: int, *, host: str = "10.1.0", **fields: Any) -> NvrRegister:
    channels = [
        NvrChannel(number=i, url=f"rtsp://admin:secret@{host}.{i}/s") for i in range(1, n + 1)
    ]
    return NvrRegister(
        type="register",
        hostname=hostname,
        device_name=f"{hostname} box",
        channels=channels,
        **fields,
    )


async def _agent(api: LiveApi, nvr_id: str) -> Any:
    """The principal of a fresh ``nvr`` key of ``nvr_id``, as the agent socket gets it."""
    return await api.state.auth.authenticate((await _key(api, nvr_id))["key"])


async def test_crud_filters_counts_and_pages(api: LiveApi) -> None:
    admin = await api.headers("admin")
    viewer = await api.headers("viewer")
    a = await _nvr(api, "alpha-nvr", deviceName="Alpha", region="north", site="Depot")
    assert (a["status"], a["lastSeen"], a["site"]) == ("offline", None, "Depot")
    assert a["cameraCounts"] == {
        "total": 0,
        "online": 0,
        "offline": 0,
        "unknown": 0,
        "byStatus": {},
    }
    await _nvr(api, "bravo-nvr", region="north")
    await _nvr(api, "charlie-nvr", region="south")
    r = await api.client.post("/api/nvrs", json={"hostname": "alpha-nvr"}, headers=admin)
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT"
    r = await api.client.post("/api/nvrs", json={"hostname": "bad host!"}, headers=admin)
    assert r.status_code == 400

    # Alpha comes online through its agent (the only way to be online).
    await api.state.fleet.register(await _agent(api, a["id"]), _register("alpha-nvr", 2))

    page = (await api.client.get("/api/nvrs?limit=2", headers=viewer)).json()
    assert [n["hostname"] for n in page["items"]] == ["alpha-nvr", "bravo-nvr"]
    assert page["counts"] == {
        "status": {"online": 1, "offline": 2},
        "region": {"north": 2, "south": 1},
    }
    assert page["items"][0]["cameraCounts"]["total"] == 2
    assert page["items"][0]["status"] == "online" and page["items"][0]["lastSeen"]
    nxt = (
        await api.client.get(f"/api/nvrs?limit=2&cursor={page['nextCursor']}", headers=viewer)
    ).json()
    assert [n["hostname"] for n in nxt["items"]] == ["charlie-nvr"] and nxt["nextCursor"] is None

    r = await api.client.get("/api/nvrs?status=offline&region=north", headers=viewer)
    assert [n["hostname"] for n in r.json()["items"]] == ["bravo-nvr"]
    r = await api.client.get("/api/nvrs?q=DEPOT", headers=viewer)
    body = r.json()
    assert [n["hostname"] for n in body["items"]] == ["alpha-nvr"]
    assert body["counts"] == {"status": {"online": 1, "offline": 0}, "region": {"north": 1}}
    r = await api.client.get("/api/nvrs?cursor=%%%", headers=viewer)
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_INPUT"

    r = await api.client.patch(
        f"/api/nvrs/{a['id']}", json={"site": "Quay", "region": None}, headers=admin
    )
    assert r.status_code == 200 and (r.json()["site"], r.json()["region"]) == ("Quay", None)
    r = await api.client.patch(
        f"/api/nvrs/{a['id']}", json={"hostname": "bravo-nvr"}, headers=admin
    )
    assert r.status_code == 409
    r = await api.client.get(f"/api/nvrs/{a['id']}", headers=viewer)
    assert r.json()["site"] == "Quay" and r.json()["model"] is None
    r = await api.client.get("/api/nvrs/00000000-0000-4000-8000-000000000000", headers=viewer)
    assert r.status_code == 404


async def test_delete_asks_detach_or_delete_and_never_orphans(api: LiveApi) -> None:
    admin = await api.headers("admin")
    keep = await _nvr(api, "keep-nvr")
    drop = await _nvr(api, "drop-nvr")
    for nvr, host in ((keep, "10.2.0"), (drop, "10.3.0")):
        agent = await _agent(api, nvr["id"])
        await api.state.fleet.register(agent, _register(nvr["hostname"], 2, host=host))
    r = await api.client.delete(f"/api/nvrs/{keep['id']}", headers=admin)
    assert r.status_code == 400
    err = r.json()["error"]
    assert (
        err["code"] == "INVALID_INPUT" and "detach" in err["message"] and "delete" in err["message"]
    )
    r = await api.client.delete(f"/api/nvrs/{keep['id']}?cameras=keep", headers=admin)
    assert r.status_code == 400

    r = await api.client.delete(f"/api/nvrs/{keep['id']}?cameras=detach", headers=admin)
    assert r.status_code == 204
    cams = (await api.client.get("/api/cameras", headers=admin)).json()["items"]
    detached = [c for c in cams if c["name"].startswith("keep-nvr")]
    assert len(detached) == 2
    assert all(c["nvrId"] is None and c["nvrChannel"] is None for c in detached)

    r = await api.client.delete(f"/api/nvrs/{drop['id']}?cameras=delete", headers=admin)
    assert r.status_code == 204
    cams = (await api.client.get("/api/cameras", headers=admin)).json()["items"]
    assert [c["name"] for c in cams if c["name"].startswith("drop-nvr")] == []
    assert (await api.client.get(f"/api/nvrs/{drop['id']}", headers=admin)).status_code == 404
    keys = (await api.client.get("/api/api-keys", headers=admin)).json()["items"]
    assert [k for k in keys if k["scope"] == "nvr"] == []  # bound keys went with their NVR


async def test_roles(api: LiveApi) -> None:
    admin = await api.headers("admin")
    nvr = await _nvr(api, "roles-nvr")
    key = await _key(api, nvr["id"])
    nvr_key = {"X-API-Key": key["key"]}
    for who in ("viewer", "operator"):
        h = await api.headers(who)
        assert (await api.client.get("/api/nvrs", headers=h)).status_code == 200
        assert (await api.client.get("/api/stats/summary", headers=h)).status_code == 200
        for method, path, body in [
            ("POST", "/api/nvrs", {"hostname": "x-nvr"}),
            ("PATCH", f"/api/nvrs/{nvr['id']}", {"site": "x"}),
            ("DELETE", f"/api/nvrs/{nvr['id']}?cameras=detach", None),
            ("POST", f"/api/nvrs/{nvr['id']}/keys", None),
            ("GET", f"/api/nvrs/{nvr['id']}/keys", None),
        ]:
            for headers in (h, nvr_key):
                r = await api.client.request(method, path, json=body, headers=headers)
                assert r.status_code == 403, (who, method, path, r.text)
                assert r.json()["error"]["code"] == "PERMISSION_DENIED"
    assert (await api.client.get("/api/nvrs")).status_code == 401
    assert (await api.client.get("/api/stats/summary")).status_code == 401
    assert (await api.client.get("/api/nvrs", headers=admin)).status_code == 200


async def test_keys_are_bound_to_their_nvr(api: LiveApi) -> None:
    from beholder.errors import InvalidInput, PermissionDenied

    admin = await api.headers("admin")
    a = await _nvr(api, "site-a-nvr")
    b = await _nvr(api, "site-b-nvr")
    created = await _key(api, a["id"])
    assert created["nvrId"] == a["id"] and created["name"] == "nvr-site-a-nvr"
    assert created["installCommand"] == (
        f"beholder nvr-agent --server {api.url} --api-key {created['key']} --config nvr.yaml"
    )
    listed = (await api.client.get(f"/api/nvrs/{a['id']}/keys", headers=admin)).json()["items"]
    assert [(k["id"], k["nvrId"], k["scope"]) for k in listed] == [
        (created["keyId"], a["id"], "nvr")
    ]
    assert "key" not in listed[0]  # shown once
    assert (await api.client.get(f"/api/nvrs/{b['id']}/keys", headers=admin)).json()["items"] == []

    service = api.state.fleet
    agent_a = await api.state.auth.authenticate(created["key"])
    assert service.authorize(agent_a) == a["id"]
    for other in (await api.api_key("nvr"), await api.api_key("ml-service")):  # unbound / other
        principal = await api.state.auth.authenticate(other)
        try:
            service.authorize(principal)
            raise AssertionError("an unbound key was accepted")
        except PermissionDenied:
            pass
    try:
        await service.register(agent_a, _register("site-b-nvr", 1))
        raise AssertionError("registered another NVR's hostname")
    except PermissionDenied as exc:
        assert "own NVR" in exc.message
    try:
        await service.register(
            agent_a,
            _register("site-a-nvr", 0).model_copy(
                update={"channels": [NvrChannel(number=1, url="rtsp://10.1.0.1/s")] * 2}
            ),
        )
        raise AssertionError("a duplicate channel was accepted")
    except InvalidInput as exc:
        assert "Channel 1" in exc.message

    # A's agent reports channel 1: only A's camera of channel 1 changes, never B's.
    agent_b = await api.state.auth.authenticate((await _key(api, b["id"]))["key"])
    await service.register(agent_b, _register("site-b-nvr", 1, host="10.5.0"))
    reg = await service.register(agent_a, _register("site-a-nvr", 1))
    report = NvrProbeReport(
        type="probe-report", channels=[{"number": 1, "reachable": True, "latencyMs": 5.0}]
    )
    await service.probe_report(reg.nvr_id, report)
    cams = (await api.client.get("/api/cameras", headers=admin)).json()["items"]
    by_nvr = {c["nvrId"]: c for c in cams}
    assert by_nvr[a["id"]]["reachability"] == "online"
    assert by_nvr[a["id"]]["probe"]["latencyMs"] == 5.0
    assert by_nvr[b["id"]]["reachability"] == "unknown" and by_nvr[b["id"]]["probe"] is None


async def test_channel_import_is_idempotent_and_cameras_filter(api: LiveApi) -> None:
    viewer = await api.headers("viewer")
    north = await _nvr(api, "north-nvr", region="north")
    south = await _nvr(api, "south-nvr", region="south")
    service = api.state.fleet
    agent = await _agent(api, north["id"])
    msg = _register("north-nvr", 3, model="DS-7616", firmware="4.1")
    first = await service.register(agent, msg)
    assert (first.nvr_id, first.cameras_created, first.cameras_updated) == (north["id"], 3, 0)
    assert first.heartbeat_seconds == 10.0
    again = await service.register(agent, msg)
    assert (again.cameras_created, again.cameras_updated) == (0, 0)
    moved = msg.model_copy(
        update={"channels": [NvrChannel(number=2, url="rtsp://u:p@10.1.0.99/s")]}
    )
    third = await service.register(agent, moved)
    assert (third.cameras_created, third.cameras_updated) == (0, 1)
    await service.register(await _agent(api, south["id"]), _register("south-nvr", 1, host="10.9.0"))

    nvr = (await api.client.get(f"/api/nvrs/{north['id']}", headers=viewer)).json()
    assert (nvr["model"], nvr["firmware"], nvr["deviceName"]) == ("DS-7616", "4.1", "north-nvr box")
    assert nvr["cameraCounts"] == {
        "total": 3,
        "online": 0,
        "offline": 0,
        "unknown": 3,
        "byStatus": {"OFFLINE": 3},
    }
    page = (await api.client.get(f"/api/nvrs/{north['id']}/cameras?limit=2", headers=viewer)).json()
    assert [c["nvrChannel"] for c in page["items"]] == [1, 2]
    assert page["items"][0]["name"] == "north-nvr box ch1"
    assert page["items"][1]["rtspUrl"] == "rtsp://u:***@10.1.0.99/s"  # never unmasked
    assert page["items"][0]["enabled"] is True and page["items"][0]["status"] == "OFFLINE"
    rest = (
        await api.client.get(
            f"/api/nvrs/{north['id']}/cameras?limit=2&cursor={page['nextCursor']}", headers=viewer
        )
    ).json()
    assert [c["nvrChannel"] for c in rest["items"]] == [3] and rest["nextCursor"] is None

    async def names(query: str) -> list[str]:
        r = await api.client.get(f"/api/cameras?{query}", headers=viewer)
        assert r.status_code == 200, r.text
        return [c["name"] for c in r.json()["items"]]

    assert len(await names(f"nvrId={north['id']}")) == 3
    assert await names("region=south") == ["south-nvr box ch1"]
    await service.probe_report(
        first.nvr_id,
        NvrProbeReport(
            type="probe-report",
            channels=[{"number": 1, "reachable": False, "error": "unauthorized"}],
        ),
    )
    assert await names("reachability=offline") == ["north-nvr box ch1"]
    r = await api.client.get("/api/cameras?reachability=maybe", headers=viewer)
    assert r.status_code == 400
