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
  credentials and TLS files of distributed mode.

Every value is defined once, here, with its bounds; :func:`load_settings` turns a value out of
bounds into a :class:`SettingsError` naming the variable. A keyword argument that names no
field is refused (``extra="forbid"``: a stale name fails loudly instead of being ignored);
unknown ``BEHOLDER_*`` variables are ignored. Embedded defaults make ``beholder
serve`` work on a fresh machine: SQLite in ``./data``, the in-memory bus and one in-process
worker. Distributed mode is the same code with ``BEHOLDER_DATABASE_URL`` (PostgreSQL) and
``BEHOLDER_BUS_URL`` (NATS, with its ``BEHOLDER_BUS_*`` credentials) set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from limits import parse as parse_rate
from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from beholder.camera_networks import DEFAULT_NETWORKS, NetworkPolicy, parse_networks
from beholder.password_policy import check_password, check_secret_key


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


StrList = Annotated[list[str], NoDecode, BeforeValidator(_split_list)]
"""A list setting given in the environment as JSON (``["a","b"]``) or comma-separated."""
StrTuple = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_list)]
"""Like :data:`StrList`, immutable (for the frozen sub-models)."""


class WorkerSettings(BaseSettings):
    """Camera worker tunables, ``BEHOLDER_WORKER_<NAME>``. Durations in seconds."""

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_WORKER_",
        env_file=None,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    sample_fps: float = Field(default=2.0, gt=0, description="detection samples/s")
    stall_timeout: float = Field(default=10.0, gt=0, description="no packet for N s")
    open_timeout: float = Field(default=10.0, gt=0)
    backoff_initial: float = Field(default=1.0, gt=0)
    backoff_max: float = Field(default=30.0, gt=0)
    stats_interval: float = Field(default=5.0, gt=0)
    stop_timeout: float = Field(default=2.0, gt=0)
    heartbeat_interval: float = Field(
        default=5.0, gt=0, description="worker heartbeat period; the api's liveness grace"
    )
    detect_threads: int = Field(default=0, ge=0, description="0: one per CPU")
    detector: Literal["yunet", "haar"] = "yunet"
    detector_threshold: float | None = Field(default=None, ge=0, le=1)
    alert_cooldown: float = Field(default=10.0, ge=0)
    detect_max_side: int = Field(default=640, ge=64)
    detect_isolation: Literal["process", "thread"] = Field(
        default="process",
        description="run detectors in child processes (a native fault or leak stays there)",
    )
    detect_recycle_calls: int = Field(
        default=20000, ge=0, description="replace a detector process after N calls (0: never)"
    )
    detect_recycle_rss_mb: int = Field(
        default=512, ge=0, description="replace a detector process above this RSS (0: never)"
    )
    motion_gate: bool = Field(
        default=True, description="skip the detector on static scenes, look where things move"
    )
    motion_threshold: int = Field(
        default=20, ge=1, le=254, description="grey levels a pixel must change to count"
    )
    motion_min_area: float = Field(
        default=0.001, ge=0, lt=0.6, description="fraction of the picture that must change"
    )
    motion_refresh: float = Field(
        default=30.0, ge=0, description="analyse a whole frame at least every N s (0: never)"
    )
    probe_interval: float = Field(
        default=1.0, gt=0, le=30, description="while a camera is down, probe it every N s"
    )
    probe_concurrency: int = Field(
        default=16, ge=1, description="probes in flight at once across cameras"
    )
    snapshot_cache: float = Field(default=1.0, ge=0)
    probesize: int = Field(default=262144, ge=32)
    analyzeduration: float = Field(default=1.0, gt=0)
    max_decode_errors: int = Field(default=50, ge=1)
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="standalone `beholder worker`: serve Prometheus /metrics on this port",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="bind address of the worker's metrics endpoint"
    )


class LiveViewSettings(BaseSettings):
    """Live view (WHEP/WebRTC and MJPEG egress), ``BEHOLDER_<NAME>`` with the full field name.

    Read by the worker's egress and by the api's live-view routes. Durations are seconds,
    sizes bytes or pixels, rates frames/s.
    """

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_", env_file=None, extra="forbid", validate_default=True, frozen=True
    )

    # ICE
    webrtc_hosts: StrTuple = Field(
        default=(),
        description="addresses offered as ICE host candidates; () = every interface except "
        "loopback (aioice's own choice); tests set 127.0.0.1",
    )
    webrtc_peer_networks: StrTuple = Field(
        default=(),
        description="CIDRs a remote candidate must fall in; () = the networks of the host "
        "addresses in use (everything when STUN/TURN servers are configured)",
    )
    webrtc_ice_servers: StrTuple = Field(
        default=(), description="stun:host:port / turn:host:port?transport=udp URLs; none"
    )
    webrtc_turn_username: str | None = None
    webrtc_turn_password: str | None = None

    # limits and lifecycle
    webrtc_max_viewers_per_camera: int = Field(default=16, ge=1)
    webrtc_max_viewers: int = Field(default=64, ge=1)
    webrtc_max_sessions_per_principal: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="WHEP sessions one user or API key may hold at once on a worker (a new "
        "offer over it answers 429); a session stops counting as soon as it is closed",
    )
    webrtc_signal_timeout: float = Field(
        default=10.0, gt=0, description="how long the api waits for the worker's WHEP answer"
    )
    webrtc_connect_timeout: float = Field(
        default=20.0, gt=0, description="close a session not connected after this long"
    )
    webrtc_idle_timeout: float = Field(
        default=15.0, gt=0, description="close a session with no RTCP receiver report this long"
    )
    webrtc_restart_grace: float = Field(
        default=3.0,
        ge=0,
        description="viewers wait this long for a new session of their camera (a RESTART) "
        "before they are closed (a STOP)",
    )

    # fan-out
    egress_gop_cache_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=0,
        description="bound of the per-camera GOP cache; a longer GOP disables it until the "
        "next keyframe",
    )
    egress_viewer_queue: int = Field(
        default=90, ge=1, description="frames queued per viewer before it skips to a keyframe"
    )

    # transcode (sources a browser cannot take as-is)
    transcode_max_width: int = Field(default=1280, ge=16)
    transcode_max_height: int = Field(default=720, ge=16)
    transcode_max_fps: float = Field(default=15.0, gt=0)
    transcode_bitrate: int = Field(default=1_500_000, ge=10_000)
    transcode_gop_seconds: float = Field(default=1.0, gt=0)

    # MJPEG fallback
    mjpeg_max_fps: float = Field(default=5.0, gt=0)
    mjpeg_max_width: int = Field(default=640, ge=16)
    mjpeg_quality: int = Field(default=7, ge=1, le=31, description="FFmpeg qscale, lower=better")
    mjpeg_keepalive: float = Field(
        default=2.0, gt=0, description="how often the api renews its interest in a stream"
    )
    mjpeg_idle_timeout: float = Field(
        default=6.0, gt=0, description="the worker stops encoding after this long unrenewed"
    )
    mjpeg_client_queue: int = Field(default=2, ge=1)


class HubSettings(BaseSettings):
    """The dashboard hub ``/ws``, ``BEHOLDER_<NAME>`` with the full field name."""

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_", env_file=None, extra="forbid", validate_default=True, frozen=True
    )

    ws_ping_interval: float = Field(default=20.0, gt=0)
    ws_missed_pongs: int = Field(default=2, ge=1)
    ws_auth_timeout: float = Field(default=10.0, gt=0)
    ws_send_queue: int = Field(
        default=256, ge=1, le=65536, description="live messages queued per connection"
    )
    ws_backlog_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=64 * 1024,
        le=256 * 1024 * 1024,
        description="bytes of frames a connection may have waiting to be sent (replies and "
        "replayed alerts included, the socket's own write buffer too); over it the "
        "connection is closed with 1013. The default holds a full alert replay (500 alerts "
        "with their few-KB thumbnails) for a client that has not read any of it yet",
    )
    ws_replay_rate: str = Field(
        default="6/minute",
        description="alert replays a connection may ask for (limits notation, moving "
        "window, e.g. 6/minute); more get an error message RATE_LIMIT_EXCEEDED, no replay",
    )
    ws_unauthenticated_per_client: int = Field(
        default=8,
        ge=1,
        le=10000,
        description="connections one client address may hold before authenticating; more "
        "are refused with HTTP 429 before the upgrade",
    )
    ws_max_message_bytes: int = Field(default=65536, ge=256)
    alert_replay_limit: int = Field(
        default=500, ge=1, description="alerts sent at most to a client that reconnects"
    )

    @field_validator("ws_replay_rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        # Refused at start-up, not at the first replay: "<n>/<period>" with n >= 1.
        try:
            item = parse_rate(value)
        except ValueError:
            raise ValueError("must be a rate such as 6/minute") from None
        if item.amount < 1:
            raise ValueError("must allow at least one replay")
        return value


class CameraSettings(BaseSettings):
    """Camera connections, ``BEHOLDER_CAMERA_<NAME>`` (see :mod:`beholder.camera_networks`)."""

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_CAMERA_",
        env_file=None,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    networks: StrTuple = Field(
        default=DEFAULT_NETWORKS,
        min_length=1,
        max_length=256,
        description="CIDRs and the keywords `private` and `public` camera URLs may point into",
    )

    @field_validator("networks")
    @classmethod
    def _cidrs(cls, entries: tuple[str, ...]) -> tuple[str, ...]:
        return parse_networks(entries)

    @cached_property
    def policy(self) -> NetworkPolicy:
        """The parsed allow-list (what the api and the worker check against)."""
        return NetworkPolicy.from_entries(self.networks)


class BusSettings(BaseSettings):
    """The bus, ``BEHOLDER_BUS_<NAME>``: where it is and, for NATS, how to authenticate.

    ``url``: ``memory://`` (one process) or ``nats://host:4222`` / ``tls://host:4222``.
    Credentials, one kind at most: ``user`` + ``password``, ``token``, an nkey seed file, or a
    ``.creds`` file (JWT + nkey seed, NATS decentralised auth). TLS: ``tls_ca_file`` verifies
    the server (enables TLS on a ``nats://`` URL), ``tls_cert_file`` + ``tls_key_file`` are
    the client certificate when the server asks for one. Files must exist at start-up.
    Secrets are :class:`~pydantic.SecretStr` (never printed by ``repr`` or in an error line).
    """

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_BUS_",
        env_file=None,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    url: str = Field(
        default="memory://",
        pattern=r"^(memory|nats|tls)://",
        description="memory:// or nats://host:4222 (tls://host:4222 for TLS)",
    )
    user: str | None = Field(default=None, min_length=1, description="NATS user name")
    password: SecretStr | None = Field(default=None, description="NATS password (with user)")
    token: SecretStr | None = Field(default=None, description="NATS authentication token")
    nkey_seed_file: FilePath | None = Field(
        default=None, description="file holding the NATS nkey seed (SU...)"
    )
    creds_file: FilePath | None = Field(
        default=None, description="NATS .creds file (user JWT and nkey seed)"
    )
    tls_ca_file: FilePath | None = Field(
        default=None, description="CA bundle that signs the NATS server's certificate"
    )
    tls_cert_file: FilePath | None = Field(default=None, description="client certificate (PEM)")
    tls_key_file: FilePath | None = Field(default=None, description="client private key (PEM)")

    @field_validator("password")
    @classmethod
    def _password_needs_user(cls, value: SecretStr | None, info: ValidationInfo) -> Any:
        if value is not None and not info.data.get("user"):
            raise ValueError("BEHOLDER_BUS_PASSWORD needs BEHOLDER_BUS_USER")
        return value

    @field_validator("creds_file")
    @classmethod
    def _one_kind_of_credentials(cls, value: Path | None, info: ValidationInfo) -> Any:
        given = [
            name
            for name, present in (
                ("USER", info.data.get("user") is not None),
                ("TOKEN", info.data.get("token") is not None),
                ("NKEY_SEED_FILE", info.data.get("nkey_seed_file") is not None),
                ("CREDS_FILE", value is not None),
            )
            if present
        ]
        if len(given) > 1:
            names = ", ".join(f"BEHOLDER_BUS_{n}" for n in given)
            raise ValueError(f"set one kind of bus credentials, not {names}")
        return value

    @field_validator("tls_key_file")
    @classmethod
    def _cert_and_key_together(cls, value: Path | None, info: ValidationInfo) -> Any:
        if (value is None) != (info.data.get("tls_cert_file") is None):
            raise ValueError("BEHOLDER_BUS_TLS_CERT_FILE and BEHOLDER_BUS_TLS_KEY_FILE go together")
        return value

    @property
    def authenticated(self) -> bool:
        """True when credentials are configured (here, as ``user:pass@`` in the URL, or a
        client certificate)."""
        in_url = "@" in self.url.split("://", 1)[-1]
        given = (self.user, self.token, self.nkey_seed_file, self.creds_file, self.tls_cert_file)
        return in_url or any(v is not None for v in given)


class Settings(BaseSettings):
    """All tunables of Beholder. Durations are seconds unless the name says otherwise."""

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_", env_file=None, extra="forbid", validate_default=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite:///<data_dir>/beholder.db",
    )
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout: float = Field(default=5.0, gt=0)
    admin_password: str | None = Field(
        default=None,
        description="first admin's password (password policy: 12+ characters, not common)",
    )
    secret_key: str | None = Field(
        default=None,
        description="JWT signing secret, 32+ bytes; generated into the data dir if unset",
    )

    # auth
    access_token_ttl: int = Field(default=900, ge=30)
    refresh_token_ttl: int = Field(default=7 * 24 * 3600, ge=60)
    auth_recheck_interval: float = Field(
        default=30.0,
        ge=0.1,
        le=300.0,
        description="re-check the principal of every open socket, MJPEG stream and WHEP "
        "session this often (s): catches a disable or revoke made without the bus (the CLI)",
    )

    # edges
    cors_origins: StrList = Field(default_factory=list)
    rate_limit_per_ip: str = "600/minute"
    rate_limit_per_principal: str = "1200/minute"
    rate_limit_login: str = Field(
        default="10/minute", description="login attempts per client address"
    )
    rate_limit_refresh: str = Field(
        default="30/minute",
        description="token refreshes per client address, and per token subject (user)",
    )
    login_failures_allowed: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="wrong passwords per (address, username) before the back-off starts",
    )
    login_backoff_initial: float = Field(
        default=1.0, gt=0, le=3600, description="first back-off after the allowed failures, s"
    )
    login_backoff_max: float = Field(
        default=900.0, gt=0, le=86400, description="the back-off doubles per failure up to this, s"
    )
    login_failure_window: float = Field(
        default=3600.0,
        gt=0,
        le=7 * 86400,
        description="failures are forgotten this long after the first one (or on success), s",
    )
    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    metrics_token: str | None = Field(
        default=None, description="bearer token accepted on /metrics in addition to admin auth"
    )
    metrics_allow: StrList = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="client networks allowed to read /metrics without credentials",
    )

    # health and alert snapshots
    health_interval: float = Field(default=10.0, gt=0)
    snapshot_retention_count: int = Field(default=5000, ge=1)
    snapshot_retention_days: float = Field(default=30.0, gt=0)

    # roles run by `serve`
    run_worker: bool = True
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    # parts of the code, each given its own sub-model (each reads its own variables)
    worker: WorkerSettings = Field(default_factory=lambda: WorkerSettings())
    live_view: LiveViewSettings = Field(default_factory=lambda: LiveViewSettings())
    hub: HubSettings = Field(default_factory=lambda: HubSettings())
    camera: CameraSettings = Field(default_factory=lambda: CameraSettings())
    bus: BusSettings = Field(default_factory=lambda: BusSettings())

    @field_validator("admin_password")
    @classmethod
    def _admin_password_policy(cls, password: str | None) -> str | None:
        return None if password is None else check_password(password)

    @field_validator("secret_key")
    @classmethod
    def _secret_key_length(cls, secret: str | None) -> str | None:
        return None if secret is None else check_secret_key(secret)

    @field_validator(
        "rate_limit_per_ip", "rate_limit_per_principal", "rate_limit_login", "rate_limit_refresh"
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        # "N/second|minute|hour|day" (limits' notation); refused at start-up, not first use.
        try:
            parse_rate(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '10/minute': {exc}") from exc
        return value

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, origins: list[str]) -> list[str]:
        # Credentials are sent by the web app; a wildcard with credentials is unsafe.
        if "*" in origins:
            raise ValueError("BEHOLDER_CORS_ORIGINS must list origins; '*' is not allowed")
        return origins

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL in force (explicit setting or SQLite under the data dir)."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'beholder.db').resolve()}"

    @property
    def snapshot_dir(self) -> Path:
        """Directory that holds alert snapshots (JPEG files named by alert id)."""
        return self.data_dir / "snapshots"

    @property
    def secret_file(self) -> Path:
        """Where the generated JWT signing secret lives (mode 600)."""
        return self.data_dir / "secret.key"


SECTIONS: tuple[type[BaseSettings], ...] = (
    Settings,
    WorkerSettings,
    LiveViewSettings,
    HubSettings,
    CameraSettings,
    BusSettings,
)
"""Every model of the tree; each field that is not itself a section is one variable."""

_SECRET_SUFFIXES = ("password", "secret_key", "token")  # values never echoed back
_USERINFO = re.compile(r"//[^/@\s]*@")


def env_name(model: type[BaseModel], field: str) -> str:
    """The environment variable that sets ``model.field`` (e.g. ``BEHOLDER_WORKER_SAMPLE_FPS``)."""
    prefix = str(model.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def env_variables() -> Iterator[tuple[str, type[BaseModel], str]]:
    """``(variable, model, field)`` for every setting of the tree, sections excluded."""
    for model in SECTIONS:
        for field, info in model.model_fields.items():
            if info.annotation in SECTIONS:
                continue
            yield env_name(model, field), model, field


class SettingsError(ValueError):
    """A setting is out of bounds or malformed. ``str()`` is one line per bad variable:
    ``invalid setting BEHOLDER_X=<value>: <reason>`` (secrets are not echoed)."""


def _describe(exc: ValidationError) -> str:
    by_title = {model.__name__: model for model in SECTIONS}
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        model: type[BaseModel] = by_title.get(exc.title, Settings)
        loc = [str(part) for part in err["loc"]]
        # Walk into a section given as a value (``Settings(worker={...})``).
        while len(loc) > 1:
            annotation = model.model_fields.get(loc[0])
            nested = annotation.annotation if annotation is not None else None
            if not (isinstance(nested, type) and issubclass(nested, BaseModel)):
                break
            model, loc = nested, loc[1:]
        field = loc[0] if loc else "?"
        value = err.get("input")
        if field.endswith(_SECRET_SUFFIXES):
            shown = "<hidden>"
        elif isinstance(value, str):
            shown = _USERINFO.sub("//***@", value)  # nats://user:pass@host
        else:
            shown = json.dumps(value, default=str)
        reason = " ".join(str(err["msg"]).split()).removeprefix("Value error, ")
        lines.append(f"invalid setting {env_name(model, field)}={shown}: {reason}")
    return "\n".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides winning (CLI flags).

    Raises :class:`SettingsError` (one line per bad variable) when a value is out of bounds
    or cannot be parsed."""
    clean: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    problems: list[str] = []
    # Each section is read on its own so that one bad section does not hide another's errors.
    for name, info in Settings.model_fields.items():
        section = info.annotation
        if name in clean or not (isinstance(section, type) and issubclass(section, BaseSettings)):
            continue
        try:
            clean[name] = section()
        except (ValidationError, SourceError) as exc:
            problems.append(_problem(exc))
            clean[name] = section.model_construct()  # stand-in: report Settings' own errors too
    try:
        settings = Settings(**clean)
    except (ValidationError, SourceError) as exc:
        problems.append(_problem(exc))
    if problems:
        raise SettingsError("\n".join(problems))
    return settings


def _problem(exc: ValidationError | SourceError) -> str:
    if isinstance(exc, ValidationError):
        return _describe(exc)
    # A variable pydantic-settings could not decode at all (a section given as bad JSON).
    return f"invalid setting: {' '.join(str(exc).split())}"
