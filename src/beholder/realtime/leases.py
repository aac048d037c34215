"""The hub's side of revocation: each authenticated ``/ws`` connection is leased in the
api's :class:`~beholder.auth.connections.ConnectionRegistry` under its principal, and closed
when the registry ends the lease.

Close code: 4401 (:data:`~beholder.realtime.protocol.CLOSE_UNAUTHORIZED`, as for an expired
token) with reason ``credentials revoked`` (key revoked, user disabled or deleted) or
``role changed`` (user demoted), after an ``error`` message with code ``UNAUTHORIZED``. The
web app refreshes its token and reconnects at once on 4401: a demoted user comes back with
its new rights, a disabled one is signed out, a revoked key is refused.
"""

from __future__ import annotations

from beholder.auth.connections import ConnectionRegistry, EndReason, Lease
from beholder.auth.roles import Principal
from beholder.errors import ErrorCode
from beholder.realtime.connection import Connection
from beholder.realtime.protocol import CLOSE_UNAUTHORIZED, error_message

_MESSAGES = {
    EndReason.ROLE_CHANGED: "Your role changed. Reconnect to continue.",
    EndReason.EXPIRED: "Your session has expired. Reconnect with a new token.",
}
_REVOKED_MESSAGE = "Your access was revoked."


class HubLeases:
    """Leases of the hub's authenticated connections (no-op without a registry)."""

    def __init__(self, registry: ConnectionRegistry | None) -> None:
        self.registry = registry
        self._leases: dict[Connection, Lease] = {}
        self.revoked = 0

    def add(self, conn: Connection, principal: Principal) -> None:
        """Lease ``conn`` (just authenticated as ``principal``)."""
        if self.registry is None:
            return

        def end(reason: EndReason) -> None:
            self._leases.pop(conn, None)
            self.revoked += 1
            message = _MESSAGES.get(reason, _REVOKED_MESSAGE)
            conn.close_soon(
                CLOSE_UNAUTHORIZED, reason.value, error_message(ErrorCode.UNAUTHORIZED, message)
            )

        self._leases[conn] = self.registry.register(principal, "hub", end)

    def drop(self, conn: Connection) -> None:
        """``conn`` ended by itself: give its lease back (idempotent)."""
        lease = self._leases.pop(conn, None)
        if lease is not None and self.registry is not None:
            self.registry.unregister(lease)
