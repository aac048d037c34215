"""Egress building blocks without network: AVCC→Annex-B, GOP cache and slow viewers, the
output timeline, ICE address policy, settings parsing, B-frame detection."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
from typing import Any

import av
import pytest
from aiortc.mediastreams import MediaStreamError

from beholder.config import LiveViewSettings, Settings
from beholder.worker.egress import ice
from beholder.worker.egress.source import CameraSource
from beholder.worker.egress.timeline import Timeline
from beholder.worker.egress.track import EncodedFrame, PassthroughTrack
from beholder.worker.h264 import (
    NAL_PPS,
    NAL_SPS,
    AnnexBConverter,
    BitstreamError,
    parse_avcc,
    split_annexb,
)
from beholder.worker.stream import RawPacket, StreamInfo
from support.rtsp import TWO_FACES, WALKING


def packets(path: Any, n: int) -> tuple[Any, list[Any]]:
    container = av.open(str(path))
    stream = container.streams.video[0]
    out = []
    for p in container.demux(stream):
        if p.size:
            out.append(p)
        if len(out) >= n:
            break
    return stream, out


def facts(path: Any, n: int) -> tuple[StreamInfo, list[RawPacket]]:
    """:func:`packets` as the ingest run hands them to packet sinks."""
    stream, pkts = packets(path, n)
    return StreamInfo.from_stream(stream), [RawPacket.from_packet(p, 0.0) for p in pkts]


async def handled(src: CameraSource) -> None:
    """Return once the event loop has run everything ``src`` posted to it so far (the
    source's callbacks run in order, so a marker posted last runs last)."""
    done = asyncio.Event()
    src.post(done.set)
    await asyncio.wait_for(done.wait(), 2)


def test_avcc_packets_become_annexb_with_parameter_sets() -> None:
    stream, pkts = packets(TWO_FACES, 13)
    extradata = bytes(stream.codec_context.extradata)
    length_size, sps, pps = parse_avcc(extradata)
    assert length_size == 4 and len(sps) == 1 and len(pps) == 1
    conv = AnnexBConverter(extradata)
    key = conv.convert(bytes(pkts[0]), keyframe=True)
    types = [u[0] & 0x1F for u in split_annexb(key)]
    assert types[:2] == [NAL_SPS, NAL_PPS] and 5 in types
    delta = conv.convert(bytes(pkts[1]), keyframe=False)
    assert delta.startswith(b"\x00\x00\x00\x01") and NAL_SPS not in [
        u[0] & 0x1F for u in split_annexb(delta)
    ]
    # the converted stream decodes with a plain Annex-B decoder (what a browser gets)
    dec = av.CodecContext.create("h264", "r")
    frames = []
    for i, p in enumerate(pkts):
        frames += dec.decode(av.Packet(conv.convert(bytes(p), keyframe=i % 12 == 0)))
    assert frames and frames[0].width == 480
    with pytest.raises(BitstreamError):
        conv.convert(b"\x00\x00\x00\x09\x65", keyframe=False)


def test_timeline_is_monotonic_across_restarts() -> None:
    tl = Timeline()
    out = [tl.map(t) for t in (1000, 4600, 8200)]
    tl.rebase()  # reconnect: the camera's clock restarts at 0
    out += [tl.map(t) for t in (0, 3600)]
    out += [tl.map(t) for t in (10**12,)]  # absurd jump forward
    assert all(b > a for a, b in itertools.pairwise(out))
    assert out[3] - out[2] == 3600  # continues at the learned frame spacing


async def test_slow_viewer_skips_to_next_keyframe_and_never_blocks() -> None:
    def frame(i: int) -> EncodedFrame:
        key = i % 10 == 0
        return EncodedFrame(b"\x00\x00\x00\x01" + (b"\x65" if key else b"\x41"), i * 3600, key, 0.0)

    track = PassthroughTrack(max_queue=5)
    track.prime([frame(0), frame(1), frame(2)])  # GOP cache: keyframe + 2
    for i in range(3, 36):
        track.push(frame(i))  # nobody reads: the queue overflows, pushing never waits
    assert track.queued <= 5 and track.slow_events >= 1 and track.frames_dropped > 20
    track.push(frame(40))
    while True:
        pkt = await asyncio.wait_for(track.recv(), 1)
        if pkt.pts == 40 * 3600:
            break
        assert pkt.pts >= 30 * 3600  # only frames of the newest GOP are left
    track.stop()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(track.recv(), 1)


async def test_gop_cache_primes_new_viewer_with_squeezed_timestamps() -> None:
    src = CameraSource("cam", LiveViewSettings())
    stream, pkts = facts(TWO_FACES, 20)
    src.on_stream_open(stream)
    for p in pkts:
        src.on_packet(p)
    await handled(src)
    assert src.mode == "passthrough" and src.producing
    gop = src.gop_snapshot()
    assert gop[0].keyframe and len(gop) == 8  # packets 12..19
    track = PassthroughTrack()
    src.add_viewer(track)
    got = [await track.recv() for _ in range(len(gop))]
    assert [p.pts for p in got] == [gop[-1].pts - (len(gop) - 1 - i) * 90 for i in range(len(gop))]
    assert src.stats()["viewers"] == 1
    track.stop()
    assert src.stats()["viewers"] == 0
    src.close()


async def test_bframes_are_detected_at_open_and_from_reordering() -> None:
    src = CameraSource("walk", LiveViewSettings())
    stream, pkts = facts(WALKING, 5)
    src.on_stream_open(stream)
    await handled(src)
    assert src.mode == "transcode" and src.mode_reason == "B-frames"
    src.close()
    # a stream that hides B-frames at open (no has_b_frames) is switched on the first reorder
    src = CameraSource("walk2", LiveViewSettings())
    src.on_stream_open(stream)
    await handled(src)
    src._set_mode("passthrough", None)
    switches = src.mode_switches
    for p in pkts:
        src.on_packet(p)
    await handled(src)
    assert src.mode == "transcode" and src.mode_switches == switches + 1
    src.close()


def test_ice_policy() -> None:
    loopback = LiveViewSettings(webrtc_hosts=("127.0.0.1",))
    nets = ice.allowed_networks(loopback)
    assert nets == [ipaddress.ip_network("127.0.0.0/8")]
    sdp = (
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n"
        "a=candidate:2 1 udp 2122260223 192.0.2.7 50001 typ host\r\n"
        "a=candidate:3 1 udp 1686052607 203.0.113.9 50002 typ srflx raddr 0.0.0.0 rport 0\r\n"
        "a=candidate:4 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active\r\n"
        "a=candidate:5 1 udp 2122260223 a1b2c3.local 50003 typ host\r\n"
    )
    out, dropped = ice.filter_sdp_candidates(sdp, nets)
    assert dropped == 3
    assert "127.0.0.1 50000" in out and "a1b2c3.local" in out and "192.0.2.7" not in out
    # explicit networks win; STUN/TURN configured → any address
    assert ice.allowed_networks(LiveViewSettings(webrtc_peer_networks=("10.0.0.0/8",))) == [
        ipaddress.ip_network("10.0.0.0/8")
    ]
    assert (
        ice.allowed_networks(LiveViewSettings(webrtc_ice_servers=("stun:stun.example.org:3478",)))
        is None
    )
    # no Google STUN unless configured
    assert ice.rtc_configuration(LiveViewSettings()).iceServers == []
    cfg = ice.rtc_configuration(
        LiveViewSettings(
            webrtc_ice_servers=("turn:t.example.org:3478",),
            webrtc_turn_username="u",
            webrtc_turn_password="p",
        )
    )
    assert cfg.iceServers[0].username == "u"


async def test_host_address_hook_offers_only_configured_addresses() -> None:
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection(ice.rtc_configuration(LiveViewSettings()))
    pc.addTransceiver("video", direction="recvonly")
    with ice.host_addresses(["127.0.0.1"]):
        await pc.setLocalDescription(await pc.createOffer())
    cands = [
        line for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate")
    ]
    await pc.close()
    assert cands and all(" 127.0.0.1 " in c for c in cands)
    # outside the context aioice's default is back (never loopback)
    import aioice.ice

    assert "127.0.0.1" not in aioice.ice.get_host_addresses(True, False)


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEHOLDER_WEBRTC_HOSTS", "127.0.0.1, 10.0.0.5")
    monkeypatch.setenv("BEHOLDER_WEBRTC_MAX_VIEWERS", "3")
    monkeypatch.setenv("BEHOLDER_WEBRTC_ICE_SERVERS", '["stun:s.example.org:3478"]')
    s = Settings().live_view
    assert s.webrtc_hosts == ("127.0.0.1", "10.0.0.5")
    assert s.webrtc_max_viewers == 3
    assert s.webrtc_ice_servers == ("stun:s.example.org:3478",)
    assert LiveViewSettings(webrtc_max_viewers=9).webrtc_max_viewers == 9
