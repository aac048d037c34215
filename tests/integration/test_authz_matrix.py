"""Authorization matrix: every /api route × anonymous / viewer / operator / admin / API key.

A new route that is not classified here fails the test: every endpoint must be given a
minimum role on purpose (DESIGN §10)."""

import re

from support.api import LiveApi

PUBLIC = "public"
RANK = {PUBLIC: 0, "viewer": 1, "operator": 2, "admin": 3}
ZERO_ID = "00000000-0000-0000-0000-000000000000"

# (method, path regex) -> minimum role. First match wins.
POLICY: list[tuple[str, str, str]] = [
    ("POST", r"^/api/auth/(login|refresh)$", PUBLIC),
    ("GET", r"^/api/system/(health|health/\{service\}|ready)$", PUBLIC),
    ("*", r"^/api/auth/(me|logout)$", "viewer"),
    ("GET", r"^/api/system/(stats|workers)$", "viewer"),
    ("*", r"^/api/(users|api-keys)", "admin"),
    ("GET", r"^/api/audit$", "admin"),  # the audit trail (issue 14)
    ("*", r"^/api/nvrs/\{nvr_id\}/keys$", "admin"),  # an NVR agent's keys
    ("GET", r"^/api/(cameras|alerts|nvrs|stats)", "viewer"),
    ("*", r"^/api/nvrs", "admin"),  # NVRs are managed by admins (issue 11)
    ("*", r"^/api/cameras/\{camera_id\}/whep", "viewer"),  # watching live is reading
    ("POST", r"^/api/media/sign$", "viewer"),  # a URL for media the caller may read
    ("*", r"^/api/cameras", "operator"),
    ("POST", r"^/api/alerts/\{alert_id\}/acknowledge$", "operator"),
    ("*", r"^/api/streams", "viewer"),  # a user's own phones (ownership: test_streams_api)
    ("POST", r"^/api/client-errors$", "viewer"),  # the web app's crash reports
]

# Routes some API key scopes may not use although their role would do (issue 10: mobile
# streams belong to people and their phones): (method, path regex) -> principals refused
# with 403. An ml-service key reads its owner's streams but registers none (changing one it
# does not own is a 404 first, as for everyone); a worker key has no business with them.
SCOPE_REFUSED: list[tuple[str, str, set[str]]] = [
    ("*", r"^/api/streams", {"worker_key"}),
    ("POST", r"^/api/streams/register$", {"api_key"}),
    ("POST", r"^/api/client-errors$", {"api_key", "worker_key"}),  # people only
]

# What each principal may do. Every API key scope acts as a viewer (roles.SCOPE_ROLE): the
# worker key too, since the worker talks to the api over the bus only.
PRINCIPALS = {
    "anonymous": 0,
    "viewer": 1,
    "operator": 2,
    "admin": 3,
    "api_key": 1,
    "worker_key": 1,
}


def scope_refused(method: str, path: str, who: str) -> bool:
    return any(
        (m == "*" or m == method) and re.search(pattern, path) and who in refused
        for m, pattern, refused in SCOPE_REFUSED
    )


def required_role(method: str, path: str) -> str:
    for m, pattern, role in POLICY:
        if (m == "*" or m == method) and re.search(pattern, path):
            return role
    raise AssertionError(f"route {method} {path} has no authorization policy")


async def test_every_route_refuses_the_wrong_principal(api: LiveApi) -> None:
    headers = {
        "anonymous": {},
        "viewer": await api.headers("viewer"),
        "operator": await api.headers("operator"),
        "admin": await api.headers("admin"),
        "api_key": {"X-API-Key": await api.api_key("ml-service")},
        "worker_key": {"X-API-Key": await api.api_key("worker")},
    }
    checked = 0
    paths = api.app.openapi()["paths"]
    for template, item in paths.items():
        if not template.startswith("/api/"):
            continue
        for method in sorted(m.upper() for m in item if m.upper() not in ("HEAD", "OPTIONS")):
            need = RANK[required_role(method, template)]
            path = re.sub(r"\{[^}]+\}", ZERO_ID, template)
            for who, rank in PRINCIPALS.items():
                if method in ("POST", "PATCH", "PUT"):
                    r = await api.client.request(method, path, json={}, headers=headers[who])
                else:
                    r = await api.client.request(method, path, headers=headers[who])
                label = f"{who} {method} {template} -> {r.status_code}"
                if scope_refused(method, template, who):
                    assert r.status_code == 403, label
                    assert r.json()["error"]["code"] == "PERMISSION_DENIED", label
                elif need == 0 or rank >= need:
                    assert r.status_code not in (401, 403), label
                elif who == "anonymous":
                    assert r.status_code == 401, label
                    assert r.json()["error"]["code"] == "UNAUTHORIZED", label
                else:
                    assert r.status_code == 403, label
                    assert r.json()["error"]["code"] == "PERMISSION_DENIED", label
                checked += 1
    assert checked > 100


async def test_worker_scoped_key_is_refused_on_operator_and_admin_routes(api: LiveApi) -> None:
    """Issue 9, finding 12: a `worker` key reads like a viewer and no more."""
    key = {"X-API-Key": await api.api_key("worker")}
    op = await api.headers("operator")
    cam = (
        await api.client.post(
            "/api/cameras", json={"name": "c", "rtspUrl": "rtsp://h/s"}, headers=op
        )
    ).json()
    refused = [
        ("POST", "/api/cameras", {"name": "k", "rtspUrl": "rtsp://h/s"}),
        ("PATCH", f"/api/cameras/{cam['id']}", {"name": "renamed"}),
        ("DELETE", f"/api/cameras/{cam['id']}", None),
        ("POST", f"/api/cameras/{cam['id']}/start", None),
        ("POST", f"/api/cameras/{cam['id']}/stop", None),
        ("POST", f"/api/alerts/{ZERO_ID}/acknowledge", None),
        ("GET", "/api/users", None),
        ("POST", "/api/api-keys", {"name": "x", "scope": "nvr"}),
    ]
    for method, path, body in refused:
        r = await api.client.request(method, path, json=body, headers=key)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["code"] == "PERMISSION_DENIED"
    r = await api.client.get(f"/api/cameras/{cam['id']}", headers=key)
    assert r.status_code == 200 and r.json()["name"] == "c"
    me = (await api.client.get("/api/auth/me", headers=key)).json()
    assert me["scope"] == "worker" and me["role"] == "viewer"


async def test_metrics_are_restricted(api: LiveApi) -> None:
    # 127.0.0.1 is allow-listed by default; with an empty allow-list only admins get in.
    ok = await api.client.get("/metrics")
    assert ok.status_code == 200 and "beholder_http_requests_total" in ok.text
    api.state.settings.metrics_allow = []
    assert (await api.client.get("/metrics")).status_code == 401
    assert (
        await api.client.get("/metrics", headers=await api.headers("viewer"))
    ).status_code == 403
    r = await api.client.get("/metrics", headers=await api.headers("admin"))
    assert r.status_code == 200
    assert 'route="/api/cameras"' in r.text or 'route="/cameras"' in r.text
