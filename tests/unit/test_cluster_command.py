"""``beholder cluster``'s pure parts: the load balancer's nginx configuration (rendered, then
accepted by the real ``nginx -t``), the ``cluster.json`` state file, the command line, the
supervisor's exit reports and the NATS/PostgreSQL URL handling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from beholder.cli import build_parser
from beholder.cluster import database, nats_server, proxy
from beholder.cluster.processes import ChildSpec, Supervisor, describe_exit
from beholder.cluster.state import ClusterState, RoleState, read_state

needs_nginx = pytest.mark.skipif(
    not any(Path(p).is_file() for p in proxy.NGINX_CANDIDATES), reason="nginx not installed"
)


def _render(tmp_path: Path, ports: list[int]) -> str:
    return proxy.render_config(ports, 18080, tmp_path / "proxy", tmp_path / "logs")


def test_every_api_is_an_upstream_and_the_balancer_listens_on_the_loopback(
    tmp_path: Path,
) -> None:
    text = _render(tmp_path, [9001, 9002, 9003])
    assert not proxy.PLACEHOLDER.search(text)
    for port in (9001, 9002, 9003):
        assert f"server 127.0.0.1:{port} " in text
    assert "listen 127.0.0.1:18080;" in text
    assert f"pid {(tmp_path / 'proxy').resolve()}/nginx.pid;" in text


def test_websocket_routes_are_upgraded_and_a_dead_api_is_skipped(tmp_path: Path) -> None:
    text = _render(tmp_path, [9001])
    assert "location ~ ^/(ws|api/streams/ws|api/nvrs/ws)$" in text
    assert "proxy_set_header Upgrade $http_upgrade;" in text
    assert "proxy_next_upstream error timeout http_502 http_503;" in text


def test_a_balancer_without_api_or_with_an_unknown_value_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one api"):
        _render(tmp_path, [])
    with pytest.raises(ValueError, match="unknown value"):
        proxy.render_config([1], 2, tmp_path, tmp_path, template="listen {{lisen}};")


@needs_nginx
def test_nginx_accepts_the_rendered_configuration(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    config = proxy.write_config(_render(tmp_path, [9001, 9002]), tmp_path / "proxy")
    proxy.check_config(config)  # raises ProxyError with nginx's words when refused
    argv = proxy.nginx_argv(config)
    assert argv[-2:] == ["-g", "daemon off;"]


@needs_nginx
def test_nginx_refusing_the_configuration_is_reported(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    text = _render(tmp_path, [9001]).replace("proxy_buffering off", "proxy_bufering off")
    config = proxy.write_config(text, tmp_path / "proxy")
    with pytest.raises(proxy.ProxyError, match="proxy_bufering"):
        proxy.check_config(config)


def _state(tmp_path: Path) -> ClusterState:
    return ClusterState(
        dashboard_url="http://127.0.0.1:8080",
        nats_url="nats://127.0.0.1:4222",
        database_url="postgresql+asyncpg://postgres@127.0.0.1:5432/beholder_cluster",
        data_dir=str(tmp_path),
        supervisor_pid=123,
        roles=[
            RoleState("api-1", "api", 11, 9001, "/l/api-1.log"),
            RoleState("worker-1", "worker", 21, None, "/l/w1.log", worker_id="worker-1"),
            RoleState("worker-2", "worker", None, None, "/l/w2.log", False, -9, 1, "worker-2"),
        ],
    )


def test_the_state_file_round_trips_and_names_each_role(tmp_path: Path) -> None:
    state = _state(tmp_path)
    path = state.write(tmp_path)
    assert path == tmp_path / "cluster.json"
    raw = json.loads(path.read_text())
    assert {r["name"] for r in raw["roles"]} == {"api-1", "worker-1", "worker-2"}
    back = read_state(tmp_path)
    assert back == state
    assert back.role("worker-2").exit_code == -9
    assert [r.name for r in back.of_role("worker")] == ["worker-1", "worker-2"]
    with pytest.raises(KeyError):
        back.role("api-9")


def test_a_missing_or_foreign_state_file_is_told_apart(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_state(tmp_path)
    (tmp_path / "cluster.json").write_text('{"something": "else"}')
    with pytest.raises(ValueError, match="not a cluster state"):
        read_state(tmp_path)


def test_the_command_line_parses_up_and_status() -> None:
    args = build_parser().parse_args(["cluster", "up", "--apis", "2", "--workers", "3"])
    assert (args.command, args.action, args.apis, args.workers) == ("cluster", "up", 2, 3)
    assert args.port == 8080 and args.data_dir == "./data/cluster" and not args.restart
    args = build_parser().parse_args(["cluster", "status", "--data-dir", "/x"])
    assert (args.action, args.data_dir) == ("status", "/x")


def test_status_of_a_data_dir_without_cluster_fails_with_a_message(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-m", "beholder", "cluster", "status", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert "no cluster state" in done.stderr


def test_status_prints_every_role_and_which_are_dead(tmp_path: Path) -> None:
    _state(tmp_path).write(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-m", "beholder", "cluster", "status", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "api-1" in done.stdout and "worker-2" in done.stdout and "dead" in done.stdout


def test_exits_are_described_as_a_person_reads_them() -> None:
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(1) == "exit code 1"


def test_the_supervisor_reports_a_dead_child_once_and_stops_the_rest(tmp_path: Path) -> None:
    lines: list[str] = []
    sup = Supervisor(tiers=("a", "b"), report=lines.append)
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    quick = sup.start(ChildSpec("quick", "a", [sys.executable, "-c", "pass"], {}, tmp_path / "q"))
    slow = sup.start(ChildSpec("slow", "b", sleeper, dict(os.environ), tmp_path / "s.log"))
    assert quick.proc is not None
    quick.proc.wait(timeout=30)
    assert sup.reap() == [quick]
    assert sup.reap() == []
    assert lines == ["cluster: quick exited (exit code 0)"]
    sup.stop_all(grace=10)
    assert not slow.alive
    assert slow.exit_code == -15  # SIGTERM, not SIGKILL: it was asked first


def test_nats_and_database_urls() -> None:
    assert nats_server.host_port("nats://127.0.0.1:4333") == ("127.0.0.1", 4333)
    assert nats_server.host_port("nats://example") == ("example", 4222)
    assert nats_server.local_port_for("nats://127.0.0.1:4333", 5000) == 4333
    assert nats_server.local_port_for("nats://10.0.0.1:4333", 5000) == 5000
    assert nats_server.local_port_for(None, 5000) == 5000
    shown = database.display_url("postgresql+asyncpg://u:secret@127.0.0.1:5432/db")
    assert "secret" not in shown and shown.endswith("/db")
    with pytest.raises(database.DatabaseError, match="PostgreSQL"):
        database.parse_postgres_url("sqlite+aiosqlite:///x.db")
    with pytest.raises(database.DatabaseError, match="no database"):
        database.parse_postgres_url("postgresql+asyncpg://postgres@127.0.0.1:5432")
