"""Settings for every role, read from the environment with the ``BEHOLDER_`` prefix.

One tree: :class:`Settings` holds the process-wide values (where to listen, the data dir,
database, bus, auth, edges) and composes one sub-model per part of the code, each of which
reads its own variables and is handed, alone, to the part that needs it:

* ``settings.worker``: :class:`WorkerSettings` (``BEHOLDER_WORKER_<NAME>``), for the camera
  worker (ingest, sampling, detection, reconnects, heartbeat);
* ``settings.live_view``: :class:`LiveViewSettings` (``BEHOLDER_WEBRTC_*``, ``BEHOLDER_EGRESS_*``,
  ``BEHOLDER_TRANSCODE_*``, ``BEHOLDER_MJPEG_*``), for live view on both sides of the bus;
* ``settings.hub``: :class:`HubSettings` (``BEHOLDER_WS_*``, ``BEHOLDER_ALERT_REPLAY_LIMIT``),
  for the dashboard hub ``/ws``;
* ``settings.camera``: :class:`CameraSettings` (``BEHOLDER_CAMERA_<NAME>``), which networks
  camera URLs may point into, read by the api (create/update) and the worker (connect);
* ``settings.bus``: :class:`BusSettings` (``BEHOLDER_BUS_*``), the bus URL and the NATS
  credentials and TLS files of distributed mode;
* ``settings.relay``: :class:`RelaySettings` (``BEHOLDER_RELAY_*``), the mobile relay
  ``/api/streams/ws`` (timeouts, frame and queue sizes, per-principal limits);
* ``settings.nvr``: :class:`NvrSettings` (``BEHOLDER_NVR_*``), NVR agents, the offline
  cascade, its system alerts and the fleet summary's debounce;
* ``settings.audit``: :class:`AuditSettings` (``BEHOLDER_AUDIT_*``), the audit trail's retention;
* ``settings.tls``: :class:`TlsSettings` (``BEHOLDER_TLS_*``), HTTPS/WSS for ``serve``/``api``
  (own PEM files or a generated self-signed CA) and the plain-HTTP redirect port;
* ``settings.degradation``: :class:`DegradationSettings` (``BEHOLDER_DEGRADATION_*``), the
  bounds of the alert queue kept while the database is unreachable and its retry backoff.
* ``settings.cluster``: :class:`ClusterSettings` (``BEHOLDER_CLUSTER_*``), distributed mode on
  NATS JetStream: durable streams and the api's consumers, camera leases and placement.

Every secret (a :class:`~pydantic.SecretStr` field of any section) also accepts
``BEHOLDER_<NAME>_FILE``, a file holding the value (:mod:`beholder.config.file_values`).

Every value is defined once, in this package (one module per section), with its bounds;
:func:`load_settings` turns a value out of bounds into a :class:`SettingsError` naming the
variable. A keyword argument that names no field is refused (``extra="forbid"``: a stale
name fails loudly instead of being ignored); unknown ``BEHOLDER_*`` variables are ignored.
Embedded defaults make ``beholder serve`` work on a fresh machine: SQLite in ``./data``, the
in-memory bus and one in-process worker. Distributed mode is the same code with
``BEHOLDER_DATABASE_URL`` (PostgreSQL) and ``BEHOLDER_BUS_URL`` (NATS, with its
``BEHOLDER_BUS_*`` credentials) set.
"""

from beholder.config.audit import AuditSettings
from beholder.config.bus import BusSettings
from beholder.config.camera import CameraSettings
from beholder.config.cluster import ClusterSettings
from beholder.config.degradation import DegradationSettings
from beholder.config.file_values import SecretFileError, SecretSettings, reveal, secret_fields
from beholder.config.hub import HubSettings
from beholder.config.live_view import LiveViewSettings
from beholder.config.loading import SettingsError, env_name, env_variables, load_settings
from beholder.config.nvr import NvrSettings
from beholder.config.relay import RelaySettings
from beholder.config.settings import SECTIONS, Settings
from beholder.config.tls import TlsSettings
from beholder.config.types import StrList, StrTuple
from beholder.config.worker import WorkerSettings

__all__ = [
    "SECTIONS",
    "AuditSettings",
    "BusSettings",
    "CameraSettings",
    "ClusterSettings",
    "DegradationSettings",
    "HubSettings",
    "LiveViewSettings",
    "NvrSettings",
    "RelaySettings",
    "SecretFileError",
    "SecretSettings",
    "Settings",
    "SettingsError",
    "StrList",
    "StrTuple",
    "TlsSettings",
    "WorkerSettings",
    "env_name",
    "env_variables",
    "load_settings",
    "reveal",
    "secret_fields",
]
