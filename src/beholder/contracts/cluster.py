"""Distributed mode's durable state on NATS JetStream (DESIGN §1): the streams the api
consumes, the KV buckets of desired camera state, camera leases and the worker registry.

=========================  =========================================  ==========================
bucket / stream            key / subjects                             value
=========================  =========================================  ==========================
``beholder_cameras`` (KV)  ``camera.<cameraId>``                      :class:`CameraAssignment`
``beholder_leases`` (KV)   ``camera.<cameraId>``                      :class:`CameraLease`
``beholder_workers`` (KV)  ``<workerId>``                             ``WorkerHeartbeat``
``beholder_live_sessions`` ``principal.<digest>``                     :class:`PrincipalSessions`
``BEHOLDER_EVENTS``        ``camera.events``                          ``FaceDetectionAlert``
``BEHOLDER_STATUS``        ``stream.status``                          ``StreamStatusEvent``
=========================  =========================================  ==========================

The api writes the desired state (start/restart/toggle put the camera's assignment, stop and
delete remove it); workers place cameras among themselves and take each by a revision-checked
create of its lease (the lease's epoch is that create's KV revision, so a later owner always
has a larger epoch). Leases and registrations expire with the bucket's TTL when they are not
renewed. The durable streams are consumed by the api instances through one shared durable
consumer each (:func:`durable_consumer`): each message is handled by one instance and
redelivered when it is not acknowledged in time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pydantic import Field

from beholder.contracts.bus import CameraSpec, WorkerHeartbeat
from beholder.contracts.subjects import Subjects
from beholder.contracts.wire import Id, Name, UtcDatetime, WireModel, new_id, utcnow


class Buckets:
    """JetStream KV bucket names."""

    CAMERAS = "beholder_cameras"
    """Desired state: one :class:`CameraAssignment` per camera that should run (no TTL)."""
    LEASES = "beholder_leases"
    """One :class:`CameraLease` per camera held by a worker (TTL: the lease TTL)."""
    WORKERS = "beholder_workers"
    """One ``WorkerHeartbeat`` per live worker (TTL: the registry TTL)."""
    LIVE_SESSIONS = "beholder_live_sessions"
    """One :class:`PrincipalSessions` per principal holding WHEP sessions anywhere in the
    cluster (key :func:`principal_key`; TTL: ``LIVE_SESSION_TTL_S``): the per-principal
    live-view cap counted cluster-wide."""


LIVE_SESSION_TTL_S = 30.0
"""How long a WHEP session counts against its principal's cap without a renewal from the
worker holding it (seconds; the worker renews every third of it). A worker killed with
``kill -9`` stops renewing: its sessions stop counting within this time."""


def principal_key(principal: str) -> str:
    """The KV key of ``principal`` (``user:<id>``, ``key:<id>``…) in
    :attr:`Buckets.LIVE_SESSIONS`: a digest, since KV keys allow only ``[-/_=.a-zA-Z0-9]``."""
    return "principal." + hashlib.sha256(principal.encode()).hexdigest()[:32]


class LiveSessionClaim(WireModel):
    """One WHEP session counted against its principal: the worker holding it and when the
    claim lapses unless renewed (unix seconds)."""

    worker_id: Name
    expires_at: float


class PrincipalSessions(WireModel):
    """Every counted WHEP session of one principal, by session id."""

    sessions: dict[str, LiveSessionClaim] = Field(default_factory=dict, max_length=4096)


@dataclass(frozen=True, slots=True)
class DurableStream:
    """A JetStream stream: its name and the subjects it stores."""

    name: str
    subjects: tuple[str, ...]


class Streams:
    """The durable streams (what must not be lost); everything else stays core NATS."""

    EVENTS = DurableStream("BEHOLDER_EVENTS", (Subjects.CAMERA_EVENTS,))
    STATUS = DurableStream("BEHOLDER_STATUS", (Subjects.STREAM_STATUS,))
    ALL: tuple[DurableStream, ...] = (EVENTS, STATUS)


MSG_ID_HEADER = "Nats-Msg-Id"
"""Header holding a durable message's id (the event's ``id``): JetStream stores a message
re-published with the same id within the duplicate window once."""


def durable_consumer(stream: DurableStream, group: str) -> str:
    """The durable consumer of ``stream`` shared by the members of queue group ``group``
    (the api instances subscribe with group ``api``: ``api-beholder_events``)."""
    return f"{group}-{stream.name.lower()}"


def durable_stream_of(subject: str) -> DurableStream | None:
    """The durable stream that stores ``subject``, or ``None`` (a core NATS subject)."""
    for stream in Streams.ALL:
        if subject in stream.subjects:
            return stream
    return None


def camera_key(camera_id: str) -> str:
    """The key of ``camera_id`` in :attr:`Buckets.CAMERAS` and :attr:`Buckets.LEASES`."""
    return f"camera.{camera_id}"


def camera_of_key(key: str) -> str | None:
    """The camera id of a ``camera.<id>`` key, or ``None``."""
    prefix, _, rest = key.partition(".")
    return rest if prefix == "camera" and rest else None


class CameraAssignment(WireModel):
    """Desired state of one camera (:attr:`Buckets.CAMERAS`): run it with ``spec``.

    ``restartToken`` changes when a restart is asked (the holder restarts its session);
    ``correlationId`` is the command's, carried into the worker's status events;
    ``traceContext`` the W3C ``traceparent``/``tracestate`` of the request that asked, so the
    worker's session start joins its trace."""

    spec: CameraSpec
    restart_token: Id = Field(default_factory=new_id)
    correlation_id: Id | None = None
    trace_context: dict[str, str] = Field(default_factory=dict)
    updated_at: UtcDatetime = Field(default_factory=utcnow)


class CameraLease(WireModel):
    """Who holds a camera (:attr:`Buckets.LEASES`): ``workerId`` since ``acquiredAt``;
    ``epoch`` is the KV revision of the lease's creation (strictly larger for every later
    owner), carried on every status event and alert of the holder."""

    worker_id: Name
    epoch: int = Field(ge=1)
    acquired_at: UtcDatetime = Field(default_factory=utcnow)


__all__ = [
    "LIVE_SESSION_TTL_S",
    "MSG_ID_HEADER",
    "Buckets",
    "CameraAssignment",
    "CameraLease",
    "DurableStream",
    "LiveSessionClaim",
    "PrincipalSessions",
    "Streams",
    "WorkerHeartbeat",
    "camera_key",
    "camera_of_key",
    "durable_consumer",
    "durable_stream_of",
    "principal_key",
]
