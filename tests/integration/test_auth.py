"""Login, refresh rotation, logout, me, API keys — on SQLite and PostgreSQL."""

import asyncio

import pytest

from support.api import LiveApi
from support.settings import ADMIN_PASSWORD


async def test_login_me_and_refresh_rotation(api: LiveApi) -> None:
    r = await api.client.post(
        "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["tokenType"] == "bearer" and body["expiresIn"] > 0
    me = await api.client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {body['accessToken']}"}
    )
    assert me.json()["username"] == "admin" and me.json()["role"] == "admin"

    r2 = await api.client.post("/api/auth/refresh", json={"refreshToken": body["refreshToken"]})
    assert r2.status_code == 200
    new = r2.json()
    # The old refresh token was rotated out: using it again is refused...
    r3 = await api.client.post("/api/auth/refresh", json={"refreshToken": body["refreshToken"]})
    assert r3.status_code == 401 and r3.json()["error"]["code"] == "UNAUTHORIZED"
    # ...and, as a theft signal, revokes the whole family including the new one.
    r4 = await api.client.post("/api/auth/refresh", json={"refreshToken": new["refreshToken"]})
    assert r4.status_code == 401


async def test_wrong_password_and_unknown_user_look_the_same(api: LiveApi) -> None:
    a = await api.client.post("/api/auth/login", json={"username": "admin", "password": "nope"})
    b = await api.client.post("/api/auth/login", json={"username": "ghost", "password": "nope"})
    assert a.status_code == b.status_code == 401
    assert a.json()["error"]["message"] == b.json()["error"]["message"]


async def test_logout_revokes_refresh_token(api: LiveApi) -> None:
    r = await api.client.post(
        "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    tokens = r.json()
    h = {"Authorization": f"Bearer {tokens['accessToken']}"}
    out = await api.client.post(
        "/api/auth/logout", json={"refreshToken": tokens["refreshToken"]}, headers=h
    )
    assert out.status_code == 204
    again = await api.client.post(
        "/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]}
    )
    assert again.status_code == 401


async def test_disabled_user_is_refused_at_once(api: LiveApi) -> None:
    viewer_token = await api.token("viewer")
    admin = await api.headers("admin")
    users = (await api.client.get("/api/users", headers=admin)).json()["items"]
    viewer_id = next(u["id"] for u in users if u["username"] == "viewer1")
    r = await api.client.patch(f"/api/users/{viewer_id}", json={"disabled": True}, headers=admin)
    assert r.status_code == 200 and r.json()["disabled"] is True
    me = await api.client.get("/api/auth/me", headers={"Authorization": f"Bearer {viewer_token}"})
    assert me.status_code == 401
    login = await api.client.post(
        "/api/auth/login", json={"username": "viewer1", "password": "viewer-password-1"}
    )
    assert login.status_code == 401


async def test_api_key_authenticates_until_revoked(api: LiveApi) -> None:
    admin = await api.headers("admin")
    created = (
        await api.client.post(
            "/api/api-keys", json={"name": "ml", "scope": "ml-service"}, headers=admin
        )
    ).json()
    key = created["key"]
    listed = (await api.client.get("/api/api-keys", headers=admin)).json()["items"]
    assert all("key" not in k and "keyHash" not in k for k in listed)
    me = await api.client.get("/api/auth/me", headers={"X-API-Key": key})
    assert (
        me.status_code == 200
        and me.json()["kind"] == "api_key"
        and me.json()["scope"] == "ml-service"
    )
    r = await api.client.post(f"/api/api-keys/{created['id']}/revoke", headers=admin)
    assert r.status_code == 200 and r.json()["revokedAt"]
    assert (await api.client.get("/api/auth/me", headers={"X-API-Key": key})).status_code == 401


async def test_admin_cannot_lock_themself_out(api: LiveApi) -> None:
    admin = await api.headers("admin")
    me = (await api.client.get("/api/auth/me", headers=admin)).json()
    r = await api.client.patch(f"/api/users/{me['id']}", json={"role": "viewer"}, headers=admin)
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT"


async def test_concurrent_refreshes_of_one_token_have_one_winner(api: LiveApi) -> None:
    """Finding 8: N simultaneous rotations of one refresh token (over real HTTP, on SQLite and
    PostgreSQL): exactly one succeeds, the others get 401 and revoke the whole family, the
    winner's new refresh token included."""
    pair = (
        await api.client.post(
            "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
    ).json()
    other_session = (
        await api.client.post(
            "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
    ).json()
    clients = [api.client_from("127.0.0.1") for _ in range(6)]
    try:
        results = await asyncio.gather(
            *(
                c.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]})
                for c in clients
            )
        )
    finally:
        for c in clients:
            await c.aclose()
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] + [401] * 5, [r.text for r in results]
    for r in results:
        if r.status_code == 401:
            assert r.json()["error"]["code"] == "UNAUTHORIZED"
    winner = next(r.json() for r in results if r.status_code == 200)
    for token in (winner["refreshToken"], other_session["refreshToken"]):
        again = await api.client.post("/api/auth/refresh", json={"refreshToken": token})
        assert again.status_code == 401, again.text


async def test_deleted_users_token_is_unauthorized_not_not_found(api: LiveApi) -> None:
    """Finding 11: authentication fails for a user that no longer exists (401), before any
    route looks anything up."""
    viewer = {"Authorization": f"Bearer {await api.token('viewer')}"}
    assert (await api.client.get("/api/auth/me", headers=viewer)).status_code == 200
    admin = await api.headers("admin")
    users = (await api.client.get("/api/users", headers=admin)).json()["items"]
    viewer_id = next(u["id"] for u in users if u["username"] == "viewer1")
    assert (await api.client.delete(f"/api/users/{viewer_id}", headers=admin)).status_code == 204
    # Also past the principal cache: a fresh api instance would read the DB (no cache hit).
    api.state.auth.invalidate()
    for path in ("/api/auth/me", f"/api/users/{viewer_id}", "/api/cameras"):
        r = await api.client.get(path, headers=viewer)
        assert r.status_code == 401, (path, r.text)
        assert r.json()["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short-pw-1", "at least 12 characters"),
        ("password1234", "too common"),
        ("Q1W2E3R4T5Y6", "too common"),  # case does not matter
        ("Password2024!!", "too common"),  # a common word with digits and symbols around it
    ],
)
async def test_weak_passwords_are_refused_by_the_users_api(
    sqlite_api: LiveApi, password: str, why: str
) -> None:
    """Finding 10: one password policy for create and update, refused as INVALID_INPUT."""
    api = sqlite_api
    admin = await api.headers("admin")
    r = await api.client.post(
        "/api/users", json={"username": "weak", "password": password}, headers=admin
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_INPUT", r.text
    assert why in r.json()["error"]["message"]
    ok = await api.client.post(
        "/api/users",
        json={"username": "strong", "password": "a-long-unlisted-phrase"},
        headers=admin,
    )
    assert ok.status_code == 201, ok.text
    r = await api.client.patch(
        f"/api/users/{ok.json()['id']}", json={"password": password}, headers=admin
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_INPUT", r.text
    assert why in r.json()["error"]["message"]
