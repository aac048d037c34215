"""Never follow an RTSP redirect out of ``BEHOLDER_CAMERA_NETWORKS``.

FFmpeg's RTSP demuxer follows a ``3xx`` answer to OPTIONS, DESCRIBE or SETUP by itself,
inside ``avformat_open_input`` (``libavformat/rtsp.c``, ``ff_rtsp_connect``: log
``"Status %d: Redirecting to %s"`` at INFO, then ``goto redirect``, which resolves and
connects to the new host): checking the camera's address before the open is not enough.
There is no option to turn redirects off, and no callback between that log line and the
new ``connect()``; the interrupt callback is polled only after the SYN is sent.

So the log line is the hook. PyAV delivers FFmpeg's log lines to Python's ``logging`` on
the thread that logs them, synchronously, once its level is at least INFO. A filter on the
``libav.rtsp`` logger reads the target of every redirect on an ingest thread that
:meth:`RedirectGuard.watch` es; a target that is not an IP literal inside the policy (a
host name would be resolved by FFmpeg itself, after our check) is refused there, before
FFmpeg goes on:

1. the thread is forbidden to ``connect()`` (:mod:`beholder._compat.seccomp`), so the new
   connection (and the DNS lookup of a name) fails at once and nothing leaves the machine;
2. the thread's FFmpeg call is interrupted (:meth:`Interrupter.abort_this_thread`), which
   alone, where seccomp is unavailable, still stops it before a byte of RTSP is sent;
3. the watch records why, and :func:`~beholder.worker.ingest.open_input` reports
   ``PERMISSION_DENIED``.

Side effects on the process (:meth:`RedirectGuard.install`, idempotent): PyAV's log level
becomes INFO with repeated lines delivered (a repeated redirect must still be seen), and
the ``libav`` logger no longer propagates to the application's handlers, so FFmpeg's own
lines stay out of the log as they were under PyAV's default (they can hold camera URLs).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import av.logging
import structlog

from beholder._compat import seccomp, warn_once
from beholder._compat.av import Interrupter
from beholder.camera_networks import NetworkPolicy
from beholder.rtsp_url import mask_rtsp_url

log = structlog.get_logger(__name__)

_REDIRECT = re.compile(r"Redirecting to (\S+)")
_LOGGER = "libav.rtsp"


class RedirectWatch:
    """The redirects of one open on one thread. ``refused``: why a redirect was refused
    (a sentence for operators and the log, no credentials), or None. ``followed``: the
    (masked) targets that were allowed."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self.policy = policy
        self.refused: str | None = None
        self.followed: list[str] = []

    def on_redirect(self, target: str) -> None:
        """Judge one redirect target (on the thread FFmpeg runs on)."""
        reason = self._judge(target)
        if reason is None:
            self.followed.append(mask_rtsp_url(target))
            return
        self.refused = reason
        if not seccomp.deny_connect_in_this_thread():
            warn_once(
                "seccomp.redirect",
                "seccomp is unavailable: a refused RTSP redirect is stopped after FFmpeg's "
                "connect() (no RTSP request is sent, but a TCP handshake may happen)",
            )
        Interrupter.abort_this_thread()

    def _judge(self, target: str) -> str | None:
        try:
            host = urlsplit(target).hostname or ""
        except ValueError:
            return "the camera redirected to an address that is not a valid URL"
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return (
                "the camera redirected to a host name "
                f"({host or 'none'}); only redirects to an allowed IP address are followed"
            )
        if not self.policy.allows(address):
            return f"the camera redirected to {address}, outside BEHOLDER_CAMERA_NETWORKS"
        return None


class _Filter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        match = _REDIRECT.search(record.getMessage())
        if match is not None:
            watch = RedirectGuard._watches.get(threading.get_ident())
            if watch is not None:
                watch.on_redirect(match.group(1))
        return False  # FFmpeg's lines may hold URLs: never passed on


class RedirectGuard:
    """Process-wide hook (see the module docstring)."""

    _watches: dict[int, RedirectWatch] = {}
    _lock = threading.Lock()
    _filter = _Filter()

    @classmethod
    def install(cls) -> None:
        """Route FFmpeg's INFO lines to the ``libav.rtsp`` filter (idempotent; cheap, so
        called before every open in case something reset PyAV's log level)."""
        level = av.logging.get_level()
        if level is None or level < av.logging.INFO:
            av.logging.set_level(av.logging.INFO)
        if av.logging.get_skip_repeated():
            av.logging.set_skip_repeated(False)
        root = logging.getLogger("libav")
        root.propagate = False
        rtsp = logging.getLogger(_LOGGER)
        if rtsp.level != logging.INFO:
            rtsp.setLevel(logging.INFO)
        if cls._filter not in rtsp.filters:
            rtsp.addFilter(cls._filter)

    @classmethod
    @contextlib.contextmanager
    def watch(cls, policy: NetworkPolicy) -> Iterator[RedirectWatch]:
        """While inside, redirects FFmpeg follows on the calling thread are judged against
        ``policy``; the :class:`RedirectWatch` tells what happened."""
        cls.install()
        ident = threading.get_ident()
        watch = RedirectWatch(policy)
        with cls._lock:
            cls._watches = {**cls._watches, ident: watch}  # copy-on-write: readers never lock
        try:
            yield watch
        finally:
            with cls._lock:
                cls._watches = {k: v for k, v in cls._watches.items() if k != ident}


__all__ = ["RedirectGuard", "RedirectWatch"]
