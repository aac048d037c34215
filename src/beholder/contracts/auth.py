"""Auth events on the bus: credentials that stop being good while connections are open.

``auth.revoked`` (:attr:`~beholder.contracts.subjects.Subjects.AUTH_REVOKED`) is published by
the api instance that revoked a key, disabled, deleted or demoted a user; every api instance
consumes it (no queue group), forgets the principal's cached credentials and ends its open
hub sockets, MJPEG streams and WHEP sessions (see :mod:`beholder.auth.connections`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import StringConstraints

from beholder.contracts.wire import WireModel


class RevocationReason(StrEnum):
    """Why a principal's connections end."""

    KEY_REVOKED = "key-revoked"
    USER_DISABLED = "user-disabled"
    USER_DELETED = "user-deleted"
    USER_DEMOTED = "user-demoted"
    """The role went down: connections end so that the client re-authorizes with its new
    rights (the web app reconnects at once on the hub's 4401)."""


PrincipalKind = Literal["user", "api_key"]
"""As :attr:`beholder.auth.roles.Principal.kind`."""

PrincipalId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
"""A user id or API key id (UUID strings)."""


class CredentialsRevoked(WireModel):
    """api → every api instance (``auth.revoked``): end ``principal_kind:principal_id``'s
    connections and drop its cached principal. ``principal_kind`` is ``user`` or
    ``api_key`` (as :attr:`beholder.auth.roles.Principal.kind`)."""

    principal_kind: PrincipalKind
    principal_id: PrincipalId
    reason: RevocationReason
