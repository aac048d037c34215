"""The audit trail's vocabulary and its public view (``GET /api/audit``, issue 14 item 7).

One closed vocabulary of actions (:class:`AuditAction`), who did it
(:class:`PrincipalType`), and how it ended (:class:`AuditOutcome`). A row never holds a
secret: ``details`` carries changed field *names* and small non-secret facts only (see
:func:`beholder.auth.audit.safe_details`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from beholder.contracts.wire import UtcDatetime


class AuditAction(StrEnum):
    """Every action the audit trail records (``<target>.<verb>``)."""

    SIGN_IN = "auth.sign_in"
    SIGN_IN_FAILED = "auth.sign_in_failed"
    REFRESH_REUSE_DETECTED = "auth.refresh_reuse_detected"
    ACCESS_DENIED = "auth.access_denied"
    """A signed-in principal asked for something its role does not allow (403)."""
    USER_CREATE = "user.create"
    USER_ROLE_CHANGE = "user.role_change"
    USER_DISABLE = "user.disable"
    USER_ENABLE = "user.enable"
    USER_PASSWORD_CHANGE = "user.password_change"
    USER_DELETE = "user.delete"
    API_KEY_CREATE = "api_key.create"
    API_KEY_REVOKE = "api_key.revoke"
    CAMERA_CREATE = "camera.create"
    CAMERA_UPDATE = "camera.update"
    CAMERA_DELETE = "camera.delete"
    CAMERA_START = "camera.start"
    CAMERA_STOP = "camera.stop"
    CAMERA_RESTART = "camera.restart"
    CAMERA_FACE_DETECTION = "camera.face_detection"
    NVR_CREATE = "nvr.create"
    NVR_UPDATE = "nvr.update"
    NVR_DELETE = "nvr.delete"
    NVR_KEY_CREATE = "nvr_key.create"
    STREAM_CREATE = "stream.create"
    STREAM_UPDATE = "stream.update"
    STREAM_DELETE = "stream.delete"
    ALERT_ACKNOWLEDGE = "alert.acknowledge"


class PrincipalType(StrEnum):
    """Who acted: a signed-in user, a machine's API key, the server itself or the shell
    (``system``: the admin CLI, retention), or nobody yet (``anonymous``: a failed
    sign-in)."""

    USER = "user"
    API_KEY = "api_key"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


class AuditOutcome(StrEnum):
    """``success``; ``failure`` (e.g. a wrong password); ``denied`` (refused by policy)."""

    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class AuditTarget(StrEnum):
    """The kinds of thing an action is done to."""

    USER = "user"
    API_KEY = "api_key"
    CAMERA = "camera"
    NVR = "nvr"
    STREAM = "stream"
    ALERT = "alert"


class AuditEventOut(BaseModel):
    """One audit row as ``GET /api/audit`` shows it (camelCase). ``timestamp`` is UTC;
    ``actorName`` the username (attempted one for a failed sign-in) or API key name;
    ``clientAddress`` the caller's IP (``null`` for the CLI); ``details`` changed field
    names and small non-secret facts."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)

    id: str
    timestamp: UtcDatetime
    actor_id: str | None
    actor_name: str | None
    principal_type: PrincipalType
    action: AuditAction
    target_type: AuditTarget | None
    target_id: str | None
    client_address: str | None
    correlation_id: str | None
    outcome: AuditOutcome
    details: dict[str, Any] | None


class AuditPage(BaseModel):
    """``{"items": [...], "nextCursor"?}``, newest first."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    items: list[AuditEventOut]
    next_cursor: str | None = None
