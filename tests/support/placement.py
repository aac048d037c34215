"""Distributed-mode workers in this process, for the lease and placement tests: several
:class:`WorkerManager` on their own NATS connections to a private ``nats-server -js``, the
desired-state and lease buckets opened by the test, and a recorder of every status event.

:meth:`PlacementCluster.crash` stands in for ``kill -9``: the worker's NATS connection is
closed at once (no renewal, no handover, no deregistration reaches the server), then its
sessions are torn down locally without publishing anything."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from beholder.bus.kv import KvBucket
from beholder.bus.nats import NatsBus
from beholder.config import ClusterSettings
from beholder.contracts.cluster import (
    Buckets,
    CameraAssignment,
    CameraLease,
    camera_key,
    camera_of_key,
)
from beholder.messages import (
    CameraSpec,
    CameraStatus,
    StreamStatusEvent,
    Subjects,
    WorkerHeartbeat,
)
from beholder.worker.manager import WorkerManager
from support.settings import make_camera_settings, make_worker_settings

__all__ = ["PlacementCluster", "fast_cluster_settings"]


def fast_cluster_settings(**overrides: Any) -> ClusterSettings:
    """Short lease and registry timings for tests (lease 2 s renewed every 0.5 s, registry
    2 s, placement every 0.25 s, no settle time); ``overrides`` win."""
    base: dict[str, Any] = {
        "lease_ttl": 2.0,
        "lease_renew_interval": 0.5,
        "registry_ttl": 2.0,
        "placement_interval": 0.25,
        "worker_settle_time": 0.0,
        "rebalance_moves_per_minute": 60,
    }
    base.update(overrides)
    return ClusterSettings(**base)


@dataclass
class PlacementCluster:
    """Workers of one test on ``url``; :attr:`events` records every ``stream.status``."""

    url: str
    settings: ClusterSettings
    workers: dict[str, WorkerManager] = field(default_factory=dict)
    crashed: set[str] = field(default_factory=set)
    events: list[StreamStatusEvent] = field(default_factory=list)
    _buses: dict[str, NatsBus] = field(default_factory=dict)
    _observer: NatsBus | None = None
    cameras: KvBucket | None = None
    leases: KvBucket | None = None
    registry: KvBucket | None = None

    async def open(self) -> None:
        """Connect the observer, open the buckets, record status events."""
        self._observer = NatsBus(self.url)
        await self._observer.start()
        js = self._observer.jetstream()
        self.cameras = await KvBucket.open(js, Buckets.CAMERAS)
        self.leases = await KvBucket.open(js, Buckets.LEASES, ttl=self.settings.lease_ttl)
        self.registry = await KvBucket.open(js, Buckets.WORKERS, ttl=self.settings.registry_ttl)

        async def record(msg: Any) -> None:
            self.events.append(StreamStatusEvent.from_bytes(msg.data))

        await self._observer.subscribe(Subjects.STREAM_STATUS, record)

    async def add(self, worker_id: str, settings: ClusterSettings | None = None) -> WorkerManager:
        """Start worker ``worker_id`` (placement mode, face detection on one thread)."""
        bus = NatsBus(self.url)
        await bus.start()
        manager = WorkerManager(
            make_worker_settings(detect_threads=1),
            bus,
            worker_id,
            camera=make_camera_settings(),
            cluster=settings or self.settings,
            placement=True,
        )
        await manager.start()
        self.workers[worker_id] = manager
        self._buses[worker_id] = bus
        return manager

    async def crash(self, worker_id: str) -> None:
        """``kill -9`` in-process: cut the worker's connection, then free its sessions
        (nothing it does afterwards reaches NATS)."""
        bus = self._buses[worker_id]
        nc = bus._nc
        assert nc is not None
        await nc.close()
        self.crashed.add(worker_id)
        with contextlib.suppress(Exception):
            await self.workers[worker_id].stop()

    async def close(self) -> None:
        for wid, manager in self.workers.items():
            if wid not in self.crashed:
                with contextlib.suppress(Exception):
                    await manager.stop()
        for bus in self._buses.values():
            with contextlib.suppress(Exception):
                await bus.close()
        if self._observer is not None:
            await self._observer.close()

    # ------------------------------------------------------------------ desired state
    async def want(
        self,
        camera_id: str,
        url: str,
        *,
        detect: bool = False,
        restart_token: str | None = None,
        trace_context: dict[str, str] | None = None,
    ) -> CameraAssignment:
        """Put the camera's desired state (what the api does on start/restart/toggle)."""
        assert self.cameras is not None
        spec = CameraSpec(
            camera_id=camera_id, name=camera_id[:8], rtsp_url=url, face_detection_enabled=detect
        )
        assignment = CameraAssignment(spec=spec, trace_context=trace_context or {})
        if restart_token is not None:
            assignment.restart_token = restart_token
        await self.cameras.put(camera_key(camera_id), assignment.to_bytes())
        return assignment

    async def unwant(self, camera_id: str) -> None:
        assert self.cameras is not None
        await self.cameras.delete(camera_key(camera_id))

    # ------------------------------------------------------------------ observation
    def live(self) -> dict[str, WorkerManager]:
        return {w: m for w, m in self.workers.items() if w not in self.crashed}

    def runners(self, camera_id: str) -> list[str]:
        """Live workers with a session of ``camera_id``."""
        return [w for w, m in self.live().items() if m.get_session(camera_id) is not None]

    def processing_on(self, camera_id: str) -> str | None:
        """The one live worker whose session of ``camera_id`` is PROCESSING, or None."""
        found = [
            w
            for w, m in self.live().items()
            if (s := m.get_session(camera_id)) is not None and s.status is CameraStatus.PROCESSING
        ]
        return found[0] if len(found) == 1 else None

    async def lease_table(self) -> dict[str, CameraLease]:
        """Camera id → lease, as stored in KV now."""
        assert self.leases is not None
        table: dict[str, CameraLease] = {}
        for key, entry in (await self.leases.entries()).items():
            cid = camera_of_key(key)
            if cid is not None:
                table[cid] = CameraLease.from_bytes(entry.value)
        return table

    async def registered(self) -> dict[str, WorkerHeartbeat]:
        """Worker id → the heartbeat it registered (KV ``beholder_workers``)."""
        assert self.registry is not None
        return {
            key: WorkerHeartbeat.from_bytes(entry.value)
            for key, entry in (await self.registry.entries()).items()
        }

    def statuses(self, camera_id: str) -> list[StreamStatusEvent]:
        return [e for e in self.events if e.camera_id == camera_id]
