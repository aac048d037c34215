"""A real RTSP camera for tests: the GStreamer RTSP server fixture (under
``/usr/bin/python3``) serving copies of the test clips, private servers a test may kill, and a
port that answers garbage. Tests using them are marked ``rtsp``."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from fixtures.rtsp_server import MEDIA_DIR, SYSTEM_PYTHON, JunkServer, RtspServer

__all__ = [
    "TWO_FACES",
    "WALKING",
    "JunkServer",
    "RtspServer",
    "rtsp_fixture",
    "rtsp_fixture_or_skip",
]

TWO_FACES = MEDIA_DIR / "headpose-two-faces.mp4"  # Constrained Baseline, 12 fps, no B-frames
WALKING = MEDIA_DIR / "people-walking-one-by-one.mp4"  # Main, 10 fps, B-frames

CLIPS = {
    "two": "headpose-two-faces.mp4",  # 2 faces, Constrained Baseline 12 fps, GOP 1 s
    "walk": "people-walking-one-by-one.mp4",  # Main with B-frames, 10 fps
    "street": "street-cars-no-faces.mp4",  # no faces, Baseline 12.5 fps, GOP 4.8 s, AAC
}
"""Mount name → clip in ``MEDIA_DIR`` of the shared :func:`rtsp_camera`."""


def rtsp_available() -> bool:
    """True when the system Python has GStreamer's RTSP server bindings."""
    try:
        subprocess.run(
            [
                SYSTEM_PYTHON,
                "-c",
                "import gi; gi.require_version('GstRtspServer', '1.0');"
                "from gi.repository import GstRtspServer",
            ],
            check=True,
            capture_output=True,
            timeout=20,
        )
        return True
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.fixture(scope="session")
def rtsp_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Copies of the test clips (never served from the read-only shared dir by path)."""
    out = tmp_path_factory.mktemp("rtsp-media")
    media: dict[str, Path] = {}
    for key, name in CLIPS.items():
        src = MEDIA_DIR / name
        if not src.is_file():
            pytest.skip(f"test media missing: {src}")
        media[key] = Path(shutil.copy(src, out / name))
    return media


@pytest.fixture(scope="session")
def rtsp_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., RtspServer]]:
    """``make(mounts, **kw) -> RtspServer`` (started); every server is stopped at the end."""
    if not rtsp_available():
        pytest.skip("GStreamer RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0) missing")
    logs = tmp_path_factory.mktemp("rtsp-logs")
    servers: list[RtspServer] = []

    def make(mounts: dict[str, Path], **kw: Any) -> RtspServer:
        kw.setdefault("log_path", logs / f"server-{len(servers)}.log")
        server = RtspServer(mounts, **kw)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def rtsp_camera(
    rtsp_server_factory: Callable[..., RtspServer], rtsp_media: dict[str, Path]
) -> RtspServer:
    """One long-lived server with mounts ``two``, ``walk``, ``street``. Never kill it in a
    test: use :func:`rtsp_private_camera` for that."""
    return rtsp_server_factory(dict(rtsp_media))


@pytest.fixture
def rtsp_private_camera(
    rtsp_server_factory: Callable[..., RtspServer], rtsp_media: dict[str, Path]
) -> Iterator[RtspServer]:
    """A server of this test alone (mount ``two``): stop/restart/pause it freely."""
    server = rtsp_server_factory({"two": rtsp_media["two"]})
    yield server
    server.resume()
    server.stop()


@pytest.fixture
def rtsp_junk() -> Iterator[JunkServer]:
    """A TCP port that answers garbage instead of RTSP."""
    with JunkServer() as junk:
        yield junk


def rtsp_fixture(**mounts: Path) -> Any:
    """A module-scoped ``rtsp`` fixture: the RTSP fixture server with ``mounts`` (mount name
    → media file). Use as ``rtsp = rtsp_fixture(two=TWO_FACES)`` in a test module."""

    @pytest.fixture(scope="module", name="rtsp")
    def _rtsp() -> Iterator[RtspServer]:
        with RtspServer(mounts) as server:
            yield server

    return _rtsp


def rtsp_fixture_or_skip(mounts: Mapping[str, Path]) -> Any:
    """:func:`rtsp_fixture` for the browser tests: the module's tests skip, rather than fail,
    when :data:`SYSTEM_PYTHON` is missing or the server does not start (``RuntimeError``,
    ``OSError``). ``mounts``: mount name → media file. Use as
    ``rtsp = rtsp_fixture_or_skip({"faces": TWO_FACES})`` in a test module."""

    @pytest.fixture(scope="module", name="rtsp")
    def _rtsp() -> Iterator[RtspServer]:
        if not Path(SYSTEM_PYTHON).exists():
            pytest.skip("system python3 (for the GStreamer RTSP server) is missing")
        server = RtspServer(mounts)
        try:
            server.start()
        except (RuntimeError, OSError) as exc:
            pytest.skip(f"RTSP fixture unavailable: {exc}")
        yield server
        server.stop()

    return _rtsp
