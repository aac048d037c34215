"""What a probe learns from a DESCRIBE answer's SDP (RFC 8866): the first video stream's
codec and, when the SDP tells, its resolution.

Resolution, in order of preference: the H.264 SPS in ``a=fmtp:… sprop-parameter-sets``
(RFC 6184; parsed here, cropping applied), ``a=framesize:<pt> W-H`` (many NVRs),
``a=x-dimensions:W,H`` (Axis and others), ``a=cliprect:0,0,H,W``. Anything malformed is
ignored: a camera that answers DESCRIBE is reachable whatever its SDP looks like.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """``codec``: the rtpmap encoding name upper-cased (``H264``, ``H265``, ``JPEG``, …) or
    ``None``; ``width``/``height`` in pixels or ``None``."""

    codec: str | None = None
    width: int | None = None
    height: int | None = None


_STATIC_PT = {"26": "JPEG", "32": "MPV", "33": "MP2T", "34": "H263"}


def parse_sdp(text: str) -> StreamInfo:
    """The first ``m=video`` section's codec and resolution (see the module docstring)."""
    section: list[str] | None = None
    payloads: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            if section is not None:
                break
            parts = line[2:].split()
            if parts and parts[0] == "video":
                section = []
                payloads = parts[3:]
            continue
        if section is not None:
            section.append(line)
    if section is None:
        return StreamInfo()
    pt = payloads[0] if payloads else None
    codec: str | None = _STATIC_PT.get(pt or "")
    width = height = None
    sps: bytes | None = None
    for line in section:
        attr, _, value = line.partition(":")
        fmt, _, rest = value.partition(" ")
        if pt is not None and fmt != pt and attr in ("a=rtpmap", "a=fmtp", "a=framesize"):
            continue
        if attr == "a=rtpmap":
            codec = rest.split("/", 1)[0].strip().upper() or codec
        elif attr == "a=fmtp":
            sps = _sprop_sps(rest) or sps
        elif attr == "a=framesize":
            m = re.fullmatch(r"\s*(\d+)-(\d+)\s*", rest)
            if m:
                width, height = int(m.group(1)), int(m.group(2))
        elif attr == "a=x-dimensions":
            m = re.fullmatch(r"\s*(\d+)\s*,\s*(\d+)\s*", value)
            if m and width is None:
                width, height = int(m.group(1)), int(m.group(2))
        elif attr == "a=cliprect":
            m = re.fullmatch(r"\s*\d+\s*,\s*\d+\s*,\s*(\d+)\s*,\s*(\d+)\s*", value)
            if m and width is None:
                width, height = int(m.group(2)), int(m.group(1))
    if sps is not None and codec in (None, "H264"):
        size = h264_sps_size(sps)
        if size is not None:
            width, height = size
    return StreamInfo(codec, width, height)


def _sprop_sps(params: str) -> bytes | None:
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "sprop-parameter-sets" and value:
            try:
                return base64.b64decode(value.split(",")[0] + "==", validate=False)
            except (binascii.Error, ValueError):
                return None
    return None


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def u(self, n: int) -> int:
        v = 0
        for _ in range(n):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise ValueError("SPS truncated")
            v = (v << 1) | ((self.data[byte] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def h264_sps_size(nal: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of an H.264 SPS NAL unit (ITU-T H.264 §7.3.2.1.1, cropping
    applied), or ``None`` when it is not an SPS or cannot be parsed."""
    if len(nal) < 4 or nal[0] & 0x1F != 7:
        return None
    rbsp = nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")
    try:
        b = _Bits(rbsp)
        profile = b.u(8)
        b.u(16)  # constraint flags, level
        b.ue()  # seq_parameter_set_id
        chroma = 1
        separate = 0
        if profile in _HIGH_PROFILES:
            chroma = b.ue()
            if chroma == 3:
                separate = b.u(1)
            b.ue()
            b.ue()  # bit depths
            b.u(1)  # qpprime_y_zero_transform_bypass
            if b.u(1):  # seq_scaling_matrix_present
                for i in range(12 if chroma == 3 else 8):
                    if b.u(1):
                        _skip_scaling_list(b, 16 if i < 6 else 64)
        b.ue()  # log2_max_frame_num_minus4
        poc_type = b.ue()
        if poc_type == 0:
            b.ue()
        elif poc_type == 1:
            b.u(1)
            b.se()
            b.se()
            for _ in range(b.ue()):
                b.se()
        b.ue()  # max_num_ref_frames
        b.u(1)  # gaps_in_frame_num_value_allowed
        w_mbs = b.ue() + 1
        h_units = b.ue() + 1
        frame_mbs_only = b.u(1)
        if not frame_mbs_only:
            b.u(1)
        b.u(1)  # direct_8x8_inference
        crop = (0, 0, 0, 0)
        if b.u(1):
            crop = (b.ue(), b.ue(), b.ue(), b.ue())
    except ValueError:
        return None
    array_type = 0 if separate else chroma
    sub_w, sub_h = {1: (2, 2), 2: (2, 1), 3: (1, 1)}.get(array_type, (1, 1))
    unit_x = 1 if array_type == 0 else sub_w
    unit_y = (2 - frame_mbs_only) * (1 if array_type == 0 else sub_h)
    width = w_mbs * 16 - unit_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * h_units * 16 - unit_y * (crop[2] + crop[3])
    if width <= 0 or height <= 0:
        return None
    return width, height


def _skip_scaling_list(b: _Bits, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt != 0:
            nxt = (last + b.se() + 256) % 256
        last = nxt if nxt != 0 else last
