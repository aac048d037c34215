import json
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from beholder.contracts import bus as contracts_bus
from beholder.contracts import live as contracts_live
from beholder.messages import (
    CameraCommand,
    CommandType,
    DetectedFace,
    FaceDetectionAlert,
    StreamStatusEvent,
    WireModel,
    is_id,
    new_id,
)
from support.ids import cam_id

C1 = cam_id("c1")


def test_command_round_trips_in_camel_case() -> None:
    cmd = CameraCommand(command_type=CommandType.START_STREAM, camera_id=C1, payload={"a": 1})
    raw = cmd.to_bytes()
    assert b'"commandType":"START_STREAM"' in raw and f'"cameraId":"{C1}"'.encode() in raw
    assert b'"timestamp":"' in raw and raw.count(b'Z"') >= 1
    back = CameraCommand.from_bytes(raw)
    # The wire keeps millisecond precision.
    assert abs((back.timestamp - cmd.timestamp).total_seconds()) < 0.001
    assert back.model_copy(update={"timestamp": cmd.timestamp}) == cmd


def test_alert_validates_faces() -> None:
    alert = FaceDetectionAlert(
        camera_id=C1, faces=[DetectedFace(box=(1, 2, 3, 4), confidence=0.9, track_id=1)]
    )
    wire = alert.to_wire()
    assert wire["faces"][0] == {"box": [1, 2, 3, 4], "confidence": 0.9, "trackId": 1}
    with pytest.raises(ValidationError):
        FaceDetectionAlert.from_bytes(
            f'{{"cameraId":"{C1}","faces":[{{"box":[1,2],"confidence":2}}]}}'.encode()
        )


def test_status_event_rejects_unknown_status() -> None:
    with pytest.raises(ValidationError):
        StreamStatusEvent.from_bytes(f'{{"cameraId":"{C1}","status":"EXPLODED"}}'.encode())


# Ids an attacker on the bus would send: traversal, encoded traversal, absolute paths,
# NUL, subject wildcards, a UUID with something appended, and plain non-UUIDs.
BAD_IDS = [
    "/../../x",
    "../../../etc/passwd",
    "..%2f..%2fx",
    "..\\..\\x",
    "/tmp/x",
    "x",
    "",
    ".",
    "*",
    "cam.>",
    C1 + "/../x",
    C1[:-1] + "\x00",
    "{" + C1 + "}",
    "urn:uuid:" + C1,
    C1.replace("-", ""),
    "a" * 36,
]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
@pytest.mark.parametrize("field", ["id", "cameraId", "snapshotId", "correlationId"])
def test_an_alert_with_any_id_that_is_not_a_uuid_is_refused(field: str, bad: str) -> None:
    payload = {"id": new_id(), "cameraId": C1, "faces": [], field: bad}
    with pytest.raises(ValidationError) as err:
        FaceDetectionAlert.from_bytes(json.dumps(payload))
    assert [e["loc"] for e in err.value.errors()] == [(field,)]


def test_ids_are_normalised_to_lowercase_canonical_uuids() -> None:
    alert = FaceDetectionAlert.from_bytes(json.dumps({"cameraId": C1.upper(), "faces": []}))
    assert alert.camera_id == C1 and is_id(alert.id)


def _wire_models() -> list[type[WireModel]]:
    out = []
    for module in (contracts_bus, contracts_live):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, WireModel) and value is not WireModel:
                out.append(value)
    return out


@pytest.mark.parametrize("model", _wire_models(), ids=lambda m: m.__name__)
def test_every_id_field_of_every_bus_payload_refuses_a_path(model: type[WireModel]) -> None:
    """Guards fields added later: a field named ``id``/``*_id``/``*_ids`` (or ``principal``)
    must refuse a traversal, whatever its type."""
    id_fields = [
        name
        for name in model.model_fields
        if name == "id" or name.endswith(("_id", "_ids")) or name == "principal"
    ]
    for name in id_fields:
        adapter: TypeAdapter[Any] = TypeAdapter(model.model_fields[name].rebuild_annotation())
        for bad in ("/../../x", "../x", "x/../../y"):
            value: Any = [bad] if name.endswith("_ids") else bad
            with pytest.raises(ValidationError):
                adapter.validate_python(value)
