"""Blocking and async waits on a condition, for tests and benches (never a bare sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(
    pred: Callable[[], Any],
    timeout: float,
    what: str,
    every: float = 0.2,
    error: type[Exception] = AssertionError,
) -> Any:
    """Call ``pred`` every ``every`` seconds until it returns something truthy; return that.

    Raises ``error`` (``AssertionError`` for tests; benches pass ``TimeoutError``) naming
    ``what`` once ``timeout`` seconds have passed. ``pred`` is always called at least once."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise error(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


async def eventually(
    pred: Callable[[], Any], timeout: float, what: str = "the condition", every: float = 0.05
) -> Any:
    """Async :func:`wait_until` for tests on an event loop: await ``pred()`` truthy (the loop
    keeps running in between); return its value. Raises ``AssertionError`` after
    ``timeout`` seconds naming ``what``."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(every)
