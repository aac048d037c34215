"""How a relay socket signs in (DESIGN §7, §10): the hub's check
(:func:`beholder.realtime.handshake.check_in`: token in ``Sec-WebSocket-Protocol`` or in the
first message, within ``auth_timeout``), then the relay's own rules: users of any role, API
keys of scope ``mobile`` or ``ml-service`` only. A refusal sends one ``error`` and closes
**1008** "Unauthorized" (1009 for a first message over the size limit). A signed-in socket
is leased in the :class:`~beholder.auth.connections.ConnectionRegistry` so that revoking its
key or user (or its token expiring) closes it with **4401**."""

from __future__ import annotations

from typing import Any

from beholder.auth.connections import ConnectionRegistry, EndReason
from beholder.auth.roles import ApiKeyScope, Principal
from beholder.config.relay import RelaySettings
from beholder.errors import ErrorCode
from beholder.realtime.handshake import Authenticate, Refusal, check_in
from beholder.realtime.protocol import CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_UNAUTHORIZED
from beholder.realtime.relay import metrics
from beholder.realtime.relay.peer import RelayPeer
from beholder.realtime.relay.session import decode_message
from beholder.realtime.relay.wire import error

KEY_SCOPES = frozenset({ApiKeyScope.MOBILE, ApiKeyScope.ML_SERVICE})
"""API key scopes the relay lets in."""
_REVOKED = {
    EndReason.ROLE_CHANGED: "Your role changed. Reconnect to continue.",
    EndReason.EXPIRED: "Your session has expired. Reconnect with a new token.",
}


async def sign_in(
    peer: RelayPeer, token: str | None, authenticate: Authenticate, settings: RelaySettings
) -> Principal | Refusal | None:
    """The principal of ``peer``; a :class:`Refusal` once it was refused (the socket is
    then closing); ``None`` when it left. Never raises for client behaviour."""
    limit = settings.max_message_bytes

    async def first_message() -> dict[str, Any] | None:
        return decode_message(peer, await peer.websocket.receive(), limit)

    result = await check_in(token, first_message, authenticate, settings.auth_timeout, peer.client)
    if result is None:
        return None
    if isinstance(result, Refusal):
        refusal = result
    else:
        principal = result[0]
        if principal.kind == "user" or principal.scope in KEY_SCOPES:
            return principal
        refusal = Refusal(
            ErrorCode.UNAUTHORIZED, "This API key cannot use the relay (mobile, ml-service)."
        )
    metrics.MESSAGES_REFUSED.labels(refusal.code.value).inc()
    code = CLOSE_TOO_BIG if refusal.too_big else CLOSE_POLICY
    await peer.close(code, "Unauthorized", error(refusal.code, refusal.message))
    return refusal


def lease(peer: RelayPeer, principal: Principal, registry: ConnectionRegistry | None) -> None:
    """Lease ``peer`` under ``principal`` so that revocation (or the token's expiry) closes
    it with 4401 after an ``UNAUTHORIZED`` error; no-op without a registry."""
    if registry is None:
        return

    def end(reason: EndReason) -> None:
        peer.lease = None
        message = _REVOKED.get(reason, "Your access was revoked.")
        peer.close_soon(CLOSE_UNAUTHORIZED, reason.value, error(ErrorCode.UNAUTHORIZED, message))

    peer.lease = registry.register(principal, "relay", end, expires_at=principal.expires_at)


def release_lease(peer: RelayPeer, registry: ConnectionRegistry | None) -> None:
    """Give ``peer``'s lease back (it ended by itself); idempotent."""
    if peer.lease is not None and registry is not None:
        registry.unregister(peer.lease)
    peer.lease = None


__all__ = ["KEY_SCOPES", "lease", "release_lease", "sign_in"]
