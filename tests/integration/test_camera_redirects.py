"""RTSP redirects never lead the worker out of ``BEHOLDER_CAMERA_NETWORKS`` (issue 9,
finding 3): FFmpeg follows a ``302`` to DESCRIBE by itself; a target outside the allowed
networks (or a host name, which FFmpeg would resolve itself) is refused before FFmpeg
connects (the target's listening socket sees nothing), and the camera reports
``PERMISSION_DENIED``. Controls show the same redirect is followed when allowed."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from support.polling import eventually
from support.settings import make_camera_settings
from support.sockets import RedirectingCamera, listener, pending


@pytest.fixture
def redirect_target() -> Iterator[tuple[socket.socket, str]]:
    """A listener on 127.0.0.2 (loopback, refused unless 127.0.0.0/8 is allowed)."""
    with listener("127.0.0.2") as sock:
        yield sock, f"rtsp://127.0.0.2:{sock.getsockname()[1]}/stolen"


async def test_a_redirect_out_of_the_allowed_networks_is_not_followed(
    worker_harness: Callable[..., Any], redirect_target: tuple[socket.socket, str]
) -> None:
    sock, target = redirect_target
    camera = RedirectingCamera(target)
    try:
        h = await worker_harness(camera=make_camera_settings("127.0.0.1/32"), backoff_max=0.5)
        await h.start_camera("redir", camera.url())
        err = await h.wait_for(
            "redir", "ERROR", timeout=15, where=lambda e: e.error_code == "PERMISSION_DENIED"
        )
        assert err.details is not None and "redirected to 127.0.0.2" in err.details
        assert camera.describes >= 1
        # Another attempt, refused the same way (a repeated redirect is still seen).
        mark = len(h.events)
        await h.wait_for(
            "redir",
            "ERROR",
            after=mark,
            timeout=15,
            where=lambda e: e.error_code == "PERMISSION_DENIED",
        )
        assert not pending(sock), "the worker followed the redirect to a refused address"
    finally:
        camera.close()


async def test_a_redirect_to_a_host_name_is_not_followed(
    worker_harness: Callable[..., Any],
) -> None:
    with listener() as sock:
        camera = RedirectingCamera(f"rtsp://localhost:{sock.getsockname()[1]}/x")
        try:
            # Loopback allowed: the name would pass a check, but FFmpeg would resolve it itself.
            h = await worker_harness(camera=make_camera_settings("127.0.0.0/8"))
            await h.start_camera("named", camera.url())
            err = await h.wait_for(
                "named", "ERROR", timeout=15, where=lambda e: e.error_code == "PERMISSION_DENIED"
            )
            assert err.details is not None and "host name" in err.details
            assert not pending(sock)
        finally:
            camera.close()


async def test_control_an_allowed_redirect_is_followed(
    worker_harness: Callable[..., Any], redirect_target: tuple[socket.socket, str]
) -> None:
    """The same redirect with 127.0.0.0/8 allowed reaches the target: the refusal above is
    the guard's doing, not a redirect FFmpeg would not have followed."""
    sock, target = redirect_target
    camera = RedirectingCamera(target)
    try:
        h = await worker_harness(camera=make_camera_settings("127.0.0.0/8"))
        await h.start_camera("followed", camera.url())
        await eventually(lambda: pending(sock), 15, "FFmpeg to follow the redirect")
    finally:
        camera.close()


async def test_control_the_name_connects_when_loopback_is_allowed(
    worker_harness: Callable[..., Any],
) -> None:
    """``localhost`` with 127.0.0.0/8 allowed is connected to: the refusal above is the
    policy's doing."""
    with listener() as sock:
        h = await worker_harness(camera=make_camera_settings("127.0.0.0/8,::1/128"))
        await h.start_camera("local", f"rtsp://localhost:{sock.getsockname()[1]}/x")
        await eventually(lambda: pending(sock), 15, "the worker to connect")
