"""Every bus subject (DESIGN §5). No other module spells a subject.

Fixed subjects are attributes of :class:`Subjects`; per-camera subjects are built by the
functions below (``<cam>`` is the camera id, a UUID, so it is one subject token):

========================================  =====================  ==========================
subject                                   request                reply
========================================  =====================  ==========================
``camera.snapshot.<cam>``                 empty                  JPEG bytes or ``b""``
``egress.whep.<cam>``                     ``WhepOffer``          ``WhepAnswer``
``egress.whep.delete.<cam>``              ``WhepDelete``         ``EgressReply``
``egress.whep.renew.<cam>``               ``WhepRenew``          ``EgressReply``
``egress.mjpeg.keepalive.<cam>``          ``MjpegKeepAlive``     ``MjpegReply``
``egress.mjpeg.<cam>`` (publish)          JPEG bytes, headers ``ts`` (unix s), ``w``, ``h``
``relay.frames.<stream>`` (publish)       binary relay frame (:mod:`.relay_frame`), header
                                          ``origin`` = the publishing api instance
``relay.alerts.<stream>`` (publish)       a persisted stream alert, to every instance's relay
``relay.control.<stream>`` (publish)      producer replaced / stream deleted / status
========================================  =====================  ==========================

(models in :mod:`beholder.contracts.live`; the relay's in :mod:`beholder.contracts.relay`
and its own bus payloads). ``<stream>`` is a mobile stream id (a UUID). Only the worker
holding a camera subscribes to its subjects, so "no responders" means the camera is not
running anywhere.
"""

from __future__ import annotations

import re


class Subjects:
    """Fixed bus subjects (the original plan's Kafka topic names)."""

    CAMERA_COMMANDS = "camera.commands"
    """api → the worker holding the camera: :class:`~beholder.contracts.bus.CameraCommand`."""
    STREAM_STATUS = "stream.status"
    """worker → api: :class:`~beholder.contracts.bus.StreamStatusEvent`."""
    CAMERA_EVENTS = "camera.events"
    """worker → api: :class:`~beholder.contracts.bus.FaceDetectionAlert`."""
    NVR_STATUS = "nvr.status"
    SYSTEM_HEALTH = "system.health"
    WORKER_HEARTBEAT = "worker.heartbeat"
    """worker → everyone: :class:`~beholder.contracts.bus.WorkerHeartbeat`."""
    HUB_BROADCAST = "hub.broadcast"
    """api → every api instance's hub: :class:`~beholder.contracts.bus.HubBroadcast`."""
    WORKER_PING = "worker.ping"
    """Request/reply: any live worker answers with a :class:`WorkerHeartbeat`."""
    AUTH_REVOKED = "auth.revoked"
    """api → every api instance: :class:`~beholder.contracts.auth.CredentialsRevoked`."""
    STREAM_DETECTION = "stream.detection"
    """api → workers: analyse (or stop analysing) a mobile stream with the built-in detector:
    :class:`~beholder.contracts.bus.StreamDetectionCommand`."""
    STREAM_DETECTION_LIST = "stream.detection.list"
    """Request/reply, worker → api: which mobile streams to analyse now (a worker that
    starts asks once, then follows ``stream.detection``). Request empty, reply
    :class:`~beholder.contracts.bus.StreamDetectionList`."""
    RELAY_FRAMES_ALL = "relay.frames.*"
    """Wildcard over :func:`relay_frames_subject` (every stream's frames)."""
    RELAY_ALERTS_ALL = "relay.alerts.*"
    """Wildcard over :func:`relay_alerts_subject`."""
    RELAY_CONTROL_ALL = "relay.control.*"
    """Wildcard over :func:`relay_control_subject`."""


_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def valid_subject_token(value: str) -> bool:
    """True when ``value`` can be used as one bus subject token (ids: UUIDs, hex, ``-_``)."""
    return bool(_TOKEN.match(value))


def snapshot_subject(camera_id: str) -> str:
    """Request/reply subject for a camera's snapshot (reply: JPEG bytes or ``b""``)."""
    return f"camera.snapshot.{camera_id}"


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


def relay_frames_subject(stream_id: str) -> str:
    """Subject of a mobile stream's video frames (payload: one binary relay frame,
    :func:`beholder.contracts.relay_frame.encode_frame`; header ``origin``: api instance)."""
    return f"relay.frames.{stream_id}"


def relay_alerts_subject(stream_id: str) -> str:
    """Subject of a mobile stream's persisted alerts, for the relay of every api instance."""
    return f"relay.alerts.{stream_id}"


def relay_control_subject(stream_id: str) -> str:
    """Subject of a mobile stream's control events (producer replaced, deleted, status)."""
    return f"relay.control.{stream_id}"


_UNTRACED_PREFIXES = ("egress.mjpeg.", "relay.frames.", "worker.heartbeat")


def untraced(subject: str) -> bool:
    """True for the per-frame and periodic subjects (MJPEG and relay video frames, worker
    heartbeats) that never get a tracing span or trace header, whatever context they are
    published from (a span per video frame would cost more than the frame's delivery)."""
    return subject.startswith(_UNTRACED_PREFIXES)
