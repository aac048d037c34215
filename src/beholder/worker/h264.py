"""H.264 bitstream helpers: length-prefixed (AVCC, as in MP4/MKV) to Annex-B (start codes,
what aiortc's RTP packetizer and WebRTC need) for passthrough, and the parameter sets and
profile that :class:`~beholder.worker.stream.StreamInfo` reads at stream open.

Why not the ``h264_mp4toannexb`` bitstream filter: egress gets each packet as bytes
(:class:`~beholder.worker.stream.RawPacket`); wrapping them back into ``av.Packet`` objects for
the filter costs as much as this conversion, which touches only the 4-byte prefixes of the
few NAL units of a frame.
"""

from __future__ import annotations

import struct

from beholder.errors import AppError, ErrorCode

START_CODE = b"\x00\x00\x00\x01"

NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9

PROFILES = {66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High 10"}


class BitstreamError(AppError, ValueError):
    """The data is not the H.264 framing it claims to be (``DECODER_CRASH``: the camera's
    stream cannot be used as it is)."""

    code = ErrorCode.DECODER_CRASH


def is_avcc_extradata(extradata: bytes | None) -> bool:
    """True for an ``avcC`` record (MP4 style, first byte 1) rather than Annex-B parameter sets."""
    return bool(extradata) and extradata is not None and extradata[0] == 1 and len(extradata) >= 7


def parse_avcc(extradata: bytes) -> tuple[int, list[bytes], list[bytes]]:
    """Parse an ``avcC`` record → (NAL length size in bytes, SPS list, PPS list).

    Raises :class:`BitstreamError` when truncated."""
    try:
        length_size = (extradata[4] & 0x03) + 1
        pos = 5
        sps: list[bytes] = []
        for _ in range(extradata[pos] & 0x1F):
            (n,) = struct.unpack_from(">H", extradata, pos + 1)
            sps.append(bytes(extradata[pos + 3 : pos + 3 + n]))
            pos += 2 + n
        pos += 1
        pps: list[bytes] = []
        for _ in range(extradata[pos]):
            (n,) = struct.unpack_from(">H", extradata, pos + 1)
            pps.append(bytes(extradata[pos + 3 : pos + 3 + n]))
            pos += 2 + n
    except (IndexError, struct.error) as exc:
        raise BitstreamError("truncated avcC record") from exc
    if any(not p for p in sps + pps):
        raise BitstreamError("truncated avcC record")
    return length_size, sps, pps


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units (without start codes) of an Annex-B buffer."""
    units: list[bytes] = []
    i = data.find(b"\x00\x00\x01")
    while i != -1:
        start = i + 3
        j = data.find(b"\x00\x00\x01", start)
        if j == -1:
            units.append(data[start:])
            break
        end = j - 1 if data[j - 1] == 0 else j
        units.append(data[start:end])
        i = j
    return [u for u in units if u]


def split_avcc(data: bytes, length_size: int) -> list[bytes]:
    """NAL units of a length-prefixed buffer; raises :class:`BitstreamError` when malformed."""
    units: list[bytes] = []
    pos = 0
    n = len(data)
    while pos < n:
        if pos + length_size > n:
            raise BitstreamError("truncated NAL length")
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > n:
            raise BitstreamError("NAL length past the end of the packet")
        units.append(data[pos : pos + size])
        pos += size
    return units


def join_annexb(units: list[bytes]) -> bytes:
    """Annex-B buffer of NAL units."""
    return b"".join(START_CODE + u for u in units)


def parameter_sets(extradata: bytes | None) -> list[bytes]:
    """SPS and PPS NAL units carried by stream extradata (``avcC`` or Annex-B), maybe empty."""
    if not extradata:
        return []
    if is_avcc_extradata(extradata):
        _, sps, pps = parse_avcc(extradata)
        return sps + pps
    return [u for u in split_annexb(extradata) if u[0] & 0x1F in (NAL_SPS, NAL_PPS)]


def sps_profile(units: list[bytes]) -> tuple[int, int, int] | None:
    """(profile_idc, constraint flags, level_idc) of the first SPS in ``units``."""
    for u in units:
        if u[0] & 0x1F == NAL_SPS and len(u) >= 4:
            return u[1], u[2], u[3]
    return None


class AnnexBConverter:
    """Turns the packets of one H.264 stream into self-contained Annex-B access units.

    Keyframes get the stream's SPS/PPS prepended when they do not carry their own, so a viewer
    can start decoding from any keyframe. ``extradata``: the stream's codec extradata
    (``avcC`` → the packets are length-prefixed; Annex-B or empty → they already have start
    codes). Not thread-safe; one per stream."""

    def __init__(self, extradata: bytes | None) -> None:
        self.length_size: int | None = None
        self.parameter_sets: list[bytes] = []
        if is_avcc_extradata(extradata):
            assert extradata is not None
            self.length_size, sps, pps = parse_avcc(extradata)
            self.parameter_sets = sps + pps
        else:
            self.parameter_sets = parameter_sets(extradata)

    def convert(self, data: bytes, keyframe: bool) -> bytes:
        """One packet → Annex-B access unit; raises :class:`BitstreamError` when malformed."""
        if self.length_size is not None and not data.startswith((b"\x00\x00\x01", START_CODE)):
            units = split_avcc(data, self.length_size)
        else:
            units = split_annexb(data)
            if not keyframe or not self.parameter_sets:
                if not units:
                    raise BitstreamError("no NAL unit in packet")
                # Fast path: already Annex-B, nothing to insert. Learn in-band SPS/PPS.
                if keyframe:
                    self._learn(units)
                return data
        if not units:
            raise BitstreamError("no NAL unit in packet")
        if keyframe:
            types = {u[0] & 0x1F for u in units}
            if NAL_SPS in types and NAL_PPS in types:
                self._learn(units)
            elif self.parameter_sets:
                units = [u for u in units if u[0] & 0x1F != NAL_AUD]
                units = self.parameter_sets + units
        return join_annexb(units)

    def _learn(self, units: list[bytes]) -> None:
        ps = [u for u in units if u[0] & 0x1F in (NAL_SPS, NAL_PPS)]
        if ps:
            self.parameter_sets = ps
