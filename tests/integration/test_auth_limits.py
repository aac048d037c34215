"""Issue 9, findings 1 and 2: no address can lock another out of login or refresh.

The attacks run against the real app under uvicorn; the attacker and the victim are two
client addresses on the loopback network (127.0.0.1 and 127.0.0.2, ...)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest

from support.api import LiveApi, live_api
from support.settings import ADMIN_PASSWORD, make_settings

ADMIN = {"username": "admin", "password": ADMIN_PASSWORD}
WRONG = {"username": "admin", "password": "not-the-admin-password"}


@pytest.fixture
async def limited_api(tmp_path: Path) -> AsyncIterator[LiveApi]:
    """The app with the default login limits (10 attempts/minute per address, 5 failures
    before the back-off), a back-off long enough (60 s) that no lock expires during a test,
    and refreshes limited to 5/minute."""
    settings = make_settings(
        tmp_path,
        rate_limit_login="10/minute",
        rate_limit_refresh="5/minute",
        login_backoff_initial=60.0,
    )
    async with live_api(settings) as live:
        yield live


def _assert_rate_limited(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert {"message", "severity", "correlationId"} <= set(r.json()["error"])
    assert int(r.headers["Retry-After"]) >= 1


async def _admin_id(api: LiveApi) -> str:
    me = await api.client.get("/api/auth/me", headers=await api.headers("admin"))
    admin_id: str = me.json()["id"]
    return admin_id


async def test_wrong_passwords_from_one_address_do_not_lock_admin_out_elsewhere(
    limited_api: LiveApi,
) -> None:
    api = limited_api
    statuses = [
        (await api.client.post("/api/auth/login", json=WRONG)).status_code for _ in range(10)
    ]
    # Five failures are allowed, then that address backs off for that username.
    assert statuses == [401] * 5 + [429] * 5
    async with api.client_from("127.0.0.2") as elsewhere:
        r = await elsewhere.post("/api/auth/login", json=ADMIN)
        assert r.status_code == 200, r.text
    # The attacking address is refused even with the right password while it backs off.
    _assert_rate_limited(await api.client.post("/api/auth/login", json=ADMIN))


async def test_backoff_is_per_username(limited_api: LiveApi) -> None:
    api = limited_api
    await api.token("viewer")  # creates viewer1 (and logs the admin in once)
    for _ in range(6):
        await api.client.post("/api/auth/login", json=WRONG)
    _assert_rate_limited(await api.client.post("/api/auth/login", json=ADMIN))
    r = await api.client.post(
        "/api/auth/login", json={"username": "viewer1", "password": "viewer-password-1"}
    )
    assert r.status_code == 200, r.text


async def test_a_success_clears_the_failures(limited_api: LiveApi) -> None:
    api = limited_api
    for _ in range(4):
        assert (await api.client.post("/api/auth/login", json=WRONG)).status_code == 401
    assert (await api.client.post("/api/auth/login", json=ADMIN)).status_code == 200
    for _ in range(4):
        assert (await api.client.post("/api/auth/login", json=WRONG)).status_code == 401


async def test_the_per_address_login_limit_is_kept(tmp_path: Path) -> None:
    async with live_api(make_settings(tmp_path, rate_limit_login="3/minute")) as api:
        for _ in range(3):
            assert (await api.client.post("/api/auth/login", json=ADMIN)).status_code == 200
        _assert_rate_limited(await api.client.post("/api/auth/login", json=ADMIN))
        async with api.client_from("127.0.0.2") as elsewhere:
            assert (await elsewhere.post("/api/auth/login", json=ADMIN)).status_code == 200


async def test_bogus_refreshes_from_one_address_do_not_block_anyone_else(
    limited_api: LiveApi,
) -> None:
    api = limited_api
    admin_id = await _admin_id(api)
    now = int(time.time())
    # Refresh tokens naming the admin as subject, signed with a key the server does not
    # hold: they must neither work nor spend the admin's refresh budget.
    forged = jwt.encode(
        {
            "sub": admin_id,
            "typ": "refresh",
            "iss": "beholder",
            "iat": now,
            "exp": now + 3600,
            "jti": "00000000-0000-0000-0000-000000000001",
        },
        "a-key-the-server-does-not-have-0123456789",
        algorithm="HS256",
    )
    statuses = []
    for _ in range(10):
        r = await api.client.post("/api/auth/refresh", json={"refreshToken": forged})
        statuses.append(r.status_code)
    assert statuses == [401] * 5 + [429] * 5
    _assert_rate_limited(r)
    async with api.client_from("127.0.0.2") as elsewhere:
        pair = (await elsewhere.post("/api/auth/login", json=ADMIN)).json()
        r = await elsewhere.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]})
        assert r.status_code == 200, r.text


async def test_refresh_is_limited_per_user_across_addresses(limited_api: LiveApi) -> None:
    api = limited_api
    await api.token("viewer")
    clients = [api.client_from(f"127.0.0.{n}") for n in (3, 4, 5)]
    try:
        refresh = (await clients[0].post("/api/auth/login", json=ADMIN)).json()["refreshToken"]
        # Five rotations of the admin's session, spread over two addresses, are allowed...
        for i in range(5):
            r = await clients[i % 2].post("/api/auth/refresh", json={"refreshToken": refresh})
            assert r.status_code == 200, r.text
            refresh = r.json()["refreshToken"]
        # ...the sixth is over the admin's own budget, whatever the address,
        _assert_rate_limited(
            await clients[2].post("/api/auth/refresh", json={"refreshToken": refresh})
        )
        # and another user's refresh from those same addresses still works.
        viewer = (
            await clients[1].post(
                "/api/auth/login", json={"username": "viewer1", "password": "viewer-password-1"}
            )
        ).json()
        r = await clients[2].post(
            "/api/auth/refresh", json={"refreshToken": viewer["refreshToken"]}
        )
        assert r.status_code == 200, r.text
    finally:
        for c in clients:
            await c.aclose()
