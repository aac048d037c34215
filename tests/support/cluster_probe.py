"""What a running cluster does, seen from outside: the camera leases and the worker registry
in NATS KV, which worker process plays which RTSP mount (the fixture's client list joined
with each worker's TCP connections), and dashboard sockets that reconnect and replay the
alerts they missed as the web app does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from beholder.contracts.cluster import Buckets, CameraLease, camera_of_key
from fixtures.rtsp_server import RtspServer

__all__ = ["DashboardSocket", "LeaseWatch", "read_bucket", "rtsp_holders"]


async def read_bucket(nats_url: str, bucket: str) -> dict[str, bytes]:
    """Every live key of KV ``bucket`` and its value (empty when the bucket is missing)."""
    import nats
    from nats.js.errors import BucketNotFoundError

    from beholder.bus.kv import KvBucket

    nc = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        try:
            kv = await nc.jetstream().key_value(bucket)
        except BucketNotFoundError:
            return {}
        entries = await KvBucket(kv, bucket).entries()
        return {key: entry.value for key, entry in entries.items() if entry.value}
    finally:
        await nc.close()


async def leases(nats_url: str) -> dict[str, CameraLease]:
    """camera id → its lease now."""
    raw = await read_bucket(nats_url, Buckets.LEASES)
    out = {}
    for key, value in raw.items():
        camera_id = camera_of_key(key)
        if camera_id is not None:
            out[camera_id] = CameraLease.model_validate_json(value)
    return out


async def registered_workers(nats_url: str) -> set[str]:
    """The worker ids in the registry now."""
    return set(await read_bucket(nats_url, Buckets.WORKERS))


@dataclass
class LeaseWatch:
    """Watches the leases bucket in the background: every change in order as
    ``(camera id, worker id or None for a delete, revision, time.monotonic() seen)``.

    A lease that expires (its TTL) leaves no marker in the bucket's history, so a change of
    holder without a delete is legitimate only when the previous holder's last write is at
    least the lease TTL old: :meth:`overlaps` lists the changes that break this (a create
    over a live lease)."""

    nats_url: str
    changes: list[tuple[str, str | None, int, float]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _nc: Any = None

    async def start(self) -> None:
        import nats

        self._nc = await nats.connect(self.nats_url, max_reconnect_attempts=-1)
        kv = await self._nc.jetstream().key_value(Buckets.LEASES)
        watcher = await kv.watchall(include_history=False)

        async def run() -> None:
            async for entry in watcher:
                if entry is None:  # end of the initial values
                    continue
                camera_id = camera_of_key(entry.key)
                if camera_id is None:
                    continue
                holder = None
                if entry.value and entry.operation in (None, "PUT"):
                    holder = CameraLease.model_validate_json(entry.value).worker_id
                self.changes.append((camera_id, holder, entry.revision, time.monotonic()))

        self._task = asyncio.create_task(run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()

    def overlaps(self, lease_ttl: float, slack: float = 0.5) -> list[str]:
        """Changes that gave a camera to another worker while the previous holder's lease
        was still live: no delete in between and its last write less than ``lease_ttl`` −
        ``slack`` s before (``slack``: the watch's own delivery jitter)."""
        last: dict[str, tuple[str | None, float]] = {}
        bad = []
        for camera_id, worker, revision, seen in self.changes:
            before, at = last.get(camera_id, (None, 0.0))
            if worker is not None and before is not None and before != worker:
                age = seen - at
                if age < lease_ttl - slack:
                    bad.append(
                        f"camera {camera_id}: {before} -> {worker} at revision {revision}, "
                        f"{age:.1f} s after {before}'s last renewal"
                    )
            last[camera_id] = (worker, seen)
        return bad


def rtsp_holders(server: RtspServer, workers: dict[str, int]) -> dict[str, set[str]]:
    """mount → the worker names (``workers``: name → pid) playing it now, from the RTSP
    server's client list and each worker process's (and its children's) TCP connections.
    A client the server lists that no worker owns is shown as ``?<peer>``."""
    ports: dict[int, str] = {}
    for name, pid in workers.items():
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    for conn in p.net_connections(kind="tcp"):
                        if conn.raddr and conn.raddr.port == server.port:
                            ports[conn.laddr.port] = name
    held: dict[str, set[str]] = {}
    for client in server.clients():
        peer_port = int(client["peer"].rsplit(":", 1)[-1]) if ":" in client["peer"] else -1
        held.setdefault(client["mount"], set()).add(ports.get(peer_port, f"?{client['peer']}"))
    return held


class DashboardSocket:
    """A dashboard on ``/ws`` of ``base_url`` (an api or the load balancer) subscribed to
    cameras and alerts. Like the web app it reconnects when the socket drops (every
    ``retry`` s) and sends the last alert id it saw, so the server replays what it missed.
    ``alert_ids`` lists every alert id received, duplicates included (see
    :meth:`pushed_twice`); ``connections`` counts the sockets opened; ``messages`` keeps
    everything (each with ``_receivedAt``, the ``time.monotonic()`` of its arrival)."""

    def __init__(self, base_url: str, token: Callable[[], Any], retry: float = 0.3) -> None:
        self.ws_url = base_url.replace("http", "ws", 1) + "/ws"
        self.token = token
        self.retry = retry
        self.messages: list[dict[str, Any]] = []
        self.alert_ids: list[str] = []
        self.connections = 0
        self.replays: list[dict[str, Any]] = []
        self.deliveries: list[tuple[int, str, bool]] = []
        """(connection number, alert id, came in the replay) of every alert received."""
        self._task: asyncio.Task[None] | None = None

    @property
    def last_alert_id(self) -> str | None:
        return self.alert_ids[-1] if self.alert_ids else None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        import websockets

        while True:
            try:
                async with websockets.connect(self.ws_url, open_timeout=5) as ws:
                    token = self.token()
                    if asyncio.iscoroutine(token):
                        token = await token
                    auth: dict[str, Any] = {"type": "auth", "token": token}
                    replaying = self.last_alert_id is not None
                    if replaying:
                        auth["lastAlertId"] = self.last_alert_id
                    await ws.send(json.dumps(auth))
                    await ws.send(
                        json.dumps({"type": "subscribe", "topics": ["cameras", "alerts"]})
                    )
                    self.connections += 1
                    async for raw in ws:
                        message = json.loads(raw)
                        message["_receivedAt"] = time.monotonic()  # for benches
                        self.messages.append(message)
                        if message.get("type") == "face-detection-alert":
                            alert_id = str(message.get("id"))
                            self.alert_ids.append(alert_id)
                            self.deliveries.append((self.connections, alert_id, replaying))
                        elif message.get("type") == "replayed":
                            self.replays.append(message)
                            replaying = False  # live alerts from here on
            except asyncio.CancelledError:
                raise
            except Exception:  # dropped, refused, or the balancer has no api: try again
                pass
            await asyncio.sleep(self.retry)

    def pushed_twice(self) -> list[str]:
        """Alert ids the server pushed more than once, other than the one repeat the replay
        protocol allows: an alert the replay of a later connection sends again. The replay
        starts after the last id received, and alerts handled concurrently (by two api
        instances) can arrive out of their stored order, so a reconnecting client may get
        one it had; clients de-duplicate by id (the web app's store does). A repeat on one
        connection, or a live repeat, is a real double push (e.g. a redelivery broadcast)."""
        seen: dict[str, int] = {}
        twice = []
        for connection, alert_id, replayed in self.deliveries:
            earlier = seen.get(alert_id)
            if earlier is not None and not (replayed and earlier < connection):
                twice.append(alert_id)
            seen.setdefault(alert_id, connection)
        return twice

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def statuses(self, camera_id: str) -> list[dict[str, Any]]:
        """The camera-status-update messages of ``camera_id``, in order."""
        return [
            m
            for m in self.messages
            if m.get("type") == "camera-status-update" and m.get("cameraId") == camera_id
        ]
