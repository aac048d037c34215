"""PyAV: abort a thread's blocked FFmpeg call on demand (a speed hook: fails open, warns once).

PyAV's FFmpeg interrupt callback aborts a blocking call when ``time.monotonic()`` passes
``start + timeout``; there is no public way to abort on demand. The hook replaces the
``time`` module *inside* ``av.container.core`` (a private module attribute) with
:class:`_InterruptClock`. Without it a stop still works: it waits for the read timeout.
Verified against PyAV 18 (``tests/unit/test_compat.py``).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator
from typing import Any

from beholder._compat import warn_once


class _InterruptClock:
    """Stand-in for the ``time`` module inside ``av.container.core``.

    The interrupt callback runs on the thread that is blocked (FFmpeg polls it every
    ~100 ms while waiting for the network), so a clock that jumps forward *for that thread
    only*, once its stop event is set, aborts exactly that session's open/read with
    ``av.error.ExitError``. Every other thread sees the real clock. Threads register
    themselves (see :meth:`Interrupter.watch`), so an entry can never outlive its thread and
    hit a later thread that reuses the ident.
    """

    def __init__(self, real: Any) -> None:
        self._real = real
        self._events: dict[int, threading.Event] = {}
        self._bump = itertools.count(1)

    def monotonic(self) -> float:
        now: float = self._real.monotonic()
        if self._events:
            ev = self._events.get(threading.get_ident())
            if ev is not None and ev.is_set():
                # Strictly increasing huge jumps: "start" and "now" are taken by two calls,
                # so now - start exceeds any timeout.
                return now + 1e7 * next(self._bump)
        return now

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def register(self, ident: int, event: threading.Event) -> None:
        self._events = {**self._events, ident: event}  # copy-on-write: readers never lock

    def unregister(self, ident: int) -> None:
        self._events = {k: v for k, v in self._events.items() if k != ident}


_TRIPPED = threading.Event()
_TRIPPED.set()


class Interrupter:
    """Lets a thread's blocking PyAV calls be aborted by setting an event.

    Only effective for containers opened with a ``timeout`` (PyAV installs its interrupt
    callback only then). If a future PyAV changes its internals, :meth:`install` logs one
    warning, :meth:`available` is False and a stop waits for the read timeout instead.
    """

    _clock: _InterruptClock | None = None
    _install_lock = threading.Lock()

    @classmethod
    def install(cls) -> bool:
        """Put the per-thread clock in place (idempotent); False if PyAV changed."""
        with cls._install_lock:
            if cls._clock is not None:
                return True
            core: Any = None
            with contextlib.suppress(ImportError):  # PyAV moved its container module
                import av.container.core

                core = av.container.core
            real = getattr(core, "time", None)
            if real is None or not hasattr(real, "monotonic"):
                warn_once(
                    "av.interrupt",
                    "PyAV internals changed (av.container.core.time); stopping a camera "
                    "waits for its read timeout instead of returning at once",
                )
                return False
            cls._clock = real if isinstance(real, _InterruptClock) else _InterruptClock(real)
            setattr(core, "time", cls._clock)  # noqa: B010 - see _InterruptClock
            return True

    @classmethod
    def available(cls) -> bool:
        """True once :meth:`install` succeeded in this process."""
        return cls._clock is not None

    @classmethod
    def active(cls) -> bool:
        """True when PyAV's container module currently reads time through the hook."""
        import av.container.core as core

        return cls._clock is not None and getattr(core, "time", None) is cls._clock

    @classmethod
    def abort_this_thread(cls) -> bool:
        """Make the calling thread's current FFmpeg call return at its next interrupt check,
        as if its stop event were set (without setting it). Only inside :meth:`watch`;
        False when the hook is not installed."""
        clock = cls._clock
        if clock is None or threading.get_ident() not in clock._events:
            return False
        clock.register(threading.get_ident(), _TRIPPED)
        return True

    @classmethod
    @contextlib.contextmanager
    def watch(cls, stop: threading.Event) -> Iterator[None]:
        """While inside, the calling thread's FFmpeg calls abort once ``stop`` is set."""
        clock = cls._clock
        ident = threading.get_ident()
        if clock is not None:
            clock.register(ident, stop)
        try:
            yield
        finally:
            if clock is not None:
                clock.unregister(ident)


__all__ = ["Interrupter"]
