"""Which api instance answered: ``<hostname>-<pid>``, in ``/api/system/stats`` and in the
``X-Beholder-Instance`` header of every HTTP response, so that an operator behind a load
balancer can tell the instances apart."""

from __future__ import annotations

import os
import socket

HEADER = "X-Beholder-Instance"

_cached: tuple[int, str] | None = None


def instance_id() -> str:
    """``<hostname>-<pid>`` of this process (recomputed after a fork)."""
    global _cached
    pid = os.getpid()
    if _cached is None or _cached[0] != pid:
        _cached = (pid, f"{socket.gethostname()}-{pid}")
    return _cached[1]
