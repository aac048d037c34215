"""A stand-in phone for Beholder's mobile relay: streams a video file (or a webcam) as JPEG
frames and prints the alerts that come back.

The flow (docs/MOBILE_CLIENT.md explains each step):

1. **sign in**: ``POST /api/auth/login`` (username + password → access token), or use an API
   key with scope ``mobile`` (``X-API-Key`` header; created under Settings → API keys);
2. **register the stream**: ``POST /api/streams/register {deviceName, deviceType, metadata}``
   → ``201 {streamId, …}`` (or reuse one with ``--stream-id``);
3. **connect** to ``ws(s)://<host>/api/streams/ws`` and send ``{"type": "auth", "token"}``
   first → ``auth-ok``;
4. ``{"type": "register", "clientType": "mobile", "streamId", "produces": ["video"],
   "consumes": ["alerts"]}`` → ``registered``;
5. **frames**: binary WebSocket messages, a 28-byte header (version 1, codec 1 = JPEG,
   flags 0, the stream id's 16 bytes, the capture time in unix ms as uint64, all
   big-endian) then the JPEG bytes (``--json`` sends ``video-frame`` JSON with base64 data);
6. **alerts** arrive as ``{"type": "alert", …}`` text messages; the server's ``ping`` is
   answered with ``pong``.

A lost connection is retried with exponential backoff and full jitter (1 s doubling to
30 s, reset once registered again); the client stops for good when the stream is deleted
(close 4404), another phone took over the stream (4409), or the credentials are refused
(1008 / 4401) and cannot be renewed.

Usage::

    python examples/mobile_client.py --url http://127.0.0.1:8080 \\
        --username alice --password '…' --video clip.mp4 --fps 10 --width 640
    BEHOLDER_API_KEY=bhk_… python examples/mobile_client.py --webcam /dev/video0

Needs the project's environment (``websockets``, ``httpx``, PyAV, OpenCV).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import av
import cv2
import httpx
import numpy as np
import websockets
from websockets.asyncio.client import ClientConnection

from beholder.contracts.relay_frame import encode_frame

FINAL_CLOSE_CODES = {4404: "the stream was deleted", 4409: "another producer took over"}
"""Close codes after which reconnecting would be wrong."""
AUTH_CLOSE_CODES = {1008, 4401}
"""Refused credentials: renew them (log in again) once, else stop."""


class Stop(Exception):
    """The client must not reconnect; ``str()`` says why."""


# -- frames --------------------------------------------------------------------------------


def jpeg_frames(
    source: str,
    *,
    fps: float,
    width: int | None = None,
    height: int | None = None,
    quality: int = 80,
    loop: bool = True,
    input_format: str | None = None,
) -> Iterator[bytes]:
    """JPEG frames of a video file or a capture device at ``fps`` (frames of the source are
    skipped or repeated to keep its pace), resized to ``width`` x ``height`` (one of them
    alone keeps the aspect ratio). ``input_format``: PyAV/FFmpeg device format for a webcam
    (``v4l2`` on Linux, ``avfoundation`` on macOS, ``dshow`` on Windows). ``loop``: start a
    file over at its end. Blocking: iterate it off the event loop."""
    while True:
        with av.open(source, format=input_format) as container:
            stream = container.streams.video[0]
            rate = float(stream.average_rate or 0) or fps
            step = rate / fps  # source frames per output frame
            next_index = 0.0
            for index, frame in enumerate(container.decode(stream)):
                if index + 1e-9 < next_index:
                    continue
                while next_index <= index:
                    next_index += step
                img = np.asarray(frame.to_ndarray(format="bgr24"), np.uint8)
                yield encode_jpeg(img, width, height, quality)
        if not loop or input_format is not None:
            return


def encode_jpeg(img: np.ndarray, width: int | None, height: int | None, quality: int) -> bytes:
    """``img`` (HxWx3 BGR) resized to ``width`` x ``height`` (aspect kept when only one is
    given) and encoded as a JPEG at ``quality`` (1..100)."""
    h, w = img.shape[:2]
    if width or height:
        tw = width or round(w * (height or h) / h)
        th = height or round(h * tw / w)
        if (tw, th) != (w, h):
            img = cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buf.tobytes())


# -- REST ----------------------------------------------------------------------------------


@dataclass
class Credentials:
    """An API key (``X-API-Key``), or a username and password exchanged for an access token
    at ``/api/auth/login`` (again when it was refused)."""

    api_key: str | None = None
    username: str | None = None
    password: str | None = None
    access_token: str | None = None

    def headers(self) -> dict[str, str]:
        if self.api_key:
            return {"X-API-Key": self.api_key}
        return {"Authorization": f"Bearer {self.access_token}"}

    @property
    def token(self) -> str:
        """What the WebSocket ``auth`` message carries."""
        token = self.api_key or self.access_token
        if not token:
            raise Stop("not signed in")
        return token

    @property
    def renewable(self) -> bool:
        return self.username is not None and self.password is not None

    async def sign_in(self, http: httpx.AsyncClient) -> None:
        """Log in with the username and password (no-op for an API key); raises
        ``httpx.HTTPStatusError`` when refused."""
        if self.api_key:
            return
        r = await http.post(
            "/api/auth/login", json={"username": self.username, "password": self.password}
        )
        r.raise_for_status()
        self.access_token = r.json()["accessToken"]


async def register_stream(
    http: httpx.AsyncClient,
    creds: Credentials,
    device_name: str,
    device_type: str = "python",
    metadata: dict[str, Any] | None = None,
) -> str:
    """``POST /api/streams/register``; returns the new stream's id. Raises
    ``httpx.HTTPStatusError`` (401 signed out, 403 wrong key scope, 422 invalid fields)."""
    body: dict[str, Any] = {"deviceName": device_name, "deviceType": device_type}
    if metadata:
        body["metadata"] = metadata
    r = await http.post("/api/streams/register", json=body, headers=creds.headers())
    r.raise_for_status()
    return str(r.json()["streamId"])


def ws_url(base_url: str) -> str:
    """The relay's WebSocket URL for an http(s) base URL."""
    scheme, rest = base_url.rstrip("/").split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/api/streams/ws"


def backoff_delay(attempt: int, base: float = 1.0, cap: float = 30.0) -> float:
    """Seconds to wait before reconnect ``attempt`` (1, 2, …): full jitter, uniform in
    ``0 .. min(cap, base * 2**(attempt-1))``, so phones that lost the server at the same
    moment do not all come back at the same moment."""
    return random.uniform(0.0, min(cap, base * 2 ** (attempt - 1)))  # noqa: S311 - jitter


# -- the client ----------------------------------------------------------------------------


@dataclass
class MobileClient:
    """Streams ``frames`` to stream ``stream_id`` at ``fps`` and calls ``on_alert`` with
    each ``alert`` message (a dict, camelCase) received. ``binary``: frames as binary
    messages (else JSON with base64). ``max_frames``: stop after sending that many
    (``None``: until the frames run out or :meth:`stop`)."""

    base_url: str
    creds: Credentials
    stream_id: str
    frames: Iterator[bytes]
    fps: float = 10.0
    binary: bool = True
    max_frames: int | None = None
    on_alert: Callable[[dict[str, Any]], None] = print
    on_message: Callable[[dict[str, Any]], None] | None = None
    http: httpx.AsyncClient | None = None
    frames_sent: int = field(default=0, init=False)
    connections: int = field(default=0, init=False)
    alerts: list[dict[str, Any]] = field(default_factory=list, init=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _registered: bool = field(default=False, init=False)

    def stop(self) -> None:
        """Finish the current frame and close the connection."""
        self._stopping.set()

    async def run(self) -> None:
        """Connect, stream and reconnect until done. Raises :class:`Stop` for a final
        refusal (stream deleted, producer replaced, credentials refused)."""
        attempt = 0
        renewed = False
        while not self._stopping.is_set() and not self._out_of_frames():
            try:
                await self._session()
                return  # the frames ran out or stop() was called
            except websockets.ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
                if code in FINAL_CLOSE_CODES:
                    raise Stop(f"closed {code}: {FINAL_CLOSE_CODES[code]}") from None
                if code in AUTH_CLOSE_CODES:
                    if renewed or not self.creds.renewable or self.http is None:
                        raise Stop(f"closed {code}: credentials refused") from None
                    await self.creds.sign_in(self.http)  # the access token expired
                    renewed = True
                    continue
                why = f"closed {code}"
            except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                why = f"{type(exc).__name__}: {exc}"
            if self._registered:  # it worked until now: start the backoff over
                attempt, renewed, self._registered = 0, False, False
            attempt += 1
            delay = backoff_delay(attempt)
            print(f"connection lost ({why}); retrying in {delay:.1f} s", file=sys.stderr)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    def _out_of_frames(self) -> bool:
        return self.max_frames is not None and self.frames_sent >= self.max_frames

    async def _session(self) -> None:
        async with websockets.connect(
            ws_url(self.base_url), max_size=4 * 1024 * 1024, ping_interval=None
        ) as ws:
            self.connections += 1
            await ws.send(json.dumps({"type": "auth", "token": self.creds.token}))
            await self._expect(ws, "auth-ok")
            await ws.send(
                json.dumps(
                    {
                        "type": "register",
                        "clientType": "mobile",
                        "streamId": self.stream_id,
                        "produces": ["video"],
                        "consumes": ["alerts"],
                    }
                )
            )
            await self._expect(ws, "registered")
            self._registered = True
            receiver = asyncio.create_task(self._receive(ws))
            try:
                await self._send_frames(ws, receiver)
            finally:
                if not receiver.done():
                    receiver.cancel()
                with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                    await receiver
            if receiver.done() and not receiver.cancelled():
                await ws.recv()  # the server closed: raises ConnectionClosed with its code

    async def _expect(self, ws: ClientConnection, kind: str) -> dict[str, Any]:
        """The next message, which must be ``kind`` (an ``error`` raises :class:`Stop`)."""
        async with asyncio.timeout(15):
            while True:
                msg = json.loads(await ws.recv())
                if msg.get("type") == kind:
                    return dict(msg)
                if msg.get("type") == "error":
                    raise Stop(f"refused: {msg['error']['code']}: {msg['error']['message']}")

    async def _send_frames(self, ws: ClientConnection, receiver: asyncio.Task[None]) -> None:
        period = 1.0 / self.fps
        next_at = time.monotonic()
        while not self._stopping.is_set() and not self._out_of_frames() and not receiver.done():
            jpeg = await asyncio.to_thread(next, self.frames, None)
            if jpeg is None:
                return
            ts = int(time.time() * 1000)
            if self.binary:
                await ws.send(encode_frame(self.stream_id, ts, jpeg))
            else:
                data = base64.b64encode(jpeg).decode()
                await ws.send(
                    json.dumps(
                        {
                            "type": "video-frame",
                            "streamId": self.stream_id,
                            "data": data,
                            "timestamp": ts,
                        }
                    )
                )
            self.frames_sent += 1
            next_at += period
            delay = next_at - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
            else:
                next_at = time.monotonic()  # behind: do not burst to catch up

    async def _receive(self, ws: ClientConnection) -> None:
        async for raw in ws:
            if isinstance(raw, bytes):
                continue  # a producer consumes no video
            msg = json.loads(raw)
            kind = msg.get("type")
            if self.on_message is not None:
                self.on_message(msg)
            if kind == "ping":
                await ws.send(json.dumps({"type": "pong", "ts": msg.get("ts")}))
            elif kind == "alert":
                self.alerts.append(msg)
                self.on_alert(msg)
            elif kind == "error":
                err = msg.get("error", {})
                print(f"server error {err.get('code')}: {err.get('message')}", file=sys.stderr)
            elif kind in ("producer-replaced", "stream-deleted"):
                print(f"{kind}: stopping", file=sys.stderr)


def print_alert(msg: dict[str, Any]) -> None:
    """Print one alert message as a line."""
    meta = msg.get("metadata") or {}
    extra = " ".join(
        f"{k}={meta[k]}" for k in ("confidence", "box", "location", "objectType") if k in meta
    )
    print(
        f"[alert] {msg.get('timestamp')} {msg.get('severity')} {msg.get('alertType')}: "
        f"{msg.get('message')} {extra} (from {msg.get('source')})",
        flush=True,
    )


# -- command line --------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8080", help="Beholder's base URL")
    p.add_argument("--username", default=os.environ.get("BEHOLDER_USERNAME"))
    p.add_argument("--password", default=os.environ.get("BEHOLDER_PASSWORD"))
    p.add_argument("--api-key", default=os.environ.get("BEHOLDER_API_KEY"), help="scope mobile")
    p.add_argument("--stream-id", help="stream the frames to this stream (else register one)")
    p.add_argument("--device-name", default="python mobile_client")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--video", help="a video file (looped)")
    src.add_argument("--webcam", help="a capture device, e.g. /dev/video0 or 0 (macOS)")
    p.add_argument("--webcam-format", default="v4l2", help="v4l2, avfoundation or dshow")
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int)
    p.add_argument("--quality", type=int, default=80)
    p.add_argument("--frames", type=int, help="stop after this many frames")
    p.add_argument("--json", action="store_true", help="base64 JSON frames, not binary")
    p.add_argument("--insecure", action="store_true", help="accept any TLS certificate")
    args = p.parse_args(argv)
    if not args.api_key and not (args.username and args.password):
        p.error("give --api-key, or --username and --password")
    if not args.video and not args.webcam:
        p.error("give --video FILE or --webcam DEVICE")
    return args


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    creds = Credentials(args.api_key, args.username, args.password)
    async with httpx.AsyncClient(base_url=args.url, verify=not args.insecure) as http:
        await creds.sign_in(http)
        stream_id = args.stream_id
        if stream_id is None:
            size = f"{args.width}x{args.height}" if args.width and args.height else None
            meta: dict[str, Any] = {"fps": args.fps} | ({"resolution": size} if size else {})
            stream_id = await register_stream(http, creds, args.device_name, metadata=meta)
            print(f"registered stream {stream_id}", flush=True)
        frames = jpeg_frames(
            args.video or args.webcam,
            fps=args.fps,
            width=args.width,
            height=args.height,
            quality=args.quality,
            input_format=args.webcam_format if args.webcam else None,
        )
        client = MobileClient(
            args.url,
            creds,
            stream_id,
            frames,
            fps=args.fps,
            binary=not args.json,
            max_frames=args.frames,
            on_alert=print_alert,
            http=http,
        )
        try:
            await client.run()
        except Stop as exc:
            print(f"stopped: {exc}", file=sys.stderr)
            return 1
    print(f"sent {client.frames_sent} frames, received {len(client.alerts)} alerts")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main()))
