"""JPEG frames of relay streams: the size read from the header (no decode) and a bounded
decode into the detector's frame format (HxWx3 uint8 BGR, see :mod:`beholder.worker.detect.base`).

A phone chooses what it sends, so the size a JPEG *claims* is checked before any pixel is
allocated: a 2 MiB file may claim 65535 x 65535 pixels (12 GiB decoded).
"""

from __future__ import annotations

import cv2
import numpy as np

from beholder.worker.detect.base import Frame

MAX_SIDE = 8192
"""Largest width or height accepted, pixels (the REST ``resolution`` metadata bound)."""

_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
"""Start-of-frame markers (baseline, progressive, lossless, arithmetic): they carry the size."""
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
"""Markers with no length field (TEM, RSTn)."""


class BadJpeg(ValueError):
    """Not a JPEG this worker will decode; ``str()`` says why (safe to log)."""


def jpeg_size(data: bytes | memoryview) -> tuple[int, int]:
    """``(width, height)`` from the first start-of-frame segment of a JPEG, without decoding.

    Raises :class:`BadJpeg` when ``data`` does not start with SOI (``FF D8``), has no SOF
    segment before the image data, or a segment runs past the end.
    """
    view = memoryview(data)
    n = len(view)
    if n < 4 or view[0] != 0xFF or view[1] != 0xD8:
        raise BadJpeg("no JPEG start-of-image marker")
    i = 2
    while i + 4 <= n:
        if view[i] != 0xFF:
            raise BadJpeg(f"expected a marker at byte {i}")
        marker = view[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI / start of scan before any SOF
            break
        length = (view[i + 2] << 8) | view[i + 3]
        if length < 2 or i + 2 + length > n:
            raise BadJpeg("a JPEG segment runs past the end of the data")
        if marker in _SOF:
            if length < 7:
                raise BadJpeg("truncated start-of-frame segment")
            height = (view[i + 5] << 8) | view[i + 6]
            width = (view[i + 7] << 8) | view[i + 8]
            return width, height
        i += 2 + length
    raise BadJpeg("no start-of-frame segment")


def decode_jpeg(data: bytes | memoryview, max_side: int = MAX_SIDE) -> Frame:
    """Decode a JPEG into an HxWx3 uint8 BGR frame (blocking CPU work: call off the loop).

    Raises :class:`BadJpeg` when the header is malformed, the claimed size is 0 or larger
    than ``max_side`` on a side, or OpenCV cannot decode the data (truncated, corrupt).
    """
    width, height = jpeg_size(data)
    if not (1 <= width <= max_side and 1 <= height <= max_side):
        raise BadJpeg(f"JPEG size {width}x{height} outside 1..{max_side}")
    buf = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None or img.ndim != 3 or img.shape[2] != 3:
        raise BadJpeg("the JPEG data could not be decoded")
    return np.asarray(img, dtype=np.uint8)
