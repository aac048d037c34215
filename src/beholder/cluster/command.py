"""``beholder cluster up|status`` in the command line (see :mod:`beholder.cluster`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from beholder.cluster.state import ClusterState, read_state

DEFAULT_DATA_DIR = "./data/cluster"


def add_cluster_parser(sub: Any) -> None:
    """Add ``cluster up`` and ``cluster status`` to the ``beholder`` subcommands ``sub``."""
    cluster = sub.add_parser("cluster", help="run a local distributed cluster (apis, workers, LB)")
    actions = cluster.add_subparsers(dest="action", required=True)
    p = actions.add_parser("up", help="start NATS, apis, workers and nginx; Ctrl-C stops all")
    p.add_argument("--apis", type=int, default=2, help="api instances (default 2)")
    p.add_argument("--workers", type=int, default=3, help="worker processes (default 3)")
    p.add_argument("--port", type=int, default=8080, help="the load balancer's port (8080)")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help=f"default {DEFAULT_DATA_DIR}")
    p.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL (default BEHOLDER_DATABASE_URL or the local "
        "postgresql+asyncpg://postgres@127.0.0.1:5432/beholder_cluster, created if missing)",
    )
    p.add_argument(
        "--nats-url",
        default=None,
        help="use this NATS (JetStream on) when it answers; default: start nats-server -js "
        "with its store in the data dir",
    )
    p.add_argument(
        "--restart", action="store_true", help="start a dead api or worker again after 1 s"
    )
    p = actions.add_parser("status", help="print the roles of a running cluster")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help=f"default {DEFAULT_DATA_DIR}")
    p.add_argument("--json", action="store_true", help="print cluster.json with liveness")


def run_cluster(args: argparse.Namespace) -> int:
    """Run ``cluster <action>``: exit 0 on success, 1 on failure, 2 on bad arguments."""
    if args.action == "status":
        return print_status(Path(args.data_dir), as_json=args.json)
    from beholder.cluster.up import UpOptions, run_up

    if args.apis < 1 or args.workers < 0:
        print("beholder: cluster up needs --apis >= 1 and --workers >= 0", file=sys.stderr)
        return 2
    options = UpOptions(
        apis=args.apis,
        workers=args.workers,
        port=args.port,
        data_dir=Path(args.data_dir),
        database_url=args.database_url,
        nats_url=args.nats_url,
        restart=args.restart,
    )
    return run_up(options)


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _get_json(url: str, token: str | None = None, timeout: float = 3.0) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http only
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - our LB
        return json.loads(response.read())


def _workers_view(state: ClusterState) -> Any:
    """``/api/system/workers`` through the load balancer, signed in as ``admin`` with
    BEHOLDER_ADMIN_PASSWORD; None when that is not possible."""
    password = os.environ.get("BEHOLDER_ADMIN_PASSWORD")
    if not password:
        return None
    body = json.dumps({"username": "admin", "password": password}).encode()
    request = urllib.request.Request(  # noqa: S310 - the load balancer's http URL
        f"{state.dashboard_url}/api/auth/login",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=3) as response:  # noqa: S310 - our LB
            token = json.loads(response.read())["accessToken"]
        return _get_json(f"{state.dashboard_url}/api/system/workers", token)
    except (OSError, ValueError, KeyError):
        return None


def print_status(data_dir: Path, *, as_json: bool = False) -> int:
    """Print each role (alive or not) and, when an api answers, the cluster's health and
    (with BEHOLDER_ADMIN_PASSWORD) its workers; 1 when no cluster ran from ``data_dir``."""
    try:
        state = read_state(data_dir)
    except (FileNotFoundError, ValueError) as exc:
        print(f"beholder: no cluster state in {data_dir}: {exc}", file=sys.stderr)
        return 1
    for role in state.roles:
        role.alive = _alive(role.pid)
    running = _alive(state.supervisor_pid)
    if as_json:
        print(json.dumps({**state.to_json(), "running": running}, indent=2))
        return 0
    print(f"cluster {'running' if running else 'stopped'} (supervisor pid {state.supervisor_pid})")
    print(f"  dashboard {state.dashboard_url}   nats {state.nats_url}")
    for role in state.roles:
        where = f"port {role.port}" if role.port else (role.worker_id or "")
        alive = f"alive pid {role.pid}" if role.alive else f"dead ({role.exit_code})"
        print(f"  {role.name:<10} {role.role:<7} {alive:<22} {where:<12} {role.log}")
    try:
        health = _get_json(f"{state.dashboard_url}/api/system/health")
        print(f"health: {health.get('overall') or health.get('status')}")
    except (OSError, ValueError):
        print("health: no api answers through the load balancer")
    workers = _workers_view(state)
    if isinstance(workers, dict) and isinstance(workers.get("items"), list):
        print("workers:")
        for w in workers["items"]:
            print(
                f"  {w.get('workerId')!s:<12} {'alive' if w.get('alive') else 'silent':<7} "
                f"sessions {w.get('sessions')}  leases {w.get('leases')}  "
                f"cpu {w.get('cpuPercent')}%  detector load {w.get('detectorLoad')}  "
                f"last heartbeat {w.get('lastHeartbeat')}"
            )
    return 0
