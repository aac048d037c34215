"""The settings tree: every variable keeps its name, and every out-of-range value is refused
with one line naming the variable (the bounds are read from the models, not listed here)."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

import annotated_types
import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from beholder.config import (
    SECTIONS,
    AuditSettings,
    BusSettings,
    CameraSettings,
    ClusterSettings,
    DegradationSettings,
    HubSettings,
    LiveViewSettings,
    NvrSettings,
    RelaySettings,
    Settings,
    SettingsError,
    TlsSettings,
    WorkerSettings,
    env_variables,
    load_settings,
)

# The variables of the flat Settings before the tree (README documents them): none may change
# (new ones are added here).
PREVIOUS_NAMES = {
    *(
        f"BEHOLDER_{n}"
        for n in [
            "ACCESS_TOKEN_TTL",
            "ADMIN_PASSWORD",
            "ALERT_REPLAY_LIMIT",
            "AUTH_RECHECK_INTERVAL",
            "BUS_URL",
            "BUS_USER",
            "BUS_PASSWORD",
            "BUS_TOKEN",
            "BUS_NKEY_SEED_FILE",
            "BUS_CREDS_FILE",
            "BUS_TLS_CA_FILE",
            "BUS_TLS_CERT_FILE",
            "BUS_TLS_KEY_FILE",
            "CAMERA_NETWORKS",
            "CORS_ORIGINS",
            "DATABASE_URL",
            "DATA_DIR",
            "DB_MAX_OVERFLOW",
            "DB_POOL_SIZE",
            "DB_POOL_TIMEOUT",
            "EGRESS_GOP_CACHE_BYTES",
            "EGRESS_VIEWER_QUEUE",
            "HEALTH_INTERVAL",
            "HOST",
            "LOG_FORMAT",
            "LOG_LEVEL",
            "MAX_REQUEST_BYTES",
            "METRICS_ALLOW",
            "METRICS_TOKEN",
            "MJPEG_CLIENT_QUEUE",
            "MJPEG_IDLE_TIMEOUT",
            "MJPEG_KEEPALIVE",
            "MJPEG_MAX_FPS",
            "MJPEG_MAX_WIDTH",
            "MJPEG_QUALITY",
            "LOGIN_BACKOFF_INITIAL",  # issue 9: login back-off after wrong passwords
            "LOGIN_BACKOFF_MAX",
            "LOGIN_FAILURES_ALLOWED",
            "LOGIN_FAILURE_WINDOW",
            "PORT",
            "RATE_LIMIT_LOGIN",
            "RATE_LIMIT_REFRESH",  # issue 9: refresh limited per address and per user
            "RATE_LIMIT_PER_IP",
            "RATE_LIMIT_PER_PRINCIPAL",
            "RATE_LIMIT_STORAGE_URL",  # issue 12: limits counted cluster-wide in Redis
            "RATE_LIMIT_KEY_PREFIX",
            "REFRESH_TOKEN_TTL",
            "RUN_WORKER",
            "SECRET_KEY",
            "SNAPSHOT_RETENTION_COUNT",
            "SNAPSHOT_RETENTION_DAYS",
            "TRANSCODE_BITRATE",
            "TRANSCODE_GOP_SECONDS",
            "TRANSCODE_MAX_FPS",
            "TRANSCODE_MAX_HEIGHT",
            "TRANSCODE_MAX_WIDTH",
            "WEBRTC_CONNECT_TIMEOUT",
            "WEBRTC_HOSTS",
            "WEBRTC_ICE_SERVERS",
            "WEBRTC_IDLE_TIMEOUT",
            "WEBRTC_MAX_SESSIONS_PER_PRINCIPAL",
            "WEBRTC_MAX_VIEWERS",
            "WEBRTC_MAX_VIEWERS_PER_CAMERA",
            "WEBRTC_PEER_NETWORKS",
            "WEBRTC_RESTART_GRACE",
            "WEBRTC_SIGNAL_TIMEOUT",
            "WEBRTC_TURN_PASSWORD",
            "WEBRTC_TURN_USERNAME",
            "WS_AUTH_TIMEOUT",
            "WS_BACKLOG_BYTES",
            "WS_MAX_MESSAGE_BYTES",
            "WS_MISSED_PONGS",
            "WS_PING_INTERVAL",
            "WS_REPLAY_RATE",
            "WS_SEND_QUEUE",
            "WS_UNAUTHENTICATED_PER_CLIENT",
        ]
    ),
    *(
        f"BEHOLDER_RELAY_{n}"
        for n in [
            "AUTH_TIMEOUT",
            "PING_INTERVAL",
            "MISSED_PONGS",
            "MAX_FRAME_BYTES",
            "CONSUMER_QUEUE_BYTES",
            "MAX_METADATA_BYTES",
            "MAX_STREAMS_PER_PRINCIPAL",
            "ALERTS_PER_MINUTE",
            "MAX_CONNECTIONS_PER_PRINCIPAL",
            "DETECT_FPS",
        ]
    ),
    *(
        f"BEHOLDER_NVR_{n}"
        for n in [
            "HEARTBEAT_SECONDS",
            "MISSED_HEARTBEATS",
            "AUTH_TIMEOUT",
            "PING_INTERVAL",
            "ALERT_DEDUPE_SECONDS",
            "CRITICAL_CAMERAS",
            "MEDIUM_AFTER",
            "HIGH_AFTER",
            "STATS_DEBOUNCE",
            "CAMERA_ALERTS",
        ]
    ),
    *(f"BEHOLDER_TLS_{n}" for n in ["MODE", "CERT", "KEY", "REDIRECT_PORT"]),  # issue 14
    "BEHOLDER_TRUSTED_PROXIES",  # issue 12: the api instances behind a load balancer
    *(f"BEHOLDER_AUDIT_{n}" for n in ["RETENTION_DAYS", "PURGE_INTERVAL"]),  # issue 14
    *(
        f"BEHOLDER_DEGRADATION_{n}"  # issue 14 item 8
        for n in [
            "ALERT_QUEUE_MAX",
            "ALERT_QUEUE_MAX_BYTES",
            "RETRY_INITIAL",
            "RETRY_MAX",
            "FLUSH_ON_STOP",
        ]
    ),
    *(
        f"BEHOLDER_CLUSTER_{n}"  # issue 12
        for n in [
            "LEASE_TTL",
            "LEASE_RENEW_INTERVAL",
            "REGISTRY_TTL",
            "PLACEMENT_INTERVAL",
            "REBALANCE_MOVES_PER_MINUTE",
            "WORKER_SETTLE_TIME",
            "STREAM_MAX_AGE",
            "STREAM_MAX_BYTES",
            "STREAM_REPLICAS",
            "DUPLICATE_WINDOW",
            "ACK_WAIT",
            "MAX_DELIVER",
            "MAX_ACK_PENDING",
            "CONSUMER_CONCURRENCY",
            "OUTBOX_MAX_MESSAGES",
        ]
    ),
    *(
        f"BEHOLDER_WORKER_{n}"
        for n in [
            "ALERT_COOLDOWN",
            "ANALYZEDURATION",
            "BACKOFF_INITIAL",
            "BACKOFF_MAX",
            "DETECTOR",
            "DETECTOR_THRESHOLD",
            "DETECT_ISOLATION",
            "DETECT_MAX_SIDE",
            "DETECT_RECYCLE_CALLS",
            "DETECT_RECYCLE_RSS_MB",
            "DETECT_THREADS",
            "HEARTBEAT_INTERVAL",
            "MAX_DECODE_ERRORS",
            "METRICS_HOST",
            "METRICS_PORT",
            "MOTION_GATE",
            "MOTION_MIN_AREA",
            "MOTION_REFRESH",
            "MOTION_THRESHOLD",
            "OPEN_TIMEOUT",
            "PROBESIZE",
            "PROBE_CONCURRENCY",
            "PROBE_INTERVAL",
            "SAMPLE_FPS",
            "SNAPSHOT_CACHE",
            "STALL_TIMEOUT",
            "STATS_INTERVAL",
            "STOP_TIMEOUT",
        ]
    ),
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("BEHOLDER_"):
            monkeypatch.delenv(key)


def _number(value: Any, delta: float) -> str:
    out = value + delta
    return str(int(out)) if float(out).is_integer() and isinstance(value, int) else str(out)


def _bad_values(info: FieldInfo) -> list[tuple[str, str]]:
    """``(value, kind)`` that violate the field's own constraints or type choices."""
    bad: list[tuple[str, str]] = []
    for c in info.metadata:
        if isinstance(c, annotated_types.Gt):
            bad.append((_number(c.gt, 0), "greater than"))
        elif isinstance(c, annotated_types.Ge):
            bad.append((_number(c.ge, -1), "greater than or equal"))
        elif isinstance(c, annotated_types.Lt):
            bad.append((_number(c.lt, 0), "less than"))
        elif isinstance(c, annotated_types.Le):
            bad.append((_number(c.le, 1), "less than or equal"))
    annotation = info.annotation
    if typing.get_origin(annotation) is Literal:
        bad.append(("no-such-choice", "Input should be"))
    elif annotation is bool:
        bad.append(("maybe", "valid boolean"))
    elif annotation in (int, float) or (
        isinstance(annotation, types.UnionType) and set(typing.get_args(annotation)) & {int, float}
    ):
        bad.append(("not-a-number", "valid"))
    return bad


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for variable, model, field in env_variables():
        for value, kind in _bad_values(model.model_fields[field]):
            cases.append((variable, value, kind))
    return cases


CASES = _cases()
CASE_IDS = [f"{variable}={value}" for variable, value, _ in CASES]


def test_every_variable_keeps_its_name() -> None:
    names = [name for name, _, _ in env_variables()]
    assert len(names) == len(set(names)), "two fields read the same variable"
    assert set(names) == PREVIOUS_NAMES


def test_the_tree_has_one_section_per_part() -> None:
    s = Settings()
    assert isinstance(s.worker, WorkerSettings)
    assert isinstance(s.live_view, LiveViewSettings)
    assert isinstance(s.hub, HubSettings)
    assert isinstance(s.camera, CameraSettings)
    assert isinstance(s.bus, BusSettings)
    assert isinstance(s.relay, RelaySettings)
    assert isinstance(s.nvr, NvrSettings)
    assert set(SECTIONS) == {
        Settings,
        WorkerSettings,
        LiveViewSettings,
        HubSettings,
        CameraSettings,
        BusSettings,
        RelaySettings,
        NvrSettings,
        TlsSettings,
        AuditSettings,
        DegradationSettings,
        ClusterSettings,
    }


def test_every_constrained_setting_is_covered() -> None:
    constrained = {
        var
        for var, model, field in env_variables()
        if any(
            isinstance(
                c, annotated_types.Gt | annotated_types.Ge | annotated_types.Lt | annotated_types.Le
            )
            for c in model.model_fields[field].metadata
        )
    }
    covered = {var for var, _, _ in CASES}
    assert constrained <= covered
    # The introspection found what we know is there (guards against an empty walk).
    assert len(constrained) >= 55
    assert {"BEHOLDER_WORKER_SAMPLE_FPS", "BEHOLDER_WEBRTC_MAX_VIEWERS", "BEHOLDER_PORT"} <= (
        constrained
    )


@pytest.mark.parametrize(("variable", "value", "kind"), CASES, ids=CASE_IDS)
def test_out_of_range_value_fails_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, kind: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    lines = str(err.value).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"invalid setting {variable}={value}: "), lines[0]
    assert kind in lines[0]


def test_the_message_gives_the_bound() -> None:
    import os

    os.environ["BEHOLDER_WORKER_SAMPLE_FPS"] = "0"
    try:
        with pytest.raises(SettingsError) as err:
            load_settings()
    finally:
        del os.environ["BEHOLDER_WORKER_SAMPLE_FPS"]
    assert str(err.value) == (
        "invalid setting BEHOLDER_WORKER_SAMPLE_FPS=0: Input should be greater than 0"
    )


def test_a_section_given_as_a_value_is_named_by_its_variable() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(live_view={"mjpeg_quality": 99})
    assert str(err.value).startswith("invalid setting BEHOLDER_MJPEG_QUALITY=99: ")


def test_a_stale_flat_name_is_refused_not_ignored() -> None:
    with pytest.raises(SettingsError, match="BEHOLDER_WORKER_SAMPLE_FPS=1"):
        load_settings(worker_sample_fps=1)


def test_several_bad_variables_give_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEHOLDER_PORT", "0")
    monkeypatch.setenv("BEHOLDER_WS_MISSED_PONGS", "0")
    monkeypatch.setenv("BEHOLDER_WORKER_DETECTOR", "cnn")
    monkeypatch.setenv("BEHOLDER_HEALTH_INTERVAL", "-1")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert sorted(line.split("=")[0] for line in str(err.value).splitlines()) == [
        "invalid setting BEHOLDER_HEALTH_INTERVAL",
        "invalid setting BEHOLDER_PORT",
        "invalid setting BEHOLDER_WORKER_DETECTOR",
        "invalid setting BEHOLDER_WS_MISSED_PONGS",
    ]


def test_sub_models_are_frozen() -> None:
    ws = WorkerSettings()
    with pytest.raises(ValueError):
        ws.sample_fps = 5.0  # type: ignore[misc]
    assert isinstance(ws, BaseModel)


def test_bus_credentials_are_checked_and_never_echoed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("BEHOLDER_BUS_URL", "nats://10.0.0.5:4222")
    monkeypatch.setenv("BEHOLDER_BUS_PASSWORD", "hunter2-bus-secret")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value) == (
        "invalid setting BEHOLDER_BUS_PASSWORD=<hidden>: "
        "BEHOLDER_BUS_PASSWORD needs BEHOLDER_BUS_USER"
    )
    monkeypatch.setenv("BEHOLDER_BUS_USER", "beholder")
    monkeypatch.setenv("BEHOLDER_BUS_TOKEN", "tok-secret-value")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "BEHOLDER_BUS_USER, BEHOLDER_BUS_TOKEN" in str(err.value)
    assert "secret" not in str(err.value).replace("<hidden>", "")
    monkeypatch.delenv("BEHOLDER_BUS_TOKEN")
    settings = load_settings()
    assert settings.bus.url == "nats://10.0.0.5:4222" and settings.bus.authenticated
    assert "hunter2" not in repr(settings) and "hunter2" not in repr(settings.bus)
    monkeypatch.setenv("BEHOLDER_BUS_TLS_CA_FILE", str(tmp_path / "missing-ca.pem"))
    with pytest.raises(SettingsError, match=r"^invalid setting BEHOLDER_BUS_TLS_CA_FILE="):
        load_settings()
    monkeypatch.delenv("BEHOLDER_BUS_TLS_CA_FILE")
    monkeypatch.setenv("BEHOLDER_BUS_URL", "redis://x")
    with pytest.raises(SettingsError, match=r"^invalid setting BEHOLDER_BUS_URL=redis://x: "):
        load_settings()


def test_credentials_in_a_bad_bus_url_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEHOLDER_BUS_URL", "redis://beholder:s3cret-pass@10.0.0.5:6379")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value).startswith("invalid setting BEHOLDER_BUS_URL=redis://***@10.0.0.5:6379:")
    assert "s3cret" not in str(err.value)


def test_the_bus_url_may_list_the_servers_of_a_nats_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "BEHOLDER_BUS_URL", "nats://10.0.0.5:4222, nats://10.0.0.6:4222 ,tls://n3:4222"
    )
    bus = load_settings().bus
    assert bus.servers == ["nats://10.0.0.5:4222", "nats://10.0.0.6:4222", "tls://n3:4222"]
    assert not bus.authenticated
    monkeypatch.setenv("BEHOLDER_BUS_URL", "nats://u:pw@10.0.0.5:4222,nats://u:pw@10.0.0.6:4222")
    assert load_settings().bus.authenticated
    monkeypatch.setenv("BEHOLDER_BUS_URL", "nats://u:s3cret-pass@10.0.0.5:4222,memory://")
    with pytest.raises(SettingsError, match="nats:// or tls:// URLs only") as err:
        load_settings()
    assert "s3cret" not in str(err.value)


def test_trusted_proxies_are_addresses_or_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEHOLDER_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,fd00::/8")
    assert load_settings().trusted_proxies == ["127.0.0.1", "10.0.0.0/8", "fd00::/8"]
    monkeypatch.setenv("BEHOLDER_TRUSTED_PROXIES", "*")
    with pytest.raises(SettingsError, match="IP addresses or networks, not '\\*'"):
        load_settings()
