"""A detector that runs in a child process, so a fault in native detector code stays there.

Why: the detectors are third-party native code. The yunet wheel's own Python wrapper leaked
a copy of every frame (issue 13); we now call its library directly (see
:mod:`beholder.worker.detect.yunet`, which also releases the GIL), but a leak or a crash in
native code we do not own must never take down the api, hub and live view of
``beholder serve``. :class:`SubprocessDetector` sends each frame over a pipe (~1 ms for
640x360) to a ``spawn``-ed child running the real detector; the calling thread waits with
the GIL released.

Second line of defence against leaks: the child is **recycled** after ``max_calls`` calls
or once its RSS passes ``max_rss_mb`` (checked every :data:`RSS_CHECK_EVERY` calls). The
replacement is started right after the call that hit the limit returned, so no frame is
lost to a recycle; the next call waits for the new child to be ready (~1 s).

One child serves one call at a time (calls are serialized by a lock); create one per
thread for parallelism. A child that dies is restarted on the next call.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from multiprocessing.connection import Connection
from typing import Any

import psutil
import structlog

from beholder.worker import metrics
from beholder.worker.detect import DETECTORS
from beholder.worker.detect.base import Face, Frame, check_frame

log = structlog.get_logger(__name__)

_START_TIMEOUT_S = 60.0
RSS_CHECK_EVERY = 50
"""Calls between two RSS reads of the child (a read costs ~50 us)."""


def _serve(conn: Connection, name: str, threshold: float | None) -> None:
    """Child process main loop: ``frame -> ("ok", [(x, y, w, h, conf), ...])``."""
    try:
        from beholder.worker.detect import create_detector

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

    ``max_calls``: recycle the child after this many calls (``None``/0: never).
    ``max_rss_mb``: recycle it once its resident memory exceeds this (``None``/0: never).
    ``recycles`` counts the recycles, ``calls`` the calls served by the current child.

    Raises ``ValueError`` for an unknown name or threshold (like :func:`create_detector`)
    and ``RuntimeError`` if the child cannot start. Call :meth:`close` when done (also
    done at interpreter exit: the child is a daemon process).
    """

    def __init__(
        self,
        name: str = "yunet",
        threshold: float | None = None,
        *,
        max_calls: int | None = None,
        max_rss_mb: float | None = None,
    ) -> None:
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
        self.max_calls = max_calls or None
        self.max_rss_bytes = int(max_rss_mb * 2**20) if max_rss_mb else None
        self.calls = 0
        self.recycles = 0
        self._ready = False
        with self._lock:
            self._spawn()
            self._await_ready()

    def _spawn(self) -> None:
        """Start a child (returns at once; :meth:`_await_ready` waits for its hello)."""
        # spawn, not fork: forking a process with threads (asyncio, PyAV, OpenCV pools)
        # can deadlock the child on a lock some other thread held.
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_serve, args=(child, *self._args), daemon=True, name="beholder-detector"
        )
        proc.start()
        child.close()
        self._proc, self._conn, self._ready = proc, parent, False
        self.calls = 0

    def _await_ready(self) -> None:
        proc, conn = self._proc, self._conn
        assert proc is not None and conn is not None
        try:
            if not conn.poll(_START_TIMEOUT_S):
                raise RuntimeError("the detector process did not start in time")
            msg = conn.recv()
        except (EOFError, OSError) as exc:
            self._close_locked()
            raise RuntimeError("the detector process died while starting") from exc
        except RuntimeError:
            self._close_locked()
            raise
        if msg[0] != "ready":
            self._close_locked()
            text = str(msg[1])
            if text.startswith("ValueError: "):
                raise ValueError(text.removeprefix("ValueError: "))
            raise RuntimeError(f"the detector process failed to start: {text}")
        _, self.name, self.input_size = msg
        self._ready = True

    @property
    def pid(self) -> int | None:
        """Process id of the current child (``None`` between a close and the next call)."""
        return int(self._proc.pid) if self._proc is not None else None

    def _due_for_recycle(self) -> str | None:
        if self.max_calls is not None and self.calls >= self.max_calls:
            return "calls"
        if self.max_rss_bytes is not None and self.calls % RSS_CHECK_EVERY == 0:
            try:
                rss = psutil.Process(self._proc.pid).memory_info().rss
            except (psutil.Error, AttributeError):
                return None
            if rss > self.max_rss_bytes:
                return "rss"
        return None

    def detect(self, frame_bgr: Frame) -> list[Face]:
        """Faces in ``frame_bgr`` (HxWx3 uint8 BGR), as the wrapped detector finds them.

        Raises ``ValueError`` for a malformed frame, ``RuntimeError`` if the child died
        during the call (it is restarted on the next call).
        """
        check_frame(frame_bgr)
        with self._lock:
            if self._conn is None or self._proc is None or not self._proc.is_alive():
                self._close_locked()
                self._spawn()
            if not self._ready:
                self._await_ready()
            assert self._conn is not None
            try:
                self._conn.send(frame_bgr)
                reply = self._conn.recv()
            except (EOFError, OSError) as exc:
                self._close_locked()
                raise RuntimeError("the detector process died") from exc
            self.calls += 1
            reason = self._due_for_recycle()
            if reason is not None:
                # The reply is in hand, so no frame is lost; the new child starts now and
                # the next call waits for it to be ready.
                log.info("recycling the detector process", reason=reason, calls=self.calls)
                self._close_locked()
                self.recycles += 1
                metrics.DETECTOR_RECYCLES.inc()
                self._spawn()
        kind, payload = reply
        if kind == "ok":
            return [Face(int(x), int(y), int(w), int(h), float(c)) for x, y, w, h, c in payload]
        if kind == "value-error":
            raise ValueError(payload)
        raise RuntimeError(f"detector failed: {payload}")

    def _close_locked(self) -> None:
        self._ready = False
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
