"""Roles and what they may do (DESIGN §10): viewer reads, operator controls cameras and
acknowledges alerts, admin manages users and keys. API keys act for machines by scope."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Role) -> bool:
        """True when this role includes every permission of ``other``."""
        return self.rank >= other.rank


_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


class ApiKeyScope(StrEnum):
    WORKER = "worker"
    NVR = "nvr"
    MOBILE = "mobile"
    ML_SERVICE = "ml-service"


# What an API key may do on the REST API and hub, by scope. Machines read; none of them
# drives cameras, acknowledges alerts or manages users and keys. The camera worker talks to
# the api over the bus only (commands in, status/alerts/heartbeats out) and calls no REST
# route nor the hub, so a `worker` key gets no more than the other machines: reading.
SCOPE_ROLE: dict[ApiKeyScope, Role] = {
    ApiKeyScope.WORKER: Role.VIEWER,
    ApiKeyScope.NVR: Role.VIEWER,
    ApiKeyScope.MOBILE: Role.VIEWER,
    ApiKeyScope.ML_SERVICE: Role.VIEWER,
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (``kind='user'``) or an API key (``kind='api_key'``).

    ``id`` is the user id or the key id; ``name`` is the username or key name;
    ``expires_at`` is the access token's expiry (unix seconds) for users, ``None`` for keys;
    ``nvr_id`` is the NVR an ``nvr`` key is bound to (it acts only as that NVR).
    """

    kind: str
    id: str
    name: str
    role: Role
    scope: ApiKeyScope | None = None
    owner_id: str | None = None
    expires_at: float | None = None
    nvr_id: str | None = None

    @property
    def key(self) -> str:
        """Stable identity for rate limiting and logs, e.g. ``user:<id>``."""
        return f"{self.kind}:{self.id}"

    def can(self, role: Role) -> bool:
        """True when the principal holds at least ``role``."""
        return self.role.at_least(role)
