"""The long-lived connections of one api instance, by principal, so that revocation reaches
them (DESIGN §10): hub sockets, MJPEG streams and WHEP sessions.

Each connection takes a :class:`Lease` when its principal is known and gives it back when it
ends. A lease ends the connection (its ``end`` callback) when:

* :meth:`ConnectionRegistry.end_principal` is called for its principal: a key was revoked, a
  user disabled, deleted or demoted (here, or on another api instance via ``auth.revoked``);
* the periodic re-check (every ``interval`` seconds) finds the principal no longer in good
  standing in the database (a change made without the bus: ``beholder user disable``);
* its ``expires_at`` (unix seconds, the access token's expiry) passes, when
  ``end_on_expiry``.

A lease with ``renew`` (an API-key WHEP session: the worker ends it unless renewed) is
renewed on each re-check while its principal is in good standing; ``renew`` returning
``False`` means the connection already ended elsewhere and the lease is forgotten.

Everything runs on the api's event loop; ``end`` callbacks may be plain functions or
coroutines (run as tracked tasks, awaited by :meth:`ConnectionRegistry.stop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import structlog

from beholder.auth.roles import Principal
from beholder.contracts.auth import RevocationReason

log = structlog.get_logger(__name__)


class EndReason(StrEnum):
    """Why the registry ends a connection (also the hub's close reason text)."""

    REVOKED = "credentials revoked"
    ROLE_CHANGED = "role changed"
    EXPIRED = "token expired"

    @classmethod
    def of(cls, reason: RevocationReason) -> EndReason:
        """The end reason for a revocation event's reason."""
        return cls.ROLE_CHANGED if reason == RevocationReason.USER_DEMOTED else cls.REVOKED


class Standing(StrEnum):
    """A principal as the database sees it now, against what it was when it connected."""

    GOOD = "good"
    GONE = "gone"
    """Key revoked or unknown; user disabled or deleted."""
    DEMOTED = "demoted"
    """The user's role is now below the one it connected with."""


End = Callable[[EndReason], Awaitable[None] | None]
Renew = Callable[[], Awaitable[bool]]
CheckStanding = Callable[[Sequence[Principal]], Awaitable[dict[str, Standing]]]
"""``principals -> {principal.key: Standing}``; a principal left out counts as ``GOOD``."""

_REVOKED_MEMORY = 4096
"""Recent revocations remembered for :meth:`ConnectionRegistry.register`'s ``epoch``."""


@dataclass(eq=False, slots=True)
class Lease:
    """One open connection of ``principal``. ``kind``: ``hub``, ``mjpeg`` or ``whep`` (logs,
    stats); ``ref``: what the connection is (e.g. the WHEP session id), for :meth:`
    ConnectionRegistry.find`. Times are unix seconds."""

    principal: Principal
    kind: str
    end: End
    ref: str | None = None
    expires_at: float | None = None
    end_on_expiry: bool = True
    renew: Renew | None = None
    ended: bool = False
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class ConnectionRegistry:
    """Open connections by principal, ended on revocation, re-check or token expiry.

    ``interval``: seconds between re-checks (``Settings.auth_recheck_interval``);
    ``standing``: the database check of the re-check (:func:`beholder.auth.standing.
    principal_standing`)."""

    def __init__(self, interval: float, standing: CheckStanding) -> None:
        self.interval = interval
        self._standing = standing
        self._by_principal: dict[str, set[Lease]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._epoch = 0
        self._revoked: dict[str, tuple[int, EndReason]] = {}
        self.ended: dict[str, int] = {}
        self.rechecks = 0

    # -- leases ----------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """A counter of revocations so far. Take it before a slow step that follows
        authentication (a bus request to the worker) and pass it to :meth:`register`, so a
        revocation that happened meanwhile still ends the connection."""
        return self._epoch

    def register(
        self,
        principal: Principal,
        kind: str,
        end: End,
        *,
        ref: str | None = None,
        expires_at: float | None = None,
        end_on_expiry: bool = True,
        renew: Renew | None = None,
        epoch: int | None = None,
    ) -> Lease:
        """Lease an open connection of ``principal`` (see the module docstring). With
        ``epoch`` (:attr:`epoch` taken earlier), a revocation of ``principal`` since then
        ends the connection at once."""
        lease = Lease(principal, kind, end, ref, expires_at, end_on_expiry, renew)
        self._by_principal.setdefault(principal.key, set()).add(lease)
        if epoch is not None:
            revoked = self._revoked.get(principal.key)
            if revoked is not None and revoked[0] > epoch:
                self._end(lease, revoked[1])
                return lease
        if expires_at is not None:
            delay = expires_at - time.time()
            if delay <= 0:
                self._expire(lease)
            else:
                loop = asyncio.get_running_loop()
                lease.timer = loop.call_at(loop.time() + delay, self._expire, lease)
        return lease

    def unregister(self, lease: Lease) -> None:
        """The connection ended by itself: forget the lease (idempotent)."""
        if lease.timer is not None:
            lease.timer.cancel()
            lease.timer = None
        leases = self._by_principal.get(lease.principal.key)
        if leases is not None:
            leases.discard(lease)
            if not leases:
                del self._by_principal[lease.principal.key]

    def find(self, kind: str, ref: str) -> Lease | None:
        """The open lease of ``kind`` with ``ref`` (e.g. a WHEP session id), if any."""
        for leases in self._by_principal.values():
            for lease in leases:
                if lease.kind == kind and lease.ref == ref:
                    return lease
        return None

    def leases(self, kind: str | None = None) -> list[Lease]:
        """Open leases (of one ``kind``, or all)."""
        return [
            lease
            for leases in self._by_principal.values()
            for lease in leases
            if kind is None or lease.kind == kind
        ]

    def end_principal(self, principal_kind: str, principal_id: str, reason: EndReason) -> int:
        """End every connection of ``principal_kind:principal_id`` now; returns how many.

        Never awaits: the ends run in the background (a hub close, a bus request)."""
        key = f"{principal_kind}:{principal_id}"
        self._epoch += 1
        self._revoked.pop(key, None)  # re-insert: the dict stays ordered oldest first
        self._revoked[key] = (self._epoch, reason)
        if len(self._revoked) > _REVOKED_MEMORY:
            del self._revoked[next(iter(self._revoked))]
        leases = list(self._by_principal.get(key, ()))
        for lease in leases:
            self._end(lease, reason)
        if leases:
            log.info("connections ended", principal=key, reason=reason.value, count=len(leases))
        return len(leases)

    def _end(self, lease: Lease, reason: EndReason) -> None:
        if lease.ended:
            return
        lease.ended = True
        self.unregister(lease)
        self.ended[lease.kind] = self.ended.get(lease.kind, 0) + 1
        try:
            result = lease.end(reason)
        except Exception:
            log.exception("ending a connection failed", kind=lease.kind)
            return
        if inspect.isawaitable(result):
            self._spawn(result, f"end-{lease.kind}")

    def _expire(self, lease: Lease) -> None:
        lease.timer = None
        if lease.end_on_expiry:
            self._end(lease, EndReason.EXPIRED)
        else:
            self.unregister(lease)

    def _spawn(self, awaitable: Awaitable[Any], name: str) -> None:
        async def run() -> None:
            try:
                await awaitable
            except Exception:
                log.exception("connection task failed", task=name)

        task = asyncio.get_running_loop().create_task(run(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- periodic re-check -----------------------------------------------------------------

    async def recheck(self) -> int:
        """Check every leased principal against the database once; end the connections of
        those no longer in good standing and renew the renewable leases of the others.
        Returns how many connections were ended. Raises what ``standing`` raises."""
        self.rechecks += 1
        principals = {key: next(iter(ls)).principal for key, ls in self._by_principal.items()}
        if not principals:
            return 0
        verdicts = await self._standing(list(principals.values()))
        ended = 0
        for key in principals:
            verdict = verdicts.get(key, Standing.GOOD)
            for lease in list(self._by_principal.get(key, ())):
                if verdict == Standing.GONE:
                    self._end(lease, EndReason.REVOKED)
                    ended += 1
                elif verdict == Standing.DEMOTED:
                    self._end(lease, EndReason.ROLE_CHANGED)
                    ended += 1
                elif lease.renew is not None:
                    self._spawn(self._renew(lease, lease.renew), f"renew-{lease.kind}")
        if ended:
            log.info("re-check ended connections", count=ended)
        return ended

    async def _renew(self, lease: Lease, renew: Renew) -> None:
        if not await renew() and not lease.ended:
            self.unregister(lease)  # it ended elsewhere (hung up, camera stopped)

    async def _recheck_loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.recheck()
            except Exception:
                # The connections stay open: a database outage must not drop every viewer;
                # the next round tries again.
                log.exception("connection re-check failed")

    def start(self) -> None:
        """Start the periodic re-check (idempotent)."""
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.get_running_loop().create_task(
                self._recheck_loop(), name="connection-recheck"
            )

    async def stop(self) -> None:
        """Stop the re-check and wait for the ends in flight; leases are forgotten (the
        connections themselves are closed by their owners at shutdown)."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for lease in self.leases():
            self.unregister(lease)

    def stats(self) -> dict[str, Any]:
        """``{"open": {kind: n}, "ended": {kind: n}, "rechecks": n}``."""
        open_: dict[str, int] = {}
        for lease in self.leases():
            open_[lease.kind] = open_.get(lease.kind, 0) + 1
        return {"open": open_, "ended": dict(self.ended), "rechecks": self.rechecks}
