"""Headless Chromium for the browser tests and benches: the Debian ``chromium`` binary, the
flags every run uses, and a launcher for Playwright's sync and async APIs; for the end-to-end
tests also the built web app's location, a browser for a test module, the sign-in form and
screenshots."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB_INDEX = ROOT / "src" / "beholder" / "web" / "index.html"
"""The built web app's entry page (``npm --prefix frontend run build`` → ``src/beholder/web``);
``beholder serve`` serves the dashboard only when it exists."""

ARTIFACTS = ROOT / "artifacts" / "e2e"
"""Where the end-to-end tests save their screenshots (not compared pixel by pixel)."""

CHROMIUM = "/usr/bin/chromium"
"""The Debian ``chromium`` package's binary (the browser tests skip when it is missing)."""

CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # WebRTC between the browser and a server on 127.0.0.1: allow loopback candidates and
    # keep them as plain addresses (no mDNS names the server could not resolve).
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    # Nothing leaves the machine: every host name fails except the local server.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def launch_chromium(browser_type: Any, extra_args: Sequence[str] = (), **kwargs: Any) -> Any:
    """``browser_type.launch(...)`` of :data:`CHROMIUM` with :data:`CHROMIUM_ARGS` (then
    ``extra_args``, e.g. the fake camera flags), headless.

    ``browser_type``: ``playwright.chromium`` of either API; returns its ``Browser`` (sync
    API) or an awaitable of it (async API). ``kwargs`` go to ``launch``."""
    return browser_type.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args], headless=True, **kwargs
    )


def require_web_app() -> None:
    """Skip the calling test (or fixture) when the web app is not built (:data:`WEB_INDEX`)."""
    if not WEB_INDEX.is_file():
        pytest.skip("web app not built (npm --prefix frontend run build)")


@contextlib.contextmanager
def sync_chromium(extra_args: Sequence[str] = ()) -> Iterator[Any]:
    """A headless Chromium ``Browser`` of Playwright's sync API (:func:`launch_chromium` with
    ``extra_args``), closed at the end. Skips the calling test when :data:`CHROMIUM` or the
    ``playwright`` package is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p.chromium, extra_args)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.asynccontextmanager
async def async_chromium(extra_args: Sequence[str] = ()) -> AsyncIterator[Any]:
    """A headless Chromium ``Browser`` of Playwright's async API (:func:`launch_chromium` with
    ``extra_args``), closed at the end (the caller skips when Chromium is missing)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await launch_chromium(p.chromium, extra_args)
        try:
            yield browser
        finally:
            await browser.close()


def sign_in(page: Any, username: str, password: str) -> None:
    """Fill in the web app's sign-in form that the sync-API ``page`` shows, and submit it.

    Returns once the button is clicked: the caller waits for what it expects next."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


async def sign_in_async(page: Any, username: str, password: str) -> None:
    """:func:`sign_in` for a page of Playwright's async API."""
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


def save_screenshot(page: Any, name: str, *, full_page: bool = False) -> None:
    """Save ``page`` (sync API) as ``ARTIFACTS/<name>.png`` once its finite animations (a
    drawer sliding in) have ended; ``full_page`` captures the whole scrollable page."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate(
        """() => Promise.all(document.getAnimations()
            .filter(a => Number.isFinite(a.effect?.getComputedTiming().endTime))
            .map(a => a.finished.catch(() => undefined)))"""
    )
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)
