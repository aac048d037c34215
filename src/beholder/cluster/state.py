"""``<data-dir>/cluster.json``: what ``beholder cluster up`` runs, for people and tests that
inspect or kill one process. Rewritten atomically whenever a child starts or exits."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "cluster.json"


@dataclass
class RoleState:
    """One child process: ``name`` (``api-1``, ``worker-2``, ``nats``, ``proxy``), ``role``
    (``api``, ``worker``, ``nats``, ``proxy``), its ``pid`` (None once it exited), ``port``
    (None for workers), ``log`` (absolute path), ``alive``, ``exit_code`` (the last exit:
    negative = killed by that signal), ``restarts`` (times ``--restart`` started it again)
    and, for workers, ``worker_id`` (the id in the leases and the registry)."""

    name: str
    role: str
    pid: int | None
    port: int | None
    log: str
    alive: bool = True
    exit_code: int | None = None
    restarts: int = 0
    worker_id: str | None = None


@dataclass
class ClusterState:
    """The whole cluster: ``dashboard_url`` (the load balancer), ``nats_url``,
    ``database_url`` (without password), ``data_dir``, ``supervisor_pid`` (the ``cluster up``
    process) and ``roles`` in start order."""

    dashboard_url: str
    nats_url: str
    database_url: str
    data_dir: str
    supervisor_pid: int
    roles: list[RoleState] = field(default_factory=list)

    def role(self, name: str) -> RoleState:
        """The role called ``name``; KeyError when there is none."""
        for r in self.roles:
            if r.name == name:
                return r
        raise KeyError(name)

    def of_role(self, role: str) -> list[RoleState]:
        """Every child of one role (``api``, ``worker``…), in start order."""
        return [r for r in self.roles if r.role == role]

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to ``cluster.json``."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClusterState:
        """Parse :meth:`to_json`'s output; KeyError/TypeError on a malformed file."""
        roles = [RoleState(**r) for r in data.get("roles", [])]
        fields = {k: v for k, v in data.items() if k != "roles"}
        return cls(**fields, roles=roles)

    def write(self, data_dir: Path) -> Path:
        """Write ``<data_dir>/cluster.json`` atomically (a reader never sees half a file)."""
        path = data_dir / STATE_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path


def read_state(data_dir: Path) -> ClusterState:
    """The state written by the ``cluster up`` of ``data_dir``; FileNotFoundError when no
    cluster ever ran there, ValueError when the file is not a cluster state."""
    text = (data_dir / STATE_FILE).read_text(encoding="utf-8")
    try:
        return ClusterState.from_json(json.loads(text))
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{data_dir / STATE_FILE} is not a cluster state: {exc}") from None
