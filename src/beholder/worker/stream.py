"""Facts about a camera's video stream and its packets, read once where ingest demuxes them.

Ingest (sampling, stats) and live-view egress (passthrough, transcode, MJPEG) both need them;
building them in one place means both agree (one frame-rate rule, one profile reading). This
module is a leaf: it imports PyAV and the H.264 parameter-set parser, nothing of the worker.

* :class:`StreamInfo`: codec, size, nominal fps, B-frames, time base, extradata, profile;
  built by :meth:`StreamInfo.from_stream` when a connection opens.
* :class:`RawPacket`: one demuxed packet as plain bytes and timestamps, safe to hand to
  another thread (the PyAV packet is reused by the demuxer).
* :class:`PacketSink`: what receives them (live-view egress), driven by the ingest thread.
* :func:`read_wallclock_sei`: the optional wall-clock stamp a test camera writes (latency).
"""

from __future__ import annotations

import contextlib
import fractions
from dataclasses import dataclass
from typing import Any, Protocol

from beholder.worker.h264 import PROFILES, BitstreamError, parameter_sets, sps_profile

VIDEO_CLOCK = 90_000
"""RTP video clock (ticks per second); the time base assumed when a stream gives none."""

# 16-byte UUID of the "wall-clock when sent" SEI written by tests/fixtures/rtsp_server.py,
# followed by 16 ASCII hex digits of microseconds since the Unix epoch.
WALLCLOCK_SEI_UUID = b"BeholderWallClk!"
_SEI_SCAN_BYTES = 256  # the SEI sits before the first slice: after SPS/PPS at most

_FPS_RANGE = (0.1, 240.0)
"""Plausible nominal frame rates; FFmpeg's 90 kHz "guess" on RTP without timing is not one."""


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What the worker knows about a camera's video stream once it is open.

    ``codec``: FFmpeg decoder name (``h264``, ``hevc``…). ``width``/``height``: pixels, 0 when
    unknown. ``fps``: nominal frames per second, ``None`` when unknown or implausible.
    ``has_b_frames``: the codec context announces reordering. ``time_base``: seconds per pts
    tick. ``extradata``: codec extradata (``avcC`` or Annex-B parameter sets) or ``None``.
    ``profile``: codec profile name (``Baseline``, ``Main``, ``High``…) or ``None``."""

    codec: str
    width: int
    height: int
    fps: float | None
    has_b_frames: bool
    time_base: fractions.Fraction
    extradata: bytes | None = None
    profile: str | None = None

    @classmethod
    def from_stream(cls, stream: Any) -> StreamInfo:
        """Read a PyAV ``VideoStream`` (any thread; touches only plain attributes)."""
        cc = stream.codec_context
        tb = stream.time_base or fractions.Fraction(1, VIDEO_CLOCK)
        rate = stream.average_rate or stream.guessed_rate or getattr(cc, "framerate", None)
        fps = float(rate) if rate else None
        if fps is not None and not _FPS_RANGE[0] <= fps <= _FPS_RANGE[1]:
            fps = None
        extradata = bytes(cc.extradata) if cc.extradata else None
        profile = cc.profile if isinstance(cc.profile, str) else None
        if cc.name == "h264" and profile is None and extradata:
            with contextlib.suppress(BitstreamError):
                p = sps_profile(parameter_sets(extradata))
                profile = PROFILES.get(p[0]) if p else None
        return cls(
            codec=str(cc.name),
            width=int(cc.width or stream.width or 0),
            height=int(cc.height or stream.height or 0),
            fps=fps,
            has_b_frames=bool(getattr(cc, "has_b_frames", False)),
            time_base=fractions.Fraction(tb),
            extradata=extradata,
            profile=profile,
        )

    def passthrough_problem(self) -> str | None:
        """Why a browser cannot take this stream as-is, or ``None`` when it can."""
        if self.codec != "h264":
            return f"codec {self.codec}"
        if self.has_b_frames:
            return "B-frames"
        return None


@dataclass(frozen=True, slots=True)
class RawPacket:
    """One demuxed video packet: bytes as demuxed, ``pts``/``dts`` in the stream time base,
    ``ingest_time`` Unix seconds when it was read."""

    data: bytes
    pts: int | None
    dts: int | None
    keyframe: bool
    ingest_time: float

    @classmethod
    def from_packet(cls, packet: Any, ingest_time: float) -> RawPacket:
        """Copy a PyAV ``Packet`` (its buffer is reused by the demuxer)."""
        return cls(bytes(packet), packet.pts, packet.dts, bool(packet.is_keyframe), ingest_time)


class PacketSink(Protocol):
    """Receives every demuxed video packet of a camera (live-view egress).

    All three are called on the camera's ingest thread; implementations must be
    thread-safe on their side, O(1) and never block."""

    def on_stream_open(self, info: StreamInfo) -> None:
        """After each (re)connect, before that connection's first packet to this sink."""

    def on_packet(self, packet: RawPacket) -> None:
        """Every video packet, keyframe or not."""

    def on_stream_closed(self) -> None:
        """On disconnect or stop."""


def read_wallclock_sei(packet: Any) -> float | None:
    """Wall-clock seconds stamped by the source in our SEI, or None (real cameras).

    ``packet``: a PyAV ``Packet`` or bytes (the head of an access unit)."""
    try:
        head = bytes(memoryview(packet)[:_SEI_SCAN_BYTES])
    except (TypeError, ValueError):
        return None
    i = head.find(WALLCLOCK_SEI_UUID)
    if i < 0 or i + 32 > len(head):
        return None
    try:
        return int(head[i + 16 : i + 32], 16) / 1e6
    except ValueError:
        return None
