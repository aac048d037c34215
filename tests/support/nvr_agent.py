"""The NVR agent as the tests run it: ``beholder nvr-agent`` as a real subprocess (its own
session, so it can be SIGKILLed/SIGSTOPped alone), a dashboard hub socket that records what
it receives, and the REST steps that create an NVR and its key."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import websockets
import yaml
from websockets.asyncio.client import ClientConnection

import beholder
from support.api import LiveApi
from support.command import beholder_argv
from support.polling import eventually
from support.settings import TEST_CAMERA_NETWORKS

SRC = Path(beholder.__file__).resolve().parents[1]

__all__ = ["AgentProcess", "Dashboard", "create_nvr", "nvr_cameras"]


async def create_nvr(
    api: LiveApi, hostname: str, device_name: str = "Site A", region: str = "north"
) -> tuple[dict[str, Any], str, str]:
    """``(nvr, key, key_id)``: a new NVR (admin REST) and an ``nvr`` key bound to it."""
    admin = await api.headers("admin")
    r = await api.client.post(
        "/api/nvrs",
        json={"hostname": hostname, "deviceName": device_name, "region": region},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    nvr = r.json()
    k = await api.client.post(f"/api/nvrs/{nvr['id']}/keys", json={}, headers=admin)
    assert k.status_code == 201, k.text
    body = k.json()
    return nvr, body["key"], body["keyId"]


async def nvr_cameras(api: LiveApi, nvr_id: str) -> list[dict[str, Any]]:
    """Every camera of the NVR (REST, by channel)."""
    r = await api.client.get(
        f"/api/nvrs/{nvr_id}/cameras", params={"limit": 200}, headers=await api.headers("admin")
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return sorted(items, key=lambda c: c["nvrChannel"] or 0)


class AgentProcess:
    """``beholder nvr-agent`` in a subprocess; stderr (JSON log lines) kept in a file."""

    def __init__(self, tmp: Path, api: LiveApi, key: str, config: dict[str, Any]) -> None:
        self.tmp = tmp
        self.api = api
        self.key = key
        self.config_path = tmp / f"nvr-{id(self)}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = tmp / f"agent-{id(self)}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, extra_env: dict[str, str] | None = None) -> AgentProcess:
        env = {
            **os.environ,
            "PYTHONPATH": str(SRC),
            "BEHOLDER_LOG_FORMAT": "json",
            "BEHOLDER_LOG_LEVEL": "INFO",
            "BEHOLDER_CAMERA_NETWORKS": TEST_CAMERA_NETWORKS,
            **(extra_env or {}),
        }
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [*beholder_argv("nvr-agent"), "--server", self.api.url,
             "--api-key", self.key, "--config", str(self.config_path)],
            env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        log.close()
        return self

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    async def wait(self, timeout: float = 20) -> int:
        """The exit code (waits without blocking the loop)."""
        assert self.proc is not None
        proc = self.proc
        await eventually(lambda: proc.poll() is not None, timeout, "the agent to exit")
        return int(proc.returncode)

    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


class Dashboard:
    """A hub ``/ws`` client subscribed like the web app; records every message."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, api: LiveApi, topics: list[str] | None = None) -> Dashboard:
        self = cls()
        self.ws = await websockets.connect(api.ws_url)
        await self.ws.send(json.dumps({"type": "auth", "token": await api.token("admin")}))
        await self.ws.send(
            json.dumps({"type": "subscribe", "topics": topics or ["nvrs", "cameras", "alerts"]})
        )
        self._task = asyncio.create_task(self._read())
        await eventually(lambda: self.of("subscribed"), 10, "the hub subscription")
        return self

    async def _read(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                self.messages.append(json.loads(raw))

    def of(self, kind: str, pred: Callable[[dict[str, Any]], bool] | None = None) -> list[Any]:
        return [m for m in self.messages if m.get("type") == kind and (pred is None or pred(m))]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            await self._task
