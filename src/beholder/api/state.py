"""Everything the api's request handlers share, built once per app by the lifecycle."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from beholder.api.dispatch import CameraDispatcher
from beholder.auth.connections import ConnectionRegistry
from beholder.auth.media import MediaSigner
from beholder.auth.service import AuthService
from beholder.bus.base import Bus
from beholder.config import Settings
from beholder.contracts.resources import AlertOut
from beholder.db.engine import Database
from beholder.health import HealthChecker, WorkerTracker
from beholder.nvr.service import NvrService
from beholder.realtime.agents import AgentSocket
from beholder.realtime.hub import Hub
from beholder.realtime.relay.directory import NO_SOCKETS, StreamSockets

if TYPE_CHECKING:
    from beholder.api.middleware.rate_limit import RateLimiter
    from beholder.worker.egress.hub import EgressHub
    from beholder.worker.manager import WorkerManager


class AlertBacklog(Protocol):
    """What the health check sees of the alerts waiting for the database
    (:class:`beholder.api.pending_alerts.PendingAlerts`; a protocol here so that the state
    does not import the module that uses it)."""

    @property
    def backlog(self) -> bool:
        """Alerts are waiting."""
        ...

    def stats(self) -> dict[str, Any]:
        """The queue's figures for health details."""
        ...

    def retry_now(self) -> None:
        """Skip the writer's back-off wait (the database answered again)."""
        ...


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

    ``dispatcher``: where camera commands go (:mod:`beholder.api.dispatch`: the bus under
    ``serve``, the desired state in JetStream KV in distributed mode).

    ``relay``: the mobile relay ``/api/streams/ws`` as the REST API sees it (counts,
    consumers, closing a deleted stream's sockets); :data:`NO_SOCKETS` until the lifecycle
    sets the real one. ``relay_alerts``: called with every stream alert persisted by this
    instance (ML services through the relay, the built-in detector through the bus) after
    it was stored and sent to the hub, so that the relay delivers it to the stream's
    producer and alert consumers (on every api instance); ``None``: nobody to deliver to.
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
    dispatcher: CameraDispatcher
    started_at: float = field(default_factory=time.monotonic)
    worker: WorkerManager | None = None
    egress: EgressHub | None = None
    relay: StreamSockets = NO_SOCKETS
    relay_alerts: Callable[[AlertOut], Awaitable[None]] | None = None
    nvr: NvrService | None = None
    agents: AgentSocket | None = None
    pending_alerts: AlertBacklog | None = None
    """Alerts waiting for the database (set by the bus consumers)."""

    @property
    def fleet(self) -> NvrService:
        """:attr:`nvr`, which every started api instance has."""
        if self.nvr is None:
            raise RuntimeError("the NVR service is not started")
        return self.nvr
