"""Live view (WHEP/MJPEG) request and reply models between the api's HTTP endpoints and the
worker that holds the camera (its egress). Subjects: :mod:`beholder.contracts.subjects`.
Imports neither aiortc nor PyAV: the api process uses it too. Ids are
:data:`~beholder.contracts.wire.Id` (UUIDs), checked when a request or reply is read.
"""

from __future__ import annotations

from pydantic import Field

from beholder.contracts.wire import Id, PrincipalKey, WireModel


class WhepOffer(WireModel):
    """api → worker: a viewer's SDP offer.

    ``expires_at``: unix seconds after which the worker hangs up (the viewer's access token
    expiry; ``None`` for API keys). ``principal``: ``kind:id`` of the viewer (for logs and
    for checking who may delete the session)."""

    camera_id: Id
    sdp: str
    principal: PrincipalKey
    expires_at: float | None = None
    client: str | None = None


class EgressReply(WireModel):
    """worker → api: outcome of a request. ``error_code`` is an :class:`~beholder.errors.ErrorCode`
    value (``STREAM_UNAVAILABLE``, ``SERVICE_UNAVAILABLE``, ``INVALID_INPUT``, ``NOT_FOUND``,
    ``PERMISSION_DENIED``) and ``message`` user-safe."""

    ok: bool
    error_code: str | None = None
    message: str | None = None


class WhepAnswer(EgressReply):
    """worker → api: the SDP answer and the id of the new session (when ``ok``).

    ``ice_servers``: STUN/TURN URLs the api advertises in ``Link`` headers (RFC 9725 §4.6)."""

    session_id: Id | None = None
    sdp: str | None = None
    egress: str | None = None
    ice_servers: list[str] = Field(default_factory=list)


class WhepDelete(WireModel):
    """api → worker: end a session. ``any_owner``: the caller may end other users' sessions
    (operators and admins)."""

    camera_id: Id
    session_id: Id
    principal: PrincipalKey
    any_owner: bool = False


class WhepRenew(WhepDelete):
    """api → worker: the viewer refreshed its token; move the session's expiry to ``expires_at``."""

    expires_at: float | None = None


class MjpegKeepAlive(WireModel):
    """api → worker: at least ``clients`` MJPEG clients of this api instance watch ``camera_id``."""

    camera_id: Id
    api_id: Id
    clients: int = 1


class MjpegReply(EgressReply):
    """worker → api: the MJPEG encoder runs; frames come on ``subject``
    (:func:`~beholder.contracts.subjects.mjpeg_subject`)."""

    subject: str | None = None
    max_fps: float | None = None
