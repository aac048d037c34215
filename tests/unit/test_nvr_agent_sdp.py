"""SDP parsing of the NVR agent's probe: codec from rtpmap, resolution from the H.264 SPS
or the framesize / x-dimensions attributes, and digest authentication maths."""

from __future__ import annotations

import hashlib

from beholder.nvr.agent.rtsp import Authenticator, parse_challenges
from beholder.nvr.agent.sdp import h264_sps_size, parse_sdp

# 1280x720 High profile SPS (x264), as cameras send it in sprop-parameter-sets.
SPROP = "Z2QAH6zZQFAFuhAAAAMAEAAAAwPI8YMZYA==,aOvssiw="
SDP_SPS = f"""v=0
o=- 0 0 IN IP4 127.0.0.1
s=cam
m=audio 0 RTP/AVP 97
a=rtpmap:97 MPEG4-GENERIC/48000
m=video 0 RTP/AVP 96
a=rtpmap:96 H264/90000
a=fmtp:96 packetization-mode=1;profile-level-id=640028;sprop-parameter-sets={SPROP}
"""


def test_h264_sps_resolution() -> None:
    info = parse_sdp(SDP_SPS)
    assert (info.codec, info.width, info.height) == ("H264", 1280, 720)


def test_framesize_and_x_dimensions() -> None:
    info = parse_sdp("m=video 0 RTP/AVP 98\na=rtpmap:98 H265/90000\na=framesize:98 1920-1080\n")
    assert (info.codec, info.width, info.height) == ("H265", 1920, 1080)
    info = parse_sdp("m=video 0 RTP/AVP 96\na=rtpmap:96 H264/90000\na=x-dimensions:640,480\n")
    assert (info.width, info.height) == (640, 480)
    assert parse_sdp("m=video 0 RTP/AVP 26\n").codec == "JPEG"


def test_garbage_is_harmless() -> None:
    assert parse_sdp("").codec is None
    assert parse_sdp("m=video 0 RTP/AVP 96\na=fmtp:96 sprop-parameter-sets=!!!,\n").width is None
    assert h264_sps_size(b"\x67\x00") is None
    assert h264_sps_size(b"\x68\x00\x00\x00\x00") is None  # a PPS


def test_digest_response_rfc2617_example() -> None:
    # RFC 2617 §3.5's worked example.
    auth = Authenticator("Mufasa", "Circle Of Life")
    challenges = parse_challenges(
        [
            'Digest realm="testrealm@host.com", qop="auth,auth-int", '
            'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
            'Basic realm="x"',
        ]
    )
    assert auth.accept(challenges)
    header = auth.header("GET", "/dir/index.html")
    assert header is not None and header.startswith("Digest ")
    fields = dict(part.strip().split("=", 1) for part in header.removeprefix("Digest ").split(", "))
    cnonce = fields["cnonce"].strip('"')
    ha1 = hashlib.md5(b"Mufasa:testrealm@host.com:Circle Of Life").hexdigest()
    ha2 = hashlib.md5(b"GET:/dir/index.html").hexdigest()
    expected = hashlib.md5(
        f"{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:{cnonce}:auth:{ha2}".encode()
    ).hexdigest()
    assert fields["response"] == f'"{expected}"'
    assert fields["opaque"] == '"5ccc069c403ebaf9f0171e9517f40e41"'


def test_basic_when_only_basic_offered() -> None:
    auth = Authenticator("a", "b")
    assert auth.accept(parse_challenges(['Basic realm="cam"']))
    assert auth.header("DESCRIBE", "rtsp://x/") == "Basic YTpi"
    assert not Authenticator("a", "b").accept(parse_challenges(["Negotiate abc"]))
