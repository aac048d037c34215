"""The small composed parts of the worker: GOP cache, packet fan-out, typed errors."""

from __future__ import annotations

import fractions
from typing import Any

from beholder.errors import AppError, ErrorCode, default_message
from beholder.worker.egress.errors import EgressRefused
from beholder.worker.egress.gop import GopCache
from beholder.worker.egress.track import EncodedFrame
from beholder.worker.fanout import PacketFanout
from beholder.worker.h264 import BitstreamError
from beholder.worker.ingest import IngestError
from beholder.worker.stats import SessionCounters
from beholder.worker.stream import RawPacket, StreamInfo

INFO = StreamInfo("h264", 640, 360, 12.0, False, fractions.Fraction(1, 90_000))


def raw(i: int, key: bool = False, size: int = 10) -> RawPacket:
    return RawPacket(b"\x00" * size, i, i, key, 0.0)


def test_gop_cache_starts_at_a_keyframe_and_gives_up_past_its_bound() -> None:
    gop: GopCache[RawPacket] = GopCache(max_bytes=35)
    gop.add(raw(0))  # no keyframe yet: nothing to start from
    assert gop.snapshot() == []
    gop.add(raw(1, key=True))
    gop.add(raw(2))
    assert [p.pts for p in gop.snapshot()] == [1, 2] and gop.bytes == 20
    gop.add(raw(3, key=True))  # a new GOP replaces the old one
    assert [p.pts for p in gop.snapshot()] == [3]
    gop.add(raw(4))
    gop.add(raw(5))
    gop.add(raw(6))  # 40 bytes > 35: too long a GOP, cache off until the next keyframe
    assert gop.snapshot() == [] and gop.bytes == 0
    gop.add(raw(7))
    assert len(gop) == 0
    frames: GopCache[EncodedFrame] = GopCache(max_bytes=100)  # the same class for access units
    frames.add(EncodedFrame(b"k", 0, True, 0.0))
    assert len(frames) == 1


class Sink:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[Any] = []
        self.fail = fail

    def on_stream_open(self, info: StreamInfo) -> None:
        self.calls.append(("open", info.codec))

    def on_packet(self, packet: RawPacket) -> None:
        if self.fail:
            raise RuntimeError("broken sink")
        self.calls.append(("packet", packet.pts))

    def on_stream_closed(self) -> None:
        self.calls.append(("closed",))


def test_fanout_opens_late_sinks_with_the_stream_facts_and_survives_a_broken_sink() -> None:
    counters = SessionCounters()
    fanout = PacketFanout("cam", counters)
    early, late, broken = Sink(), Sink(), Sink(fail=True)
    fanout.add(early)
    assert fanout.wanted and fanout.sinks == (early,)
    fanout.open(INFO)
    fanout.packet(raw(1, key=True))
    fanout.add(late)
    fanout.add(broken)
    fanout.add(late)  # idempotent
    fanout.packet(raw(2))
    fanout.remove(early)
    fanout.packet(raw(3))
    fanout.close()
    assert early.calls == [("open", "h264"), ("packet", 1), ("packet", 2)]
    assert late.calls == [("open", "h264"), ("packet", 2), ("packet", 3), ("closed",)]
    assert counters.sink_errors == 2 and broken.calls[-1] == ("closed",)


def test_errors_crossing_modules_are_app_errors_with_a_code() -> None:
    refused = EgressRefused(ErrorCode.SERVICE_UNAVAILABLE, "Too many viewers on this camera.")
    assert isinstance(refused, AppError) and refused.status_code == 503
    ingest = IngestError(ErrorCode.NETWORK_ERROR, "The camera did not answer.", detail="tcp")
    assert isinstance(ingest, AppError) and ingest.message == "The camera did not answer."
    assert ingest.log_detail == "tcp" and not ingest.stall
    framing = BitstreamError("truncated")
    assert isinstance(framing, AppError) and isinstance(framing, ValueError)
    assert framing.code is ErrorCode.DECODER_CRASH
    # a worker's refusal raised again on the api side, by its wire code
    again = AppError.from_code("SERVICE_UNAVAILABLE", "Too many viewers on this camera.")
    assert again.code is ErrorCode.SERVICE_UNAVAILABLE and again.message == refused.message
    hidden = AppError.from_code("INTERNAL_ERROR", "stack trace here")
    assert hidden.message == default_message(ErrorCode.INTERNAL_ERROR)
    assert AppError.from_code("NO_SUCH_CODE", "x").code is ErrorCode.INTERNAL_ERROR
    assert AppError.from_code(None).code is ErrorCode.INTERNAL_ERROR
