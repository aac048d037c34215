"""Cancelling tasks that call nats-py on Python 3.11 (a correctness hook).

Python 3.11's ``asyncio.wait_for`` drops a cancel that arrives as the awaited future
completes (CPython gh-86296, fixed in 3.12). nats-py awaits with ``wait_for`` in its request,
KV and watch paths, so ``task.cancel()`` on a task inside one of those can be lost and the
task runs on: a placement loop then outlived ``stop()`` until a timeout (seen as a 5 s
shutdown in ``tests/integration/test_worker_role.py``). :func:`cancel_and_wait` cancels
again until the tasks end; a second cancel lands at the task's next await.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

__all__ = ["cancel_and_wait"]

_RECANCEL_EVERY_S = 0.1


async def cancel_and_wait(tasks: Iterable[asyncio.Task[object]], timeout: float) -> bool:
    """Cancel ``tasks`` and wait until every one has ended, cancelling the ones still
    running every 0.1 s, for at most ``timeout`` seconds. True when all ended in time.
    Exceptions of the tasks are not raised here (read them from the tasks)."""
    pending = {t for t in tasks if not t.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        for task in pending:
            task.cancel()
        _done, pending = await asyncio.wait(pending, timeout=min(_RECANCEL_EVERY_S, remaining))
    return True
