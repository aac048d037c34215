"""Blocking and async waits on a condition, for tests and benches (never a bare sleep)."""

from __future__ import annotations

import asyncio
import inspect
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
    pred: Callable[[], Any],
    timeout: float,
    what: str | Callable[[], str] = "the condition",
    every: float = 0.05,
) -> Any:
    """The one async wait of the tests: call ``pred`` every ``every`` seconds until it returns
    something truthy (awaiting it when it returns an awaitable, so ``pred`` may be an async
    check such as an HTTP request); the event loop keeps running in between. Returns that
    value. ``pred`` is always called at least once.

    Raises ``AssertionError`` after ``timeout`` seconds naming ``what`` (a string, or a
    callable returning one, evaluated only on failure to describe what was seen)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout} s waiting for {described}")
        await asyncio.sleep(every)
