"""Headless Chromium for the browser tests and benches: the Debian ``chromium`` binary, the
flags every run uses, and a launcher for Playwright's sync and async APIs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
