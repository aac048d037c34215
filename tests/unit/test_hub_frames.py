"""Hub wire helpers: frame encoding, client message parsing, topics, fast-path detection."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from beholder._compat.uvicorn import raw_channel
from beholder.errors import ErrorCode
from beholder.realtime.frames import Outgoing, alert_id_of, text_frame
from beholder.realtime.protocol import (
    CLOSE_TOO_BIG,
    ProtocolError,
    carries_alerts,
    is_valid_topic,
    parse_text,
    split_topics,
    token_of,
)


def _parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_text_frame_matches_websockets_serializer(size: int) -> None:
    payload = b"x" * size
    ours = text_frame(payload)
    theirs = Frame(Opcode.TEXT, payload).serialize(mask=False)
    assert ours == theirs
    frame = _parse(ours)
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == payload


def test_outgoing_serializes_once_compact_utf8() -> None:
    out = Outgoing.of({"type": "x", "name": "Caméra", "n": 1}, alert_id="a1")
    assert out.payload == '{"type":"x","name":"Caméra","n":1}'.encode()
    assert out.text == '{"type":"x","name":"Caméra","n":1}'
    assert out.frame.endswith(out.payload) and out.alert_id == "a1"
    with pytest.raises(TypeError):
        Outgoing.of({"bad": object()})


def test_alert_id_of() -> None:
    assert alert_id_of({"id": "a1"}) == "a1"
    assert alert_id_of({"alertId": 7}) == "7"
    assert alert_id_of({"type": "x"}) is None


def test_parse_text_accepts_objects_with_type() -> None:
    assert parse_text('{"type":"ping"}', 100) == {"type": "ping"}


@pytest.mark.parametrize("text", ["{", "[]", "1", '"s"', "{}", '{"type": 3}'])
def test_parse_text_rejects_malformed(text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_text(text, 100)
    assert info.value.code is ErrorCode.INVALID_INPUT and info.value.close_code is None


def test_parse_text_size_is_measured_in_utf8_bytes() -> None:
    parse_text('{"type":"a","s":"' + "é" * 40 + '"}', 100)  # 97 bytes
    with pytest.raises(ProtocolError) as info:
        parse_text('{"type":"a","s":"' + "é" * 45 + '"}', 100)  # 107 bytes, 62 chars
    assert info.value.close_code == CLOSE_TOO_BIG


def test_token_of() -> None:
    assert token_of({"type": "auth", "token": "t"}) == "t"
    for bad in ({}, {"token": ""}, {"token": 5}, {"token": "x" * 9000}):
        with pytest.raises(ProtocolError) as info:
            token_of(bad)
        assert info.value.code is ErrorCode.UNAUTHORIZED


def test_topics() -> None:
    assert is_valid_topic("alerts") and is_valid_topic("camera:6f1c-uuid_1.x")
    assert not is_valid_topic("camera:") and not is_valid_topic("camera:a b")
    assert not is_valid_topic(5) and not is_valid_topic("bogus")
    valid, invalid = split_topics({"topics": ["alerts", "alerts", "nope", 3, "camera:c1"]})
    assert valid == ["alerts", "camera:c1"] and invalid == ["nope", "?"]
    with pytest.raises(ProtocolError):
        split_topics({"topics": "alerts"})
    assert carries_alerts({"camera:c1"}) and carries_alerts({"alerts"})
    assert not carries_alerts({"cameras", "health"})


async def test_raw_channel_refuses_unknown_send_callables() -> None:
    async def send(message: object) -> None:
        return None

    assert raw_channel(send) is None
    assert raw_channel(None) is None
