"""Revocation reaches open connections, on every api instance (issue 9, finding 6).

* :func:`announce_revocation` — called by the REST handlers after they committed a key
  revocation or a user's disable/delete/demotion: ends the principal's connections here at
  once, then publishes :class:`~beholder.contracts.auth.CredentialsRevoked` on
  ``auth.revoked`` for the other api instances.
* :class:`RevocationListener` — every api instance's consumer of ``auth.revoked``: drops the
  principal's cached credentials (``AuthService.invalidate``) and ends its connections.
* WHEP sessions live in the worker; the api instance that opened one leases it
  (:func:`lease_whep_session`) and ends it with a bus ``WhepDelete``. A session opened with
  an API key expires on the worker after :func:`key_session_ttl` seconds unless the
  re-check renews it, so it never outlives its key (nor the api instance that watches it).

Connections made without the bus (the CLI) are caught by the registry's periodic re-check
(``Settings.auth_recheck_interval``).
"""

from __future__ import annotations

import time

import structlog
from pydantic import ValidationError

from beholder.api.state import AppState
from beholder.auth.connections import EndReason, Lease
from beholder.auth.roles import Principal
from beholder.bus.base import BusMessage, Subscription
from beholder.config import Settings
from beholder.contracts.auth import CredentialsRevoked, PrincipalKind, RevocationReason
from beholder.contracts.live import EgressReply, WhepDelete, WhepRenew
from beholder.contracts.subjects import Subjects, whep_delete_subject, whep_renew_subject
from beholder.errors import BusError

log = structlog.get_logger(__name__)

WHEP = "whep"
MJPEG = "mjpeg"


async def announce_revocation(
    state: AppState, principal_kind: PrincipalKind, principal_id: str, reason: RevocationReason
) -> None:
    """End ``principal_kind:principal_id``'s connections on this instance now and tell every
    other instance over the bus. A bus failure is logged: the other instances' periodic
    re-check still ends them within ``auth_recheck_interval``."""
    state.auth.invalidate(principal_id)
    state.connections.end_principal(principal_kind, principal_id, EndReason.of(reason))
    event = CredentialsRevoked(
        principal_kind=principal_kind,
        principal_id=principal_id,
        reason=reason,
    )
    try:
        await state.bus.publish(Subjects.AUTH_REVOKED, event.to_bytes())
    except BusError as exc:
        log.warning("auth.revoked not published; other instances re-check", detail=str(exc))


class RevocationListener:
    """Consumes ``auth.revoked`` on one api instance (every instance gets every event)."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self._sub: Subscription | None = None
        self.received = 0

    async def start(self) -> None:
        self._sub = await self.state.bus.subscribe(Subjects.AUTH_REVOKED, self.on_revoked)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def on_revoked(self, msg: BusMessage) -> None:
        try:
            event = CredentialsRevoked.from_bytes(msg.data)
        except ValidationError as exc:
            log.warning("malformed auth.revoked dropped", errors=exc.error_count())
            return
        self.received += 1
        # The announcing instance already did this; for it the second pass finds nothing.
        self.state.auth.invalidate(event.principal_id)
        self.state.connections.end_principal(
            event.principal_kind, event.principal_id, EndReason.of(event.reason)
        )


# -- WHEP ---------------------------------------------------------------------------------


def key_session_ttl(settings: Settings) -> float:
    """Seconds a WHEP session opened with an API key lives on the worker without a renewal:
    two re-check periods plus a signalling round trip, so one late re-check is not fatal."""
    return 2 * settings.auth_recheck_interval + settings.live_view.webrtc_signal_timeout


def whep_session_expiry(principal: Principal, settings: Settings) -> float | None:
    """When the worker ends a session of ``principal`` (unix s): the access token's expiry
    for a user; ``now + key_session_ttl`` for an API key (renewed by the re-check)."""
    if principal.kind == "api_key" or principal.expires_at is None:
        return time.time() + key_session_ttl(settings)
    return principal.expires_at


async def _whep_request(state: AppState, subject: str, data: bytes) -> bool:
    """A session request to the worker; True when it answered ``ok``."""
    try:
        raw = await state.bus.request(
            subject, data, timeout=state.settings.live_view.webrtc_signal_timeout
        )
    except BusError:
        return False  # no worker serves the camera: the session is gone
    try:
        return EgressReply.from_bytes(raw).ok
    except ValidationError:
        return False


def lease_whep_session(
    state: AppState,
    principal: Principal,
    camera_id: str,
    session_id: str,
    *,
    epoch: int | None = None,
) -> Lease:
    """Lease a WHEP session that ``principal`` just opened (or renewed) through this
    instance: revocation or a failed re-check hangs it up on the worker. A user's lease is
    forgotten at its token's expiry (the worker ends the session itself then); a key's is
    renewed by every good re-check. Replaces an earlier lease of the same session here."""
    registry = state.connections
    old = registry.find(WHEP, session_id)
    if old is not None:
        registry.unregister(old)

    async def end(reason: EndReason) -> None:
        req = WhepDelete(
            camera_id=camera_id, session_id=session_id, principal=principal.key, any_owner=True
        )
        await _whep_request(state, whep_delete_subject(camera_id), req.to_bytes())
        log.info("WHEP session ended", session_id=session_id, reason=reason.value)

    async def renew() -> bool:
        req = WhepRenew(
            camera_id=camera_id,
            session_id=session_id,
            principal=principal.key,
            expires_at=whep_session_expiry(principal, state.settings),
        )
        return await _whep_request(state, whep_renew_subject(camera_id), req.to_bytes())

    is_key = principal.kind == "api_key" or principal.expires_at is None
    return registry.register(
        principal,
        WHEP,
        end,
        ref=session_id,
        expires_at=None if is_key else principal.expires_at,
        end_on_expiry=False,
        renew=renew if is_key else None,
        epoch=epoch,
    )


def whep_session_closed(state: AppState, session_id: str) -> None:
    """The viewer hung up through this instance: forget the session's lease."""
    lease = state.connections.find(WHEP, session_id)
    if lease is not None:
        state.connections.unregister(lease)
