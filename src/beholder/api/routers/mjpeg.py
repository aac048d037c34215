"""Live view, MJPEG fallback: ``GET /api/cameras/{id}/mjpeg`` and its per-api fan-out.

``multipart/x-mixed-replace`` JPEG stream; an ``<img src>`` uses a signed URL
(``/api/media/sign``). The worker encodes once per camera and publishes the JPEGs on the bus
(:func:`~beholder.contracts.subjects.mjpeg_subject`); :class:`MjpegHub` keeps one
subscription and one keep-alive per camera on this api instance and fans the frames out to
HTTP clients, each with a ``mjpeg_client_queue``-frame buffer that drops the oldest frame
for a slow client. Errors as for WHEP (:func:`beholder.api.routers.live.require_live_camera`):
404 unknown camera, 409 stopped, 503 ``STREAM_UNAVAILABLE``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from beholder.api.deps import MediaViewerDep, StateDep
from beholder.api.revocation import MJPEG
from beholder.api.routers.live import (
    CameraId,
    request_worker,
    require_live_camera,
)
from beholder.auth.connections import EndReason
from beholder.bus.base import Bus, BusMessage, Subscription
from beholder.config import LiveViewSettings
from beholder.contracts.live import MjpegKeepAlive, MjpegReply
from beholder.contracts.subjects import mjpeg_keepalive_subject, mjpeg_subject
from beholder.errors import AppError
from beholder.messages import new_id

router = APIRouter(prefix="/api", tags=["live"])

BOUNDARY = "beholderframe"


class _CameraFeed:
    """One camera's MJPEG frames on this api instance, shared by its HTTP clients."""

    def __init__(self, hub: MjpegHub, camera_id: str) -> None:
        self.hub = hub
        self.camera_id = camera_id
        self.clients: set[asyncio.Queue[bytes | None]] = set()
        self.subscription: Subscription | None = None
        self.keepalive: asyncio.Task[None] | None = None
        self.frames = 0
        self.dropped = 0

    async def on_frame(self, msg: BusMessage) -> None:
        self.frames += 1
        for q in list(self.clients):
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
                    self.dropped += 1
            q.put_nowait(msg.data)

    async def keep_alive(self) -> None:
        failures = 0
        while self.clients:
            await asyncio.sleep(self.hub.settings.mjpeg_keepalive)
            try:
                await self.hub.keepalive(self.camera_id, len(self.clients))
                failures = 0
            except AppError:
                failures += 1
                if failures >= 3:
                    for q in list(self.clients):
                        with contextlib.suppress(asyncio.QueueFull):
                            q.put_nowait(None)
                    return


class MjpegHub:
    """Per-api-instance MJPEG fan-out: one bus subscription and keep-alive per camera."""

    def __init__(self, bus: Bus, settings: LiveViewSettings) -> None:
        self.bus = bus
        self.settings = settings
        self.api_id = new_id()
        self.feeds: dict[str, _CameraFeed] = {}
        self._lock = asyncio.Lock()

    async def keepalive(self, camera_id: str, clients: int) -> MjpegReply:
        """Ask the worker to (keep) encoding; raises ``StreamUnavailable``/``AppError``."""
        req = MjpegKeepAlive(camera_id=camera_id, api_id=self.api_id, clients=clients)
        raw = await request_worker(
            self.bus,
            mjpeg_keepalive_subject(camera_id),
            req.to_bytes(),
            self.settings.webrtc_signal_timeout,
        )
        reply = MjpegReply.from_bytes(raw)
        if not reply.ok:
            raise AppError.from_code(
                reply.error_code, reply.message, detail=f"worker refused: {reply.error_code}"
            )
        return reply

    async def join(self, camera_id: str) -> asyncio.Queue[bytes | None]:
        """A new client queue for ``camera_id`` (starting the worker's encoder if needed)."""
        async with self._lock:
            feed = self.feeds.get(camera_id)
            if feed is None:
                await self.keepalive(camera_id, 1)
                feed = _CameraFeed(self, camera_id)
                feed.subscription = await self.bus.subscribe(
                    mjpeg_subject(camera_id), feed.on_frame
                )
                self.feeds[camera_id] = feed
            q: asyncio.Queue[bytes | None] = asyncio.Queue(
                maxsize=max(1, self.settings.mjpeg_client_queue)
            )
            feed.clients.add(q)
            if feed.keepalive is None or feed.keepalive.done():
                feed.keepalive = asyncio.create_task(
                    feed.keep_alive(), name=f"mjpeg-keepalive:{camera_id}"
                )
            return q

    async def leave(self, camera_id: str, q: asyncio.Queue[bytes | None]) -> None:
        """Drop a client; the last one stops the subscription and keep-alive."""
        async with self._lock:
            feed = self.feeds.get(camera_id)
            if feed is None:
                return
            feed.clients.discard(q)
            if feed.clients:
                return
            del self.feeds[camera_id]
            if feed.keepalive is not None:
                feed.keepalive.cancel()
            if feed.subscription is not None:
                with contextlib.suppress(Exception):
                    await feed.subscription.unsubscribe()


def _wake(queue: asyncio.Queue[bytes | None]) -> None:
    """Make a client's reader return now: empty its queue and put the end marker."""
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(None)


def mjpeg_hub(request: Request, state: Any) -> MjpegHub:
    """This app's :class:`MjpegHub` (created on first use)."""
    hub = getattr(request.app.state, "beholder_mjpeg", None)
    if not isinstance(hub, MjpegHub) or hub.bus is not state.bus:
        hub = MjpegHub(state.bus, state.settings.live_view)
        request.app.state.beholder_mjpeg = hub
    return hub


@router.get(
    "/cameras/{camera_id}/mjpeg",
    response_class=StreamingResponse,
    responses={200: {"content": {f"multipart/x-mixed-replace; boundary={BOUNDARY}": {}}}},
    summary="Watch a camera as MJPEG (fallback for clients without WebRTC)",
)
async def mjpeg_stream(
    camera_id: CameraId, request: Request, state: StateDep, principal: MediaViewerDep
) -> StreamingResponse:
    """``multipart/x-mixed-replace`` stream of JPEG parts at ≤ ``mjpeg_max_fps``. Ends when the
    camera stops producing (no frame for ``mjpeg_idle_timeout`` s), when the access token
    expires, or when the principal's credentials are revoked (or the user demoted)."""
    epoch = state.connections.epoch
    await require_live_camera(state, camera_id)
    hub = mjpeg_hub(request, state)
    queue = await hub.join(camera_id)
    idle = max(hub.settings.mjpeg_idle_timeout, 2 * hub.settings.mjpeg_keepalive)
    ended: list[EndReason] = []

    def end(reason: EndReason) -> None:
        ended.append(reason)
        _wake(queue)

    lease = state.connections.register(
        principal, MJPEG, end, expires_at=principal.expires_at, epoch=epoch
    )

    async def parts() -> AsyncIterator[bytes]:
        try:
            while True:
                try:
                    jpeg = await asyncio.wait_for(queue.get(), timeout=idle)
                except TimeoutError:
                    return
                if jpeg is None or ended:
                    return
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                head += f"Content-Length: {len(jpeg)}\r\n\r\n"
                yield (head.encode() + jpeg + b"\r\n")
        finally:
            state.connections.unregister(lease)
            await hub.leave(camera_id, queue)

    return StreamingResponse(
        parts(),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
