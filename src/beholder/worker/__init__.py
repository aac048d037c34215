"""The camera worker role: RTSP ingest, sampling, face detection, status and alerts.

Entry points: :class:`beholder.worker.manager.WorkerManager` (in-process, used by ``serve``)
and :func:`beholder.worker.role.run_worker` (``beholder worker``). This package imports
nothing heavy at import time so that ``beholder.worker.detect`` stays cheap to import.

Modules: ``manager`` (sessions and the bus protocol), ``role`` (``beholder worker``),
``commands`` (a command's camera spec), ``session`` (one camera, loop side), ``status`` (its
status events), ``recovery`` (backoff and reachability probes), ``ingest_run`` (one RTSP
connection on its thread), ``ingest`` (open, classify failures, interrupt), ``decode_policy``,
``stream`` (stream facts and packets, shared with egress), ``fanout`` (packet sinks),
``latest_frame`` (snapshot.jpg), ``stats``, ``metrics``, ``h264``; packages ``detect/``
(detectors, gating, tracking, scheduling) and ``egress/`` (live view).
"""

import os as _os

# The worker parallelises across cameras with its own detection pool (one job per CPU).
# The YuNet build uses OpenMP, whose default of one thread per core *inside* every job
# oversubscribes the CPUs: measured on 2 cores, a 640 px detection takes ~87 ms with one
# OpenMP thread and 0.5-1 s with the default under load. OpenMP reads this when its runtime
# loads, i.e. before ``beholder.worker.detect`` imports the detector; an explicit value from
# the environment wins.
_os.environ.setdefault("OMP_NUM_THREADS", "1")
