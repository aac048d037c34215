"""Face detection: detectors (``yunet``, ``haar``), the per-camera
:class:`~beholder.worker.detect.pipeline.DetectionPipeline` and ``beholder detect``.

Only the light interface is imported here; import ``beholder.worker.detect.pipeline``
for the pipeline (kept out to avoid an import cycle with ``beholder.worker.tracker``) and
``beholder.worker.detect.isolated`` for a detector that runs in a child process.
"""

from beholder.worker.detect.base import DETECTORS, Detector, Face, create_detector, detect_scaled

__all__ = ["DETECTORS", "Detector", "Face", "create_detector", "detect_scaled"]
