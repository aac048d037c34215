"""Behind a reverse proxy (``BEHOLDER_TRUSTED_PROXIES``): the client address from
X-Forwarded-For is the one the per-address login limit counts and the audit trail records,
so one client hammering sign-in behind the shared proxy does not lock out the others.
Without the setting the header is ignored, whoever sends it: a client cannot choose its own
address. A real uvicorn server (the production configuration) on loopback."""

from __future__ import annotations

from pathlib import Path

import httpx

from support.api import LiveApi, live_api
from support.settings import make_settings

CLIENT_A, CLIENT_B = "203.0.113.7", "198.51.100.9"


async def _sign_in_as_nobody(client: httpx.AsyncClient, forwarded_for: str) -> int:
    r = await client.post(
        "/api/auth/login",
        json={"username": "nobody", "password": "not-the-password-1"},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return r.status_code


async def _failed_sign_in_addresses(live: LiveApi, headers: dict[str, str]) -> set[str]:
    r = await live.client.get("/api/audit?action=auth.sign_in_failed", headers=headers)
    assert r.status_code == 200, r.text
    return {event["clientAddress"] for event in r.json()["items"]}


async def test_behind_a_trusted_proxy_each_client_is_limited_and_audited_by_its_address(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, trusted_proxies=["127.0.0.1"], rate_limit_login="4/minute")
    async with live_api(settings) as live:
        admin = await live.headers("admin")  # one sign-in from the proxy's own address
        assert [await _sign_in_as_nobody(live.client, CLIENT_A) for _ in range(5)] == [
            401,
            401,
            401,
            401,
            429,
        ]
        assert await _sign_in_as_nobody(live.client, CLIENT_B) == 401  # not locked out
        assert await _failed_sign_in_addresses(live, admin) == {CLIENT_A, CLIENT_B}


async def test_without_trusted_proxies_a_forwarded_address_is_ignored(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_limit_login="4/minute")
    async with live_api(settings) as live:
        admin = await live.headers("admin")
        assert [await _sign_in_as_nobody(live.client, CLIENT_A) for _ in range(3)] == [401] * 3
        # Another "address" in the header is the same client: its fifth sign-in is refused.
        assert await _sign_in_as_nobody(live.client, CLIENT_B) == 429
        assert await _failed_sign_in_addresses(live, admin) == {"127.0.0.1"}
