"""The desired camera state (JetStream KV ``beholder_cameras``), mirrored locally.

The api puts a :class:`~beholder.contracts.cluster.CameraAssignment` under
``camera.<id>`` for every camera that must run and deletes it when the camera must stop.
:class:`DesiredState` keeps the current map by camera id from a KV watch, re-established
(with a full re-read) whenever the watch breaks and every ``RESYNC_S`` seconds anyway (a
watch that silently stopped after a NATS restart cannot strand a change for longer), and
calls ``on_change`` after each change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from pydantic import ValidationError

from beholder.bus.kv import KvBucket
from beholder.contracts.cluster import CameraAssignment, camera_of_key
from beholder.errors import BusError

log = structlog.get_logger(__name__)

__all__ = ["DesiredState"]

_RETRY_S = 1.0
RESYNC_S = 5.0
"""The watch is re-established with a full re-read this often, whatever happened: the
longest a change can wait when the watch silently stopped (its consumer is lost when
nats-server restarts; 30 s made a STOP after a bus outage take half a minute to act)."""


class DesiredState:
    """Camera id → :class:`CameraAssignment` of every camera that should run
    (:attr:`cameras`), kept up to date by :meth:`run` (a task: cancel it to stop)."""

    def __init__(self, bucket: KvBucket, on_change: Callable[[], None]) -> None:
        self.bucket = bucket
        self.cameras: dict[str, CameraAssignment] = {}
        self.synced = asyncio.Event()
        self._on_change = on_change

    async def sync(self) -> None:
        """Replace :attr:`cameras` by the bucket's current content. Raises ``BusError``."""
        fresh: dict[str, CameraAssignment] = {}
        for key, entry in (await self.bucket.entries()).items():
            camera_id = camera_of_key(key)
            assignment = self._parse(key, entry.value)
            if camera_id is not None and assignment is not None:
                fresh[camera_id] = assignment
        self.cameras = fresh
        self.synced.set()
        self._on_change()

    async def run(self) -> None:
        """Re-read, then follow the watch; start over after any failure and every
        :data:`RESYNC_S` seconds (forever)."""
        while True:
            try:
                async with asyncio.timeout(RESYNC_S):
                    await self.sync()
                    async for change in self.bucket.watch("camera.>"):
                        self._apply(change.key, change.value)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                continue  # the periodic re-read
            except BusError as exc:
                log.warning("desired-state watch failed; retrying", error=str(exc)[:200])
            except Exception:
                log.exception("desired-state watch failed; retrying")
            await asyncio.sleep(_RETRY_S)

    def _apply(self, key: str, value: bytes | None) -> None:
        camera_id = camera_of_key(key)
        if camera_id is None:
            return
        if value is None:
            if self.cameras.pop(camera_id, None) is None:
                return
        else:
            assignment = self._parse(key, value)
            if assignment is None or self.cameras.get(camera_id) == assignment:
                return
            self.cameras[camera_id] = assignment
        self._on_change()

    @staticmethod
    def _parse(key: str, value: bytes) -> CameraAssignment | None:
        try:
            return CameraAssignment.from_bytes(value)
        except (ValidationError, ValueError):
            log.warning("skipping a malformed camera assignment", key=key)
            return None
