"""Everything the api's request handlers share, built once per app by the lifecycle."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from beholder.auth.connections import ConnectionRegistry
from beholder.auth.media import MediaSigner
from beholder.auth.service import AuthService
from beholder.bus.base import Bus
from beholder.config import Settings
from beholder.db.engine import Database
from beholder.health import HealthChecker, WorkerTracker
from beholder.nvr.service import NvrService
from beholder.realtime.agents import AgentSocket
from beholder.realtime.hub import Hub

if TYPE_CHECKING:
    from beholder.api.middleware.rate_limit import RateLimiter
    from beholder.worker.egress.hub import EgressHub
    from beholder.worker.manager import WorkerManager


@dataclass(eq=False)
class AppState:
    """Shared services of one api instance (:mod:`beholder.api.lifecycle` starts and stops
    them; this object only points at them).

    ``worker`` and ``egress`` are the in-process worker and its live-view hub under
    ``serve`` (``None`` for ``api``); ``media`` signs and checks media URLs
    (:mod:`beholder.auth.media`); ``connections`` leases the hub sockets, MJPEG streams
    and WHEP sessions by principal so that revocation ends them; ``started_at`` is
    ``time.monotonic()`` at start-up; ``nvr`` is the NVR fleet service (the agent socket's
    calls, the offline cascade, the debounced fleet summary: :mod:`beholder.nvr.service`),
    set by the lifecycle right after the bus consumers.
    """

    settings: Settings
    db: Database
    bus: Bus
    auth: AuthService
    hub: Hub
    connections: ConnectionRegistry
    health: HealthChecker
    workers: WorkerTracker
    limiter: RateLimiter
    media: MediaSigner
    started_at: float = field(default_factory=time.monotonic)
    worker: WorkerManager | None = None
    egress: EgressHub | None = None
    nvr: NvrService | None = None
    agents: AgentSocket | None = None

    @property
    def fleet(self) -> NvrService:
        """:attr:`nvr`, which every started api instance has."""
        if self.nvr is None:
            raise RuntimeError("the NVR service is not started")
        return self.nvr
