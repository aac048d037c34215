"""The NVR agent's pure parts: the socket URL from --server, backoff with jitter, and the
messages it sends (shapes of contracts/nvr.py, optional fields left out, no secrets lost)."""

from __future__ import annotations

import json

import pytest

from beholder.contracts.nvr import NVR_CLIENT_MESSAGE, NvrProbeReport, NvrRegister
from beholder.nvr.agent.config import parse_config
from beholder.nvr.agent.probe import ProbeError, ProbeResult
from beholder.nvr.agent.runner import Agent, Backoff, dumps, socket_url


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/api/nvrs/ws"),
        ("https://b.example/", "wss://b.example/api/nvrs/ws"),
        ("https://b.example/beholder", "wss://b.example/beholder/api/nvrs/ws"),
        ("wss://b.example/api/nvrs/ws", "wss://b.example/api/nvrs/ws"),
    ],
)
def test_socket_url(server: str, expected: str) -> None:
    assert socket_url(server) == expected


def test_socket_url_refuses_other_schemes() -> None:
    with pytest.raises(ValueError):
        socket_url("ftp://x")


def test_backoff_grows_with_jitter_and_resets() -> None:
    b = Backoff(1.0, 8.0)
    delays = [b.next() for _ in range(6)]
    for delay, ceiling in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert ceiling * 0.5 <= delay <= ceiling
    b.reset()
    assert b.next() <= 1.0


def _agent(yaml: str) -> Agent:
    return Agent(parse_config(yaml, env={}), "http://127.0.0.1:1", "key")


def test_register_message_matches_the_contract() -> None:
    agent = _agent(
        "nvr: {hostname: site-a, deviceName: Site A, region: north}\n"
        "channels: [{number: 2, name: Gate, url: 'rtsp://u:p@10.0.0.2/2'},"
        " {number: 1, url: 'rtsp://10.0.0.2/1'}]"
    )
    text = dumps(agent.register_message())
    msg = NVR_CLIENT_MESSAGE.validate_json(text)
    assert isinstance(msg, NvrRegister)
    assert (msg.hostname, msg.device_name, msg.region) == ("site-a", "Site A", "north")
    assert [(c.number, c.name) for c in msg.channels] == [(1, None), (2, "Gate")]
    assert msg.channels[1].url == "rtsp://u:p@10.0.0.2/2"  # the server stores it, masked
    assert "site" not in json.loads(text)  # unset optional fields are left out


def test_template_agent_registers_nothing_before_discovery() -> None:
    agent = _agent("nvr: {hostname: h}\ntemplate: {preset: dahua, host: 10.0.0.9, channels: '1-4'}")
    assert agent.channels == {}
    assert sorted(agent.candidates) == [1, 2, 3, 4]
    assert dumps(agent.register_message()).count('"number"') == 0


def test_report_message() -> None:
    agent = _agent(
        "nvr: {hostname: h}\nchannels: [{number: 1, url: 'rtsp://x/1'},"
        " {number: 2, url: 'rtsp://x/2'}]"
    )
    agent.last_report = {
        1: ProbeResult(True, 4.2, "H264", 1920, 1080, status=200),
        2: ProbeResult(False, error=ProbeError.UNAUTHORIZED, status=401),
        7: ProbeResult(True),  # not a registered channel: not reported
    }
    msg = NVR_CLIENT_MESSAGE.validate_json(dumps(agent.report_message()))
    assert isinstance(msg, NvrProbeReport)
    one, two = msg.channels
    assert (one.number, one.reachable, one.latency_ms, one.codec, one.width) == (
        1,
        True,
        4.2,
        "H264",
        1920,
    )
    assert (two.number, two.reachable, two.error) == (2, False, "unauthorized")
