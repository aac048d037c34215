"""The mobile relay's contract (issue 10): the binary frame codec, the message unions, the
stream metadata bounds, the relay settings and the bus payloads that carry stream ids."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from beholder.config import RelaySettings, Settings
from beholder.config.settings import SECTIONS
from beholder.contracts import relay
from beholder.contracts.bus import FaceDetectionAlert, StreamDetectionCommand
from beholder.contracts.relay_frame import (
    HEADER_SIZE,
    FrameError,
    decode_frame,
    encode_frame,
    looks_like_jpeg,
)
from beholder.contracts.resources import AlertOut, StreamMetadata
from beholder.contracts.subjects import (
    Subjects,
    relay_alerts_subject,
    relay_control_subject,
    relay_frames_subject,
)
from beholder.contracts.wire import utcnow
from beholder.errors import ErrorCode

SID = str(uuid.uuid4())
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100 + b"\xff\xd9"


# -- binary frame -----------------------------------------------------------------------------


def test_frame_round_trip_and_layout() -> None:
    data = encode_frame(SID, 1_700_000_000_123, JPEG)
    assert len(data) == HEADER_SIZE + len(JPEG) == 28 + len(JPEG)
    assert data[0] == 1 and data[1] == 1 and data[2:4] == b"\x00\x00"
    assert data[4:20] == uuid.UUID(SID).bytes
    assert int.from_bytes(data[20:28], "big") == 1_700_000_000_123
    frame = decode_frame(data)
    assert frame.stream_id == SID and frame.timestamp_ms == 1_700_000_000_123
    assert bytes(frame.jpeg) == JPEG


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"\x01\x01", ErrorCode.INVALID_FRAME, "28-byte header"),
        (b"\x02" + encode_frame(SID, 1, JPEG)[1:], ErrorCode.INVALID_FRAME, "version"),
        (b"\x01\x02" + encode_frame(SID, 1, JPEG)[2:], ErrorCode.INVALID_FRAME, "codec"),
        (b"\x01\x01\x00\x01" + encode_frame(SID, 1, JPEG)[4:], ErrorCode.INVALID_FRAME, "flags"),
        (encode_frame(SID, 1, b"")[:HEADER_SIZE], ErrorCode.INVALID_FRAME, "no image"),
        (encode_frame(SID, 1, b"GIF89a....."), ErrorCode.INVALID_FRAME, "not a JPEG"),
        (encode_frame(SID, 1, JPEG[:-2]), ErrorCode.INVALID_FRAME, "not a JPEG"),
    ],
    # The frames hold a random session id: name the cases, so that every pytest-xdist
    # worker collects the same ids.
    ids=["short", "version", "codec", "flags", "empty", "gif", "truncated-jpeg"],
)
def test_bad_frames_are_refused_with_a_reason(data: bytes, code: ErrorCode, words: str) -> None:
    with pytest.raises(FrameError) as err:
        decode_frame(data)
    assert err.value.code is code and words in str(err.value)
    assert isinstance(err.value, ValueError)


def test_frame_size_limit() -> None:
    data = encode_frame(SID, 1, JPEG)
    assert decode_frame(data, max_payload=len(JPEG)).jpeg.nbytes == len(JPEG)
    with pytest.raises(FrameError) as err:
        decode_frame(data, max_payload=len(JPEG) - 1)
    assert err.value.code is ErrorCode.FRAME_TOO_LARGE


def test_encode_refuses_bad_ids_and_timestamps() -> None:
    with pytest.raises(FrameError):
        encode_frame("not-a-uuid", 1, JPEG)
    with pytest.raises(FrameError):
        encode_frame(SID, -1, JPEG)


def test_looks_like_jpeg() -> None:
    assert looks_like_jpeg(JPEG) and looks_like_jpeg(memoryview(JPEG))
    assert not looks_like_jpeg(b"\xff\xd8") and not looks_like_jpeg(b"hello world")


# -- messages ----------------------------------------------------------------------------------


def parse(msg: dict[str, Any]) -> Any:
    return relay.RELAY_CLIENT_MESSAGE.validate_json(json.dumps(msg))


def test_client_messages_of_the_original_plan_parse() -> None:
    assert isinstance(parse({"type": "auth", "token": "t"}), relay.RelayAuth)
    reg = parse(
        {
            "type": "register",
            "clientType": "mobile",
            "streamId": SID.upper(),
            "produces": ["video"],
            "consumes": ["alerts"],
            "deviceId": "ignored",
        }
    )
    assert isinstance(reg, relay.RelayRegister) and reg.stream_id == SID
    sub = parse({"type": "subscribe", "clientType": "ml-service", "streamId": SID})
    assert sub.consumes == ["video", "alerts"] and sub.produces == [] and sub.binary is False
    frame = parse({"type": "video-frame", "streamId": SID, "data": "/9j/2w==", "timestamp": 5})
    assert isinstance(frame, relay.RelayVideoFrameIn)
    alert = parse(
        {
            "type": "alert",
            "streamId": SID,
            "severity": "high",
            "message": "person",
            "metadata": {"confidence": 0.9, "box": [1, 2, 3, 4], "objectType": "person", "x": 1},
            "timestamp": 1,
        }
    )
    assert alert.alert_type == "ml-alert" and alert.metadata.object_type == "person"
    assert alert.metadata.model_dump(by_alias=True, exclude_none=True)["x"] == 1
    assert isinstance(parse({"type": "ping", "ts": 3}), relay.RelayClientPing)
    assert isinstance(parse({"type": "pong"}), relay.RelayClientPong)


@pytest.mark.parametrize(
    "msg",
    [
        {"type": "nope"},
        {"type": "register", "streamId": "../../etc"},
        {"type": "subscribe", "clientType": "mobile", "streamId": SID},
        {"type": "subscribe", "clientType": "dashboard", "streamId": SID, "consumes": []},
        {"type": "alert", "streamId": SID, "severity": "bad", "message": "m"},
        {"type": "alert", "streamId": SID, "severity": "low", "message": ""},
        {"type": "alert", "streamId": SID, "severity": "low", "message": "x" * 501},
        {"type": "alert", "streamId": SID, "severity": "low", "message": "m",
         "metadata": {"confidence": 1.5}},
        {"type": "alert", "streamId": SID, "severity": "low", "message": "m",
         "metadata": {"blob": "x" * 5000}},
        {"type": "video-frame", "streamId": SID, "data": "/9j/", "timestamp": -1},
    ],
)  # fmt: skip
def test_bad_client_messages_are_refused(msg: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse(msg)


def test_server_messages_validate_against_their_union() -> None:
    out = AlertOut(
        id=str(uuid.uuid4()),
        camera_id=None,
        stream_id=SID,
        type="ml-alert",
        severity="high",
        message="person",
        metadata={"confidence": 0.9, "deviceName": "Pixel"},
        has_snapshot=False,
        created_at=utcnow(),
        acknowledged_at=None,
        acknowledged_by=None,
        source="api_key:" + str(uuid.uuid4()),
    )
    messages = [
        relay.auth_ok("alice", "viewer", 30.0),
        relay.registered(SID),
        relay.subscribed(SID, ["video"]),
        relay.unsubscribed(SID),
        relay.video_frame(SID, "/9j/", 1, 2),
        relay.alert(out),
        relay.stream_status(SID, "streaming", utcnow()),
        relay.producer_replaced(SID),
        relay.stream_deleted(SID),
        relay.ping(1),
        relay.pong(None),
        relay.error(ErrorCode.NOT_FOUND, "Stream not found.", "cid", stream_id=SID),
        relay.error(ErrorCode.INVALID_INPUT, "Malformed JSON.", "cid"),
    ]
    for message in messages:
        wired = relay.wire(message)
        assert json.loads(relay.wire_bytes(message)) == wired
        assert type(relay.RELAY_SERVER_MESSAGE.validate_python(wired)) is type(message)
    alert = relay.wire(relay.alert(out))
    assert alert["timestamp"].endswith("Z") and alert["alertType"] == "ml-alert"
    err = relay.wire(messages[-2])
    assert err["error"]["code"] == "NOT_FOUND" and err["error"]["severity"] == "WARNING"
    assert err["error"]["correlationId"] == "cid" and err["streamId"] == SID
    assert "streamId" not in relay.wire(messages[-1])


def test_internal_error_codes_never_reach_a_relay_client() -> None:
    err = relay.wire(relay.error(ErrorCode.DATABASE_ERROR, "SELECT * FROM x", "c"))
    assert err["error"]["code"] == "SERVICE_UNAVAILABLE" and "SELECT" not in err["error"]["message"]


def test_openapi_components_publish_both_unions() -> None:
    comps = relay.openapi_components()
    for name in ("RelayClientMessage", "RelayServerMessage"):
        assert comps[name]["discriminator"]["propertyName"] == "type"
    assert "RelayAlert" in comps and "RelayVideoFrameIn" in comps
    assert "$defs" not in json.dumps(comps)


# -- stream metadata ---------------------------------------------------------------------------

META: TypeAdapter[Any] = TypeAdapter(StreamMetadata)


def test_stream_metadata_accepts_the_plan_example() -> None:
    value = {"resolution": "1920x1080", "fps": 30, "tags": ["a", 1, None], "os": "iOS 18"}
    assert META.validate_python(value) == value


@pytest.mark.parametrize(
    "value",
    [
        {"resolution": "1920"},
        {"resolution": "0x10"},
        {"resolution": "9000x10"},
        {"fps": 0},
        {"fps": 241},
        {"fps": True},
        {"nested": {"a": 1}},
        {"list": [[1]]},
        {f"k{i}": i for i in range(33)},
        {"big": "x" * 4100},
        {"": 1},
    ],
)
def test_stream_metadata_bounds(value: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        META.validate_python(value)


# -- settings, subjects, bus payloads ------------------------------------------------------------


def test_relay_settings_defaults_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings().relay
    assert (s.auth_timeout, s.ping_interval, s.missed_pongs) == (10.0, 30.0, 2)
    assert s.max_frame_bytes == 2 * 1024 * 1024 and s.consumer_queue_bytes == 4 * 1024 * 1024
    assert s.max_message_bytes >= (2 * 1024 * 1024) * 4 // 3 + 1024
    assert RelaySettings in SECTIONS
    monkeypatch.setenv("BEHOLDER_RELAY_PING_INTERVAL", "5")
    assert RelaySettings().ping_interval == 5.0
    monkeypatch.setenv("BEHOLDER_RELAY_MISSED_PONGS", "0")
    with pytest.raises(ValidationError):
        RelaySettings()


def test_transport_bound_fits_a_json_frame_of_max_size() -> None:
    from beholder.server import uvicorn_config

    settings = Settings()
    config = uvicorn_config(object(), settings)
    assert config.ws_max_size >= settings.relay.max_message_bytes


def test_relay_subjects() -> None:
    assert relay_frames_subject(SID) == f"relay.frames.{SID}"
    assert relay_alerts_subject(SID) == f"relay.alerts.{SID}"
    assert relay_control_subject(SID) == f"relay.control.{SID}"
    assert Subjects.STREAM_DETECTION == "stream.detection"


def test_face_alert_names_exactly_one_source() -> None:
    face = {"box": [1, 2, 3, 4], "confidence": 0.8}
    by_stream = FaceDetectionAlert(stream_id=SID, faces=[face], worker_id="w-1")  # type: ignore[list-item]
    again = FaceDetectionAlert.from_bytes(by_stream.to_bytes())
    assert again.stream_id == SID and again.camera_id is None and again.worker_id == "w-1"
    with pytest.raises(ValidationError):
        FaceDetectionAlert(faces=[])
    with pytest.raises(ValidationError):
        FaceDetectionAlert(camera_id=SID, stream_id=SID, faces=[])
    cmd = StreamDetectionCommand(stream_id=SID, enabled=True, device_name="Pixel")
    assert StreamDetectionCommand.from_bytes(cmd.to_bytes()).device_name == "Pixel"
