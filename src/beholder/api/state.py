"""Everything the api's request handlers share, built once per app in the lifespan."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from beholder.auth.service import AuthService
from beholder.bus.base import Bus
from beholder.config import Settings
from beholder.db.engine import Database
from beholder.health import HealthChecker, WorkerTracker
from beholder.realtime.hub import Hub

if TYPE_CHECKING:
    from beholder.api.middleware.rate_limit import RateLimiter


@dataclass(eq=False)
class AppState:
    """Shared services of one api instance."""

    settings: Settings
    db: Database
    bus: Bus
    auth: AuthService
    hub: Hub
    health: HealthChecker
    workers: WorkerTracker
    limiter: RateLimiter
    started_at: float = field(default_factory=time.monotonic)
    worker: Any = None  # in-process WorkerManager under `serve`
    consumers: Any = None  # EventConsumers
    egress: Any = None  # in-process live-view EgressHub under `serve`
    background: list[Any] = field(default_factory=list)  # asyncio tasks to cancel on stop
