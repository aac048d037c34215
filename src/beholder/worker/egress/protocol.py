"""Bus request/reply models between the api (WHEP/MJPEG HTTP endpoints) and the worker that
holds the camera (egress). Imports neither aiortc nor PyAV: the api process uses it too.

Subjects (``<cam>`` is the camera id, a UUID, so it is one subject token):

========================================  =====================  ==========================
subject                                   request                reply
========================================  =====================  ==========================
``egress.whep.<cam>``                     :class:`WhepOffer`     :class:`WhepAnswer`
``egress.whep.delete.<cam>``              :class:`WhepDelete`    :class:`EgressReply`
``egress.whep.renew.<cam>``               :class:`WhepRenew`     :class:`EgressReply`
``egress.mjpeg.keepalive.<cam>``          :class:`MjpegKeepAlive` :class:`MjpegReply`
``egress.mjpeg.<cam>`` (publish)          JPEG bytes, headers ``ts`` (unix s), ``w``, ``h``
========================================  =====================  ==========================

Only the worker holding a camera subscribes to its subjects, so "no responders" means the
camera is not running anywhere.
"""

from __future__ import annotations

import re

from pydantic import Field

from beholder.messages import WireModel

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def valid_subject_token(value: str) -> bool:
    """True when ``value`` can be used as one bus subject token (ids: UUIDs, hex, ``-_``)."""
    return bool(_TOKEN.match(value))


def whep_subject(camera_id: str) -> str:
    """Request subject for a new WHEP session on ``camera_id``."""
    return f"egress.whep.{camera_id}"


def whep_delete_subject(camera_id: str) -> str:
    """Request subject to end a WHEP session of ``camera_id``."""
    return f"egress.whep.delete.{camera_id}"


def whep_renew_subject(camera_id: str) -> str:
    """Request subject to extend a WHEP session's lifetime (refreshed access token)."""
    return f"egress.whep.renew.{camera_id}"


def mjpeg_subject(camera_id: str) -> str:
    """Subject on which the worker publishes ``camera_id``'s MJPEG frames (raw JPEG bytes)."""
    return f"egress.mjpeg.{camera_id}"


def mjpeg_keepalive_subject(camera_id: str) -> str:
    """Request subject by which the api starts/keeps ``camera_id``'s MJPEG encoder running."""
    return f"egress.mjpeg.keepalive.{camera_id}"


class WhepOffer(WireModel):
    """api → worker: a viewer's SDP offer.

    ``expires_at``: unix seconds after which the worker hangs up (the viewer's access token
    expiry; ``None`` for API keys). ``principal``: ``kind:id`` of the viewer (for logs and
    for checking who may delete the session)."""

    camera_id: str
    sdp: str
    principal: str
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

    session_id: str | None = None
    sdp: str | None = None
    egress: str | None = None
    ice_servers: list[str] = Field(default_factory=list)


class WhepDelete(WireModel):
    """api → worker: end a session. ``any_owner``: the caller may end other users' sessions
    (operators and admins)."""

    camera_id: str
    session_id: str
    principal: str
    any_owner: bool = False


class WhepRenew(WhepDelete):
    """api → worker: the viewer refreshed its token; move the session's expiry to ``expires_at``."""

    expires_at: float | None = None


class MjpegKeepAlive(WireModel):
    """api → worker: at least ``clients`` MJPEG clients of this api instance watch ``camera_id``."""

    camera_id: str
    api_id: str
    clients: int = 1


class MjpegReply(EgressReply):
    """worker → api: the MJPEG encoder runs; frames come on :func:`mjpeg_subject`."""

    subject: str | None = None
    max_fps: float | None = None
