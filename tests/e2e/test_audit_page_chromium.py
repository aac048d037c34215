"""The Audit page (issue 14 item 7) in real headless Chromium against the real app: an admin
sees the Audit link, opens the page and finds the failed sign-in that came before (with the
username tried and the address), filters on it; a viewer has no Audit link and the page
tells them it is for administrators.

Needs the built web app (``npm --prefix frontend run build`` → ``src/beholder/web``)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

from support.api import ADMIN_PASSWORD, LiveApi
from support.browser import CHROMIUM, WEB_INDEX, async_chromium, sign_in_async

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian chromium is not installed"),
    pytest.mark.skipif(not WEB_INDEX.exists(), reason="the web app is not built"),
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with async_chromium() as b:
        yield b


async def _sign_in(page: Any, base: str, user: str, password: str) -> None:
    await page.goto(f"{base}/")
    await sign_in_async(page, user, password)
    await page.get_by_role("navigation", name="Main").wait_for()


async def test_admin_reads_the_trail_and_a_viewer_cannot(sqlite_api: LiveApi, browser: Any) -> None:
    api = sqlite_api
    r = await api.client.post(
        "/api/auth/login", json={"username": "mallory", "password": "not-the-password-1"}
    )
    assert r.status_code == 401
    await api.token("viewer")  # creates viewer1

    page = await browser.new_page()
    await _sign_in(page, api.url, "admin", ADMIN_PASSWORD)
    await page.get_by_role("link", name="Audit").click()
    table = page.get_by_role("table", name="Audit events")
    failed = table.locator('[data-outcome="failure"]')
    await failed.wait_for()
    text = await failed.inner_text()
    assert "Sign-in failed" in text and "mallory" in text and "127.0.0.1" in text
    assert await table.get_by_text("Signed in").count() >= 1  # the admin's own sign-in
    # Filtering on the outcome leaves the failure alone.
    await page.get_by_label("Outcome").select_option("failure")
    await page.wait_for_function("() => document.querySelectorAll('[data-audit-id]').length === 1")
    assert await table.locator('[data-outcome="success"]').count() == 0

    viewer = await browser.new_page()
    await _sign_in(viewer, api.url, "viewer1", "viewer-password-1")
    assert await viewer.get_by_role("link", name="Audit").count() == 0
    await viewer.goto(f"{api.url}/audit")
    await viewer.get_by_text("Only administrators can see the audit trail.").wait_for()
