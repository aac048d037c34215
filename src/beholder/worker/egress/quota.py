"""The per-principal live-view cap counted across the cluster (distributed mode).

``webrtc_max_sessions_per_principal`` bounds the WHEP sessions one user or API key holds.
On one box the worker's :class:`~beholder.worker.egress.viewers.ViewerRegistry` counts them;
with several workers each would count only its own, so a principal could hold the cap on
every worker. Here every worker writes its sessions' claims into one JetStream KV entry per
principal (:attr:`~beholder.contracts.cluster.Buckets.LIVE_SESSIONS`, key
:func:`~beholder.contracts.cluster.principal_key`, value
:class:`~beholder.contracts.cluster.PrincipalSessions`) by compare-and-set, so two offers on
two workers at once cannot both take the last slot.

A claim is made before the offer is negotiated (it counts like an offer in flight), dropped
when the session closes or the negotiation fails, and renewed by its worker every third of
:data:`~beholder.contracts.cluster.LIVE_SESSION_TTL_S`; a worker that died stops renewing and
its claims lapse within that time (the next change of the entry drops them). Claims carry
unix times: workers' clocks must agree to within a few seconds (NTP), as the session expiry
of tokens already assumes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog
from pydantic import ValidationError

from beholder.bus.kv import KvBucket, KvEntry
from beholder.contracts.cluster import (
    LIVE_SESSION_TTL_S,
    Buckets,
    LiveSessionClaim,
    PrincipalSessions,
    principal_key,
)
from beholder.errors import BusError, ErrorCode
from beholder.worker.egress.errors import EgressRefused

log = structlog.get_logger(__name__)

__all__ = ["ClusterSessionQuota"]

_CAS_ATTEMPTS = 8
"""Compare-and-set rounds before giving up on a principal's entry (each lost round means
another worker changed it in between)."""

Claims = dict[str, LiveSessionClaim]


class ClusterSessionQuota:
    """This worker's side of the cluster-wide per-principal WHEP cap (see the module doc).

    ``limit``: sessions per principal in the whole cluster; ``ttl``: seconds a claim counts
    without renewal; ``clock``: unix seconds (tests pass their own)."""

    def __init__(
        self,
        bucket: KvBucket,
        worker_id: str,
        limit: int,
        *,
        ttl: float = LIVE_SESSION_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bucket = bucket
        self.worker_id = worker_id
        self.limit = limit
        self.ttl = ttl
        self._clock = clock
        self._renewed_at = clock()

    @classmethod
    async def open(
        cls, js: Any, worker_id: str, limit: int, *, replicas: int = 1
    ) -> ClusterSessionQuota:
        """Open (or create) the bucket on ``js`` (a JetStream context). Raises ``BusError``."""
        bucket = await KvBucket.open(
            js, Buckets.LIVE_SESSIONS, ttl=3 * LIVE_SESSION_TTL_S, replicas=replicas
        )
        return cls(bucket, worker_id, limit)

    # ------------------------------------------------------------------ the three changes
    async def reserve(self, principal: str, session_id: str) -> None:
        """Count ``session_id`` against ``principal``. Raises :class:`EgressRefused`
        ``RATE_LIMIT_EXCEEDED`` when the principal already holds ``limit`` sessions (claims
        of every worker, lapsed ones not counted), ``BusError`` when the bucket cannot be
        read or written."""

        def add(claims: Claims) -> None:
            if session_id not in claims and len(claims) >= self.limit:
                raise EgressRefused(
                    ErrorCode.RATE_LIMIT_EXCEEDED,
                    "Too many live views open. Close one, then try again.",
                    f"{principal} holds {len(claims)} sessions in the cluster",
                )
            claims[session_id] = self._claim()

        await self._change(principal, add)

    async def release(self, principal: str, session_id: str) -> None:
        """Stop counting ``session_id`` (a no-op when it is not counted). Raises
        ``BusError``; an unreleased claim lapses after the TTL anyway."""
        await self._change(principal, lambda claims: claims.pop(session_id, None))

    def renewal_due(self) -> bool:
        """True when a third of the TTL has passed since the last :meth:`renew`."""
        return self._clock() - self._renewed_at >= self.ttl / 3

    async def renew(
        self,
        held: Mapping[str, Iterable[str]],
        is_open: Callable[[str], bool] | None = None,
    ) -> None:
        """Extend this worker's claims: ``held`` maps each principal to the ids of its open
        sessions here (a claim lost meanwhile, e.g. lapsed during a bus outage, is made
        again: the session is open). ``is_open(session_id)`` is asked again as each entry
        is written, so a session closed while the renewal was under way is not claimed
        anew (its release and this write are ordered by the compare-and-set). A principal
        whose entry fails is logged and retried at the next renewal."""
        self._renewed_at = self._clock()
        for principal, session_ids in held.items():
            ids = list(session_ids)

            def extend(claims: Claims, ids: list[str] = ids) -> None:
                for sid in ids:
                    if is_open is None or is_open(sid):
                        claims[sid] = self._claim()

            try:
                await self._change(principal, extend)
            except BusError as exc:
                log.warning("live-session claims not renewed", error=str(exc)[:200])

    # ------------------------------------------------------------------ compare-and-set
    def _claim(self) -> LiveSessionClaim:
        return LiveSessionClaim(worker_id=self.worker_id, expires_at=self._clock() + self.ttl)

    async def _change(self, principal: str, mutate: Callable[[Claims], object]) -> None:
        """Read the principal's claims, drop the lapsed ones, apply ``mutate`` (which may
        raise) and write them back only if nobody wrote in between; retried otherwise."""
        key = principal_key(principal)
        for _ in range(_CAS_ATTEMPTS):
            entry = await self.bucket.get(key)
            claims, lapsed = self._read(entry)
            before = dict(claims)
            mutate(claims)
            if not claims and entry is None:
                return  # nothing counted, nothing to count
            if entry is not None and claims == before and not lapsed:
                return  # nothing to write
            value = PrincipalSessions(sessions=claims).to_bytes()
            if entry is None:
                written = await self.bucket.create(key, value)
            else:
                written = await self.bucket.update(key, value, entry.revision)
            if written is not None:
                return
        raise BusError(detail=f"live-session claims of {key} kept changing; try again")

    def _read(self, entry: KvEntry | None) -> tuple[Claims, bool]:
        """The entry's claims still counting, and whether any were dropped (lapsed or
        malformed: the entry is worth rewriting)."""
        if entry is None or not entry.value:
            return {}, False
        try:
            stored = PrincipalSessions.from_bytes(entry.value).sessions
        except (ValidationError, ValueError):
            log.warning("dropping malformed live-session claims", key=entry.key)
            return {}, True
        now = self._clock()
        live = {sid: c for sid, c in stored.items() if c.expires_at > now}
        return live, len(live) != len(stored)
