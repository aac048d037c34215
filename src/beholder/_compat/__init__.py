"""Every hook into a library's private API, one module per library (DESIGN §2).

Each hook is checked against the pinned versions by ``tests/unit/test_compat.py`` and is
bounded by an upper version pin in ``pyproject.toml``. When a hook cannot install:

* where it guards **security** it fails closed: :mod:`.aioice`'s remote-candidate guard
  raises :class:`HookUnavailable` and the live-view connection is refused;
* where it only buys **speed** it logs one warning per process (:func:`warn_once`) and the
  caller takes the slower public path (:mod:`.av`: a stop waits for the read timeout;
  :mod:`.uvicorn`/:mod:`.starlette`: the hub sends through ASGI).

This package imports nothing from Beholder above ``errors`` (it is a leaf).
"""

from __future__ import annotations

import logging
import threading

from beholder.errors import AppError, ErrorCode

log = logging.getLogger(__name__)

_warned: set[str] = set()
_warned_lock = threading.Lock()


class HookUnavailable(AppError):
    """A private-API hook that guards security could not be installed on this library version.

    Raised instead of proceeding without the guard (fail closed). Users see
    ``SERVICE_UNAVAILABLE``; ``detail`` names the library and the missing piece."""

    code = ErrorCode.SERVICE_UNAVAILABLE


def warn_once(key: str, message: str, *args: object) -> bool:
    """Log ``message % args`` as a warning the first time ``key`` is seen in this process.

    Returns True when the warning was logged now. Thread-safe (hooks install from ingest
    threads as well as the event loop)."""
    with _warned_lock:
        if key in _warned:
            return False
        _warned.add(key)
    log.warning(message, *args)
    return True


__all__ = ["HookUnavailable", "warn_once"]
