"""Mobile relay streams analysed by the worker's built-in face detector (issue 10): the
stream's frames come from the bus, the alerts go back on ``camera.events``.

Modules: :mod:`.jpeg` (bounded JPEG decode), :mod:`.detection` (one stream:
:class:`~beholder.worker.streams.detection.StreamDetection`), :mod:`.manager` (the streams of
a worker and the bus protocol: :class:`~beholder.worker.streams.manager.StreamDetectionManager`).
"""
