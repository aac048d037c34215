"""JPEG images attached to a face alert: a small thumbnail around the faces and the full
frame with the face boxes drawn.

Frames are HxWx3 uint8 BGR arrays; boxes ``(x, y, w, h)`` in that frame's pixels.
Functions return JPEG bytes (use :func:`to_base64` for the wire) and raise ``ValueError``
if OpenCV cannot encode the image (never happens for a valid frame).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import cv2
import numpy as np

from beholder.worker.detect.base import Frame, check_frame

BoxInt = tuple[int, int, int, int]

THUMBNAIL_QUALITY = 70
SNAPSHOT_QUALITY = 80
SNAPSHOT_MAX_SIDE = 1280
"""The snapshot travels base64-encoded inside a bus message: 1280 px at quality 80 is
~100-250 KB, safely under NATS's default 1 MB max payload even for 4K cameras."""
THUMBNAIL_MARGIN = 0.4
"""Context kept around the faces' union box, as a fraction of its size on each side."""

_BOX_COLOUR = (0, 220, 0)  # BGR green
_TEXT_COLOUR = (0, 0, 0)


def encode_jpeg(image: Frame, quality: int) -> bytes:
    """JPEG bytes of an HxWx3 uint8 BGR ``image`` at ``quality`` (1..100)."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(np.asarray(buf).tobytes())


def to_base64(data: bytes) -> str:
    """Standard base64 text of ``data`` (what the alert's ``thumbnail``/``snapshot`` hold)."""
    return base64.b64encode(data).decode("ascii")


def _fit(image: Frame, max_side: int) -> Frame:
    """``image`` downscaled (never up) so that its longest side is at most ``max_side``."""
    h, w = image.shape[:2]
    scale = max_side / max(w, h)
    if scale >= 1.0:
        return image
    dsize = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(cv2.resize(image, dsize, interpolation=cv2.INTER_AREA))


def thumbnail_jpeg(
    frame_bgr: Frame,
    boxes: Sequence[BoxInt],
    max_side: int = 160,
    quality: int = THUMBNAIL_QUALITY,
) -> bytes:
    """A small JPEG (a few KB) of the region around ``boxes``, longest side <= ``max_side``.

    The crop is the union of the boxes plus :data:`THUMBNAIL_MARGIN` on each side, widened
    towards a square so one face is not a sliver; with no boxes, the whole frame.
    """
    fw, fh = check_frame(frame_bgr)
    crop = frame_bgr
    if boxes:
        x0 = min(b[0] for b in boxes)
        y0 = min(b[1] for b in boxes)
        x1 = max(b[0] + b[2] for b in boxes)
        y1 = max(b[1] + b[3] for b in boxes)
        bw, bh = x1 - x0, y1 - y0
        mx, my = bw * THUMBNAIL_MARGIN, bh * THUMBNAIL_MARGIN
        # widen the shorter side of the crop towards a square
        side = max(bw + 2 * mx, bh + 2 * my)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        cx0 = max(0, round(cx - side / 2))
        cy0 = max(0, round(cy - side / 2))
        cx1 = min(fw, round(cx + side / 2))
        cy1 = min(fh, round(cy + side / 2))
        if cx1 > cx0 and cy1 > cy0:
            crop = frame_bgr[cy0:cy1, cx0:cx1]
    return encode_jpeg(_fit(crop, max_side), quality)


def draw_boxes(frame_bgr: Frame, boxes: Sequence[BoxInt], labels: Sequence[str] = ()) -> Frame:
    """A copy of ``frame_bgr`` with each box outlined and, if given, labelled above it.

    Line width and text size scale with the frame so they stay legible on 4K and 270p.
    """
    fw, fh = check_frame(frame_bgr)
    out = frame_bgr.copy()
    thick = max(1, round(max(fw, fh) / 400))
    font_scale = max(0.4, max(fw, fh) / 1400)
    for i, (x, y, w, h) in enumerate(boxes):
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), _BOX_COLOUR, thick)
        if i < len(labels) and labels[i]:
            (tw, th), base = cv2.getTextSize(labels[i], cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
            # label above the box, or inside it when the box touches the top edge
            ty = y - 3 if y - th - base - 3 >= 0 else y + th + 3
            cv2.rectangle(out, (x, ty - th - 2), (x + tw + 4, ty + base - 1), _BOX_COLOUR, -1)
            cv2.putText(
                out,
                labels[i],
                (x + 2, ty - 1),
                cv2.FONT_HERSHEY_SIMPLEX,
                font_scale,
                _TEXT_COLOUR,
                1,
                cv2.LINE_AA,
            )
    return out


def snapshot_jpeg(
    frame_bgr: Frame,
    boxes: Sequence[BoxInt],
    labels: Sequence[str] = (),
    max_side: int = SNAPSHOT_MAX_SIDE,
    quality: int = SNAPSHOT_QUALITY,
) -> bytes:
    """JPEG of the full frame with ``boxes`` drawn (and ``labels``), longest side
    <= ``max_side`` (boxes are drawn before downscaling, at source resolution)."""
    return encode_jpeg(_fit(draw_boxes(frame_bgr, boxes, labels), max_side), quality)
