"""The hub's wire contract: every message type is a member of the one ``HubMessage`` union,
built by its builder, and published in the OpenAPI schema the web app is generated from."""

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ValidationError

from beholder.contracts import hub, nvr
from beholder.contracts.bus import CameraStatus, StreamStats, StreamStatusEvent
from beholder.contracts.resources import AlertOut, CameraOut
from support.ids import cam_id

AT = datetime(2030, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)


def _camera() -> CameraOut:
    return CameraOut(
        id="c1",
        name="Lobby",
        rtsp_url="rtsp://admin:***@10.0.0.7/live",
        location=None,
        nvr_id=None,
        enabled=True,
        face_detection_enabled=True,
        status=CameraStatus.STARTING,
        status_detail=None,
        error_code=None,
        stats=StreamStats(input_fps=12.0),
        created_at=AT,
        updated_at=AT,
    )


def _nvr() -> nvr.NvrOut:
    return nvr.NvrOut(
        id="n1",
        hostname="site-a-nvr",
        device_name="Site A",
        region="north",
        site=None,
        model=None,
        firmware=None,
        status="online",
        last_seen=AT,
        camera_counts=nvr.CameraCounts(total=2, online=1, offline=1, by_status={"OFFLINE": 2}),
        created_at=AT,
        updated_at=AT,
    )


def _summary() -> nvr.SummaryStats:
    return nvr.SummaryStats(
        nvrs=nvr.NvrCounts(total=1, online=1, offline=0),
        cameras=nvr.CameraCounts(total=2, online=1, offline=1),
        regions=[
            nvr.RegionStats(region="north", nvrs=1, nvrs_online=1, cameras=2, cameras_online=1)
        ],
        alerts_by_hour=[
            nvr.AlertHour(hour=AT, by_type={"system-alert": 1}, by_severity={"high": 1}, total=1)
        ],
        alerts_today=1,
        timestamp=AT,
    )


def _alert(kind: str = "face-detection") -> AlertOut:
    return AlertOut.model_validate(
        {
            "id": "a1",
            "cameraId": "c1",
            "streamId": None,
            "type": kind,
            "severity": "medium",
            "message": "1 face detected on Lobby",
            "metadata": {"faces": [{"box": [1, 2, 3, 4], "confidence": 0.9, "trackId": 1}]},
            "thumbnail": None,
            "hasSnapshot": True,
            "createdAt": AT,
            "acknowledgedAt": None,
            "acknowledgedBy": None,
        }
    )


def _health() -> dict[str, object]:
    service = {
        "name": "database",
        "status": "HEALTHY",
        "responseTime": 1.5,
        "lastCheck": "2030-01-01T12:00:00.000Z",
        "responseTimeMs": 1.5,
        "lastChecked": "2030-01-01T12:00:00.000Z",
        "details": {"backend": "sqlite"},
        "critical": True,
    }
    return {
        "overall": "HEALTHY",
        "status": "HEALTHY",
        "ready": True,
        "services": {"database": service},
        "timestamp": "2030-01-01T12:00:00.000Z",
    }


def one_of_each() -> list[BaseModel]:
    """One message of every type, each from its builder."""
    return [
        hub.auth_ok("alice", "operator", None, 20.0),
        hub.subscribed(["cameras", "alerts"]),
        hub.unsubscribed(["alerts"]),
        hub.replayed(3, "a5", False),
        hub.ping(1),
        hub.pong(2),
        hub.error("INVALID_INPUT", "Unknown topics.", ["bogus"]),
        hub.camera_status_update("c1", CameraStatus.PROCESSING, stats=StreamStats()),
        hub.camera_deleted("c1"),
        hub.alert_message(_alert()),
        hub.alert_message(_alert("stream-error")),
        hub.alert_acknowledged("a1", "c1", "alice", AT),
        hub.health_update(_health()),
        hub.camera_stats_update("c1", StreamStats(input_fps=1.0)),
        hub.nvr_connectivity(True, "n1", "site-a-nvr", "Site A", "north", 0),
        hub.nvr_connectivity(False, "n1", "site-a-nvr", None, None, 16),
        hub.nvr_status_update(_nvr()),
        hub.nvr_deleted("n1"),
        hub.summary_updated(_summary()),
        hub.stream_status_update("s1", "streaming", AT, "Pixel 8"),
    ]


def _union_types() -> set[str]:
    schema = hub.openapi_components()["HubMessage"]
    return set(schema["discriminator"]["mapping"])


def test_every_message_type_has_a_builder_and_validates_against_the_union() -> None:
    messages = one_of_each()
    seen = set()
    for message in messages:
        wire = hub.wire(message)
        seen.add(wire["type"])
        back = hub.HUB_MESSAGE.validate_python(wire)
        assert type(back) is type(message), wire["type"]
        assert hub.wire(back) == wire  # the wire form round-trips exactly
    assert seen == _union_types()


def test_a_dict_that_is_no_hub_message_is_refused() -> None:
    with pytest.raises(ValidationError):
        hub.HUB_MESSAGE.validate_python({"type": "dance"})
    with pytest.raises(ValidationError):
        hub.HUB_MESSAGE.validate_python({"type": "camera-status-update", "cameraId": "c1"})


def test_camera_status_update_has_one_shape_from_a_worker_event_and_from_rest() -> None:
    event = StreamStatusEvent(
        camera_id=cam_id("c1"),
        status=CameraStatus.CONNECTING,
        attempt=2,
        stats=StreamStats(input_fps=3.0),
        worker_id="w1",
        correlation_id=cam_id("k1"),
    )
    # the two call sites: api/events.py (worker event) and broadcast_camera (REST change)
    from_worker = hub.wire(
        hub.camera_status_update(
            event.camera_id,
            event.status,
            error_code=event.error_code,
            details=event.details,
            attempt=event.attempt,
            stats=event.stats,
            worker_id=event.worker_id,
            timestamp=event.timestamp,
            correlation_id=event.correlation_id,
        )
    )
    cam = _camera()
    from_rest = hub.wire(
        hub.camera_status_update(
            cam.id,
            cam.status,
            error_code=cam.error_code,
            details=cam.status_detail,
            camera=cam,
            correlation_id="k2",
        )
    )
    assert from_worker.keys() == from_rest.keys()
    assert from_worker["attempt"] == 2 and from_worker["camera"] is None
    assert from_rest["camera"]["rtspUrl"].startswith("rtsp://admin:***@")
    assert from_rest["errorCode"] is None and from_rest["details"] is None
    assert from_worker["timestamp"].endswith("Z")


def test_error_carries_topics_only_when_there_are_some() -> None:
    assert hub.wire(hub.error("UNAUTHORIZED", "Invalid credentials.")) == {
        "type": "error",
        "code": "UNAUTHORIZED",
        "message": "Invalid credentials.",
    }
    assert hub.wire(hub.error("INVALID_INPUT", "Unknown topics.", ["x"]))["topics"] == ["x"]


def test_alert_message_keeps_the_alert_fields_and_moves_its_type() -> None:
    wire = hub.wire(hub.alert_message(_alert()))
    assert wire["type"] == "face-detection-alert" and wire["alertType"] == "face-detection"
    assert wire["createdAt"] == "2030-01-01T12:00:00.123Z"
    assert wire["metadata"]["faces"][0]["box"] == [1, 2, 3, 4]
    rest = _alert().model_dump(mode="json", by_alias=True)
    assert {k: v for k, v in wire.items() if k not in ("type", "alertType")} == {
        k: v for k, v in rest.items() if k != "type"
    }
    assert hub.wire(hub.alert_message(_alert("stream-error")))["type"] == "alert"


def test_the_union_is_published_in_the_openapi_schema(tmp_path: object) -> None:
    from beholder.api.app import create_app
    from beholder.config import Settings

    schema = create_app(Settings(data_dir=str(tmp_path))).openapi()
    comps = schema["components"]["schemas"]
    assert set(comps["HubMessage"]["discriminator"]["mapping"]) == _union_types()
    for ref in comps["HubMessage"]["oneOf"]:
        assert ref["$ref"].removeprefix("#/components/schemas/") in comps
    stats = comps["CameraOut"]["properties"]["stats"]
    assert {"$ref": "#/components/schemas/StreamStats"} in stats["anyOf"]
    assert {"overall", "status", "services", "timestamp"} <= set(comps["HealthOut"]["required"])
