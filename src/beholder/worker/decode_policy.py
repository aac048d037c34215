"""What to decode: the decoder needs every packet only when the stream makes it.

:class:`DecodePolicy` runs on a camera's ingest thread, packet by packet (pure Python, no
PyAV): sampling at ``sample_fps`` decodes keyframes only when that is enough.
"""

from __future__ import annotations

from collections import deque


class DecodePolicy:
    """Decides which packets the decoder needs for sampling at ``sample_interval`` seconds.

    * ``keyframes``: no B-frames and the keyframe interval (GOP) is at most the sample
      interval: decode keyframes only; every keyframe is a sample candidate.
    * ``all``: otherwise (long GOP, B-frames, or GOP not learnt yet): decode every packet so
      that the decoder keeps its reference frames; only sampled frames are converted.

    The GOP is learnt from the stream (two consecutive keyframes) and re-checked on each
    keyframe, so a camera that changes its GOP is followed.
    """

    KEYFRAMES = "keyframes"
    ALL = "all"

    def __init__(self, sample_interval: float, *, b_frames: bool) -> None:
        self.sample_interval = sample_interval
        self.b_frames = b_frames
        self.gop_s: float | None = None
        self._gops: deque[float] = deque(maxlen=4)
        self._last_key_t: float | None = None
        self.mode = self.ALL
        self._need_key = False

    def observe(self, is_key: bool, t: float | None, pts_ne_dts: bool) -> None:
        """Feed one packet's keyframe flag, time (s, pts-based or arrival) and reorder hint."""
        if pts_ne_dts:
            self.b_frames = True
        if is_key and t is not None:
            if self._last_key_t is not None and t > self._last_key_t:
                self._gops.append(t - self._last_key_t)
                # The longest of the last few GOPs decides: one short GOP (an encoder's
                # scene-cut IDR, a looping source) must not switch to keyframes-only and
                # then miss samples for a whole long GOP.
                self.gop_s = max(self._gops)
            self._last_key_t = t
            self.mode = (
                self.KEYFRAMES
                if not self.b_frames
                and self.gop_s is not None
                and self.gop_s <= self.sample_interval * 1.05
                else self.ALL
            )

    def should_decode(self, is_key: bool) -> bool:
        """True if this packet must go through the decoder."""
        return is_key or self.mode == self.ALL
