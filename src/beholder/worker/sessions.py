"""The camera sessions one worker runs (:class:`CameraSessions`).

What runs is decided elsewhere — ``camera.commands`` under ``serve``, placement and leases in
distributed mode (:mod:`beholder.worker.manager`); this registry owns what *is* running: it
starts a session (its ``worker session start`` span, its ``camera.snapshot.<cameraId>``
responder, the session-count metric), stops one, and tells the listeners (live-view egress)
either way. Everything runs on the worker's loop; callers serialise per camera.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import structlog

from beholder import tracing
from beholder.bus import Bus, BusMessage, Handler, Subscription
from beholder.contracts.subjects import snapshot_subject
from beholder.messages import CameraSpec
from beholder.worker import metrics
from beholder.worker.session import CameraSession

if TYPE_CHECKING:
    from opentelemetry.trace import Span

log = structlog.get_logger(__name__)

SessionListener = Callable[[str, CameraSession | None], None]
"""``listener(camera_id, session)`` when a session starts, ``(camera_id, None)`` when it ends."""

SessionFactory = Callable[[CameraSpec, str | None, "Span | None"], CameraSession]
"""``factory(spec, correlation_id, start_span)``: a new, not yet started session."""

__all__ = ["CameraSessions", "SessionFactory", "SessionListener"]


class CameraSessions:
    """The running sessions of one worker, by camera id. ``new_session`` builds a session
    (the worker's settings, detection and publishers are the manager's); ``bus`` carries the
    snapshot requests; ``worker_id`` labels the start spans."""

    def __init__(self, bus: Bus, worker_id: str, new_session: SessionFactory) -> None:
        self._bus = bus
        self._worker_id = worker_id
        self._new_session = new_session
        self._running: dict[str, CameraSession] = {}
        self._snapshot_subs: dict[str, Subscription] = {}
        self._listeners: list[SessionListener] = []

    def get(self, camera_id: str) -> CameraSession | None:
        """The running session of ``camera_id``, if any."""
        return self._running.get(camera_id)

    def __contains__(self, camera_id: object) -> bool:
        return camera_id in self._running

    def __len__(self) -> int:
        return len(self._running)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._running))

    def copy(self) -> dict[str, CameraSession]:
        """camera id → session, a copy (safe to keep while sessions come and go)."""
        return dict(self._running)

    def add_listener(self, listener: SessionListener) -> None:
        """Call ``listener`` on every start and stop from now on (loop thread)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: SessionListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    async def start(self, spec: CameraSpec, correlation_id: str | None) -> CameraSession:
        """Create and start ``spec``'s session (the caller stopped any previous one), answer
        its snapshot requests, tell the listeners. Raises what the session's creation or
        start raises (nothing is left registered then)."""
        # Ends when the camera first streams (or fails, or stops): see StatusReporter.
        start_span = tracing.start_span(
            "worker session start",
            attributes={
                "beholder.camera.id": spec.camera_id,
                "beholder.worker.id": self._worker_id,
                "beholder.correlation_id": correlation_id or "",
            },
        )
        try:
            session = self._new_session(spec, correlation_id, start_span)
        except BaseException:
            tracing.end_span(start_span, "the camera session could not be created")
            raise
        self._running[spec.camera_id] = session
        metrics.SESSIONS.set(len(self._running))
        await session.start()
        try:
            self._snapshot_subs[spec.camera_id] = await self._bus.subscribe(
                snapshot_subject(spec.camera_id), _snapshot_responder(session)
            )
        except Exception:
            log.exception("could not subscribe snapshot requests", camera_id=spec.camera_id)
        self._notify(spec.camera_id, session)
        return session

    async def stop(self, camera_id: str) -> None:
        """Stop ``camera_id``'s session (no-op without one) and tell the listeners."""
        session = self._running.get(camera_id)
        if session is None:
            return
        sub = self._snapshot_subs.pop(camera_id, None)
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        try:
            await session.stop()
        finally:
            if self._running.get(camera_id) is session:
                del self._running[camera_id]
            metrics.SESSIONS.set(len(self._running))
            self._notify(camera_id, None)

    async def stop_all(self) -> None:
        """Stop every session at once; one failing does not keep the others running."""
        await asyncio.gather(*(self.stop(cid) for cid in self), return_exceptions=True)

    def _notify(self, camera_id: str, session: CameraSession | None) -> None:
        for listener in list(self._listeners):
            try:
                listener(camera_id, session)
            except Exception:
                log.exception("session listener failed", camera_id=camera_id)


def _snapshot_responder(session: CameraSession) -> Handler:
    """Answers a snapshot request with the session's latest frame as JPEG, or ``b""``."""

    async def respond(msg: BusMessage) -> None:
        try:
            jpeg = await session.snapshot_jpeg()
        except Exception:
            log.exception("snapshot failed", camera_id=session.camera_id)
            jpeg = None
        await msg.respond(jpeg or b"")

    return respond
