"""Pure parts of the worker ingest: backoff, quality grading, decode policy, error mapping."""

from __future__ import annotations

import av.error
import pytest

from beholder.config import Settings, WorkerSettings
from beholder.errors import ErrorCode
from beholder.worker.decode_policy import DecodePolicy
from beholder.worker.ingest import IngestOptions, classify_error
from beholder.worker.recovery import backoff_delay
from beholder.worker.stats import connection_quality
from beholder.worker.stream import read_wallclock_sei


def test_backoff_grows_with_jitter_within_bounds() -> None:
    for attempt in range(1, 12):
        for _ in range(50):
            d = backoff_delay(attempt, 1.0, 30.0)
            assert 1.0 <= d <= 30.0
    assert backoff_delay(1, 1.0, 30.0) <= 1.25
    assert backoff_delay(10, 1.0, 30.0) >= 22.5  # capped base 30, -25 % jitter at most
    assert len({round(backoff_delay(4, 1.0, 30.0), 6) for _ in range(20)}) > 1


@pytest.mark.parametrize(
    ("fps", "reconnects", "stalls", "expected"),
    [
        (12.0, 0, 0, "excellent"),
        (10.0, 0, 0, "fair"),
        (12.0, 1, 0, "fair"),
        (6.0, 0, 0, "poor"),
        (12.0, 2, 1, "poor"),
        (2.0, 0, 0, "unusable"),
        (12.0, 10, 0, "unusable"),
    ],
)
def test_connection_quality(fps: float, reconnects: int, stalls: int, expected: str) -> None:
    assert (
        connection_quality(
            processing=True,
            input_fps=fps,
            expected_fps=12.0,
            reconnects_last_hour=reconnects,
            stalls_last_hour=stalls,
        )
        == expected
    )
    assert (
        connection_quality(
            processing=False,
            input_fps=fps,
            expected_fps=12.0,
            reconnects_last_hour=0,
            stalls_last_hour=0,
        )
        == "unusable"
    )


def test_decode_policy_keyframes_only_when_gop_fits_the_sample_interval() -> None:
    p = DecodePolicy(1.0, b_frames=False)
    assert p.should_decode(False)  # GOP unknown: decode everything
    p.observe(True, 0.0, False)
    p.observe(False, 0.04, False)
    p.observe(True, 1.0, False)
    assert p.mode == DecodePolicy.KEYFRAMES and not p.should_decode(False)
    p.observe(True, 3.0, False)  # the camera moved to a 2 s GOP
    assert p.mode == DecodePolicy.ALL and p.should_decode(False)
    p.observe(True, 3.5, False)  # one short GOP does not flip it back
    assert p.mode == DecodePolicy.ALL

    b = DecodePolicy(1.0, b_frames=False)
    b.observe(True, 0.0, False)
    b.observe(False, 0.1, True)  # pts != dts: B-frames, always decode normally
    b.observe(True, 0.5, False)
    assert b.mode == DecodePolicy.ALL


def test_errors_map_to_codes_and_never_carry_the_password() -> None:
    url = "rtsp://admin:hunter2@10.0.0.5:554/stream"
    cases = [
        (av.error.HTTPUnauthorizedError(825242872, "401", url), ErrorCode.UNAUTHORIZED),
        (av.error.HTTPNotFoundError(875574520, "404", url), ErrorCode.INVALID_INPUT),
        (av.error.ConnectionRefusedError(111, "refused", url), ErrorCode.NETWORK_ERROR),
        (av.error.InvalidDataError(1094995529, "invalid", url), ErrorCode.STREAM_UNAVAILABLE),
        (av.error.ExitError(1414092869, "exit", url), ErrorCode.NETWORK_ERROR),
        (RuntimeError(f"boom {url}"), ErrorCode.DECODER_CRASH),
    ]
    for exc, code in cases:
        err = classify_error(exc, url, opening=True)
        assert err.code is code, (exc, err.code)
        assert "hunter2" not in err.detail and "hunter2" not in err.log_detail
    stall = classify_error(av.error.ExitError(1414092869, "exit", url), url, opening=False)
    assert stall.stall


def test_wallclock_sei_is_read_from_the_packet_head() -> None:
    payload = b"BeholderWallClk!" + f"{1_700_000_000_123_456:016x}".encode()
    data = b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x00\x01\x06\x05\x20" + payload + b"\x80"
    pkt = av.Packet(data + b"\x00\x00\x00\x01\x65" + b"\x88" * 64)
    assert read_wallclock_sei(pkt) == pytest.approx(1_700_000_000.123456)
    assert read_wallclock_sei(av.Packet(b"\x00\x00\x00\x01\x65" + b"\x88" * 64)) is None


def test_worker_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEHOLDER_WORKER_SAMPLE_FPS", "1.0")
    monkeypatch.setenv("BEHOLDER_WORKER_STALL_TIMEOUT", "3.0")
    ws = WorkerSettings(backoff_max=5.0)
    assert (ws.sample_fps, ws.stall_timeout, ws.backoff_max) == (1.0, 3.0, 5.0)
    assert Settings().worker == WorkerSettings()
    assert IngestOptions.from_settings(ws).read_timeout == 3.0
