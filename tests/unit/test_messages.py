import pytest
from pydantic import ValidationError

from beholder.messages import (
    CameraCommand,
    CommandType,
    DetectedFace,
    FaceDetectionAlert,
    StreamStatusEvent,
)


def test_command_round_trips_in_camel_case() -> None:
    cmd = CameraCommand(command_type=CommandType.START_STREAM, camera_id="c1", payload={"a": 1})
    raw = cmd.to_bytes()
    assert b'"commandType":"START_STREAM"' in raw and b'"cameraId":"c1"' in raw
    assert b'"timestamp":"' in raw and raw.count(b'Z"') >= 1
    back = CameraCommand.from_bytes(raw)
    # The wire keeps millisecond precision.
    assert abs((back.timestamp - cmd.timestamp).total_seconds()) < 0.001
    assert back.model_copy(update={"timestamp": cmd.timestamp}) == cmd


def test_alert_validates_faces() -> None:
    alert = FaceDetectionAlert(
        camera_id="c1", faces=[DetectedFace(box=(1, 2, 3, 4), confidence=0.9, track_id=1)]
    )
    wire = alert.to_wire()
    assert wire["faces"][0] == {"box": [1, 2, 3, 4], "confidence": 0.9, "trackId": 1}
    with pytest.raises(ValidationError):
        FaceDetectionAlert.from_bytes(b'{"cameraId":"c1","faces":[{"box":[1,2],"confidence":2}]}')


def test_status_event_rejects_unknown_status() -> None:
    with pytest.raises(ValidationError):
        StreamStatusEvent.from_bytes(b'{"cameraId":"c","status":"EXPLODED"}')
