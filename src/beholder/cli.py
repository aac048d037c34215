"""Command line: ``beholder serve|api|worker|detect|migrate|backup|restore|user|api-key|nvr-agent``
(and ``cluster up|status``, a local distributed cluster: beholder.cluster).

Exit codes: 0 success, 1 runtime failure, 2 usage error (argparse) or an invalid setting
(one line per bad variable on stderr: ``beholder: invalid setting BEHOLDER_X=<value>: <reason>``)
or an invalid ``nvr-agent`` config (``beholder: nvr.yaml: <key.path>: <reason>``), 3 the
server refused the NVR agent's key or hostname (see docs/NVR_AGENT.md). ``restore`` exits 2
when it refuses the target (a non-empty data dir or database) or the archive (format version,
checksum) before writing anything (see docs/OPERATIONS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from beholder.config import Settings, SettingsError, load_settings


def _add_server_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=None, help="bind address (BEHOLDER_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (BEHOLDER_PORT, default 8080)")
    p.add_argument("--data-dir", default=None, help="data directory (BEHOLDER_DATA_DIR)")
    p.add_argument(
        "--tls",
        choices=["self-signed"],
        default=None,
        help="generate a local CA + certificate into the data dir (BEHOLDER_TLS_MODE)",
    )
    p.add_argument("--tls-cert", default=None, help="PEM certificate chain (BEHOLDER_TLS_CERT)")
    p.add_argument("--tls-key", default=None, help="PEM private key (BEHOLDER_TLS_KEY)")
    p.add_argument(
        "--tls-redirect-port",
        type=int,
        default=None,
        help="plain-HTTP port answering 308 to https (BEHOLDER_TLS_REDIRECT_PORT)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``beholder`` command."""
    parser = argparse.ArgumentParser(prog="beholder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run every role in one process (SQLite + in-memory bus)")
    _add_server_args(p)
    p = sub.add_parser("api", help="run the api role only (distributed mode)")
    _add_server_args(p)
    p = sub.add_parser("worker", help="run the camera worker role only")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--worker-id", default=None, help="stable id of this worker")

    p = sub.add_parser("migrate", help="apply database migrations and exit")
    p.add_argument("--data-dir", default=None)

    p = sub.add_parser("backup", help="write a consistent backup archive (server may run)")
    p.add_argument("path", metavar="PATH", help="archive to write (.tar.gz), mode 600")
    p.add_argument("--data-dir", default=None)
    p = sub.add_parser("restore", help="restore an archive into a new data dir and database")
    p.add_argument("path", metavar="PATH", help="archive written by `beholder backup`")
    p.add_argument("--data-dir", default=None, help="empty or absent target data dir")

    p = sub.add_parser("detect", help="run the face detector on images or videos")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--detector", choices=["yunet", "haar"], default=None)
    p.add_argument("--threshold", type=float, default=None, help="minimum confidence 0-1")
    p.add_argument("--fps", type=float, default=None, help="samples per second for videos")
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    p = user.add_parser("create")
    p.add_argument("username")
    p.add_argument("--role", choices=["viewer", "operator", "admin"], default="viewer")
    p.add_argument("--password", default=None, help="default: generated and printed once")
    user.add_parser("list")
    p = user.add_parser("set-password")
    p.add_argument("username")
    p.add_argument("--password", default=None, help="default: generated and printed once")
    p = user.add_parser("disable")
    p.add_argument("username")
    p = user.add_parser("enable")
    p.add_argument("username")

    key = sub.add_parser("api-key", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    p = key.add_parser("create")
    p.add_argument("name")
    p.add_argument("--scope", choices=["worker", "nvr", "mobile", "ml-service"], required=True)
    p.add_argument("--owner", default=None, help="username owning the key")
    key.add_parser("list")
    p = key.add_parser("revoke")
    p.add_argument("key_id")

    p = sub.add_parser("nvr-agent", help="run next to an NVR: register it, probe its channels")
    p.add_argument("--server", default=None, help="Beholder URL (default: server: in the config)")
    p.add_argument(
        "--api-key",
        default=None,
        help="the NVR's API key (scope nvr); default BEHOLDER_NVR_API_KEY or --api-key-file",
    )
    p.add_argument("--api-key-file", default=None, help="read the API key from this file")
    p.add_argument("--config", required=True, help="the agent's YAML file (nvr.yaml)")

    from beholder.cluster.command import add_cluster_parser

    add_cluster_parser(sub)
    return parser


def _nvr_agent(args: argparse.Namespace) -> int:
    import os

    from beholder.nvr.agent.config import ConfigError, load_config
    from beholder.nvr.agent.runner import run_agent

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"beholder: {args.config}: {line}", file=sys.stderr)
        return 2
    key = args.api_key or os.environ.get("BEHOLDER_NVR_API_KEY")
    if key is None and args.api_key_file:
        try:
            with open(args.api_key_file, encoding="utf-8") as f:
                key = f.readline().strip()
        except OSError as exc:
            print(f"beholder: cannot read {args.api_key_file}: {exc.strerror}", file=sys.stderr)
            return 2
    server = args.server or config.server
    if not key or not server:
        missing = "--api-key (or BEHOLDER_NVR_API_KEY)" if not key else "--server"
        print(f"beholder: nvr-agent needs {missing}", file=sys.stderr)
        return 2
    return run_agent(config, server, key)


def _backup_command(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from beholder.backup import create_backup, restore_backup
    from beholder.errors import AppError, ArchiveInvalid, BackupRefused

    try:
        if args.command == "backup":
            done = create_backup(settings, Path(args.path))
            m = done.manifest
            print(
                f"backup written: {done.path} ({done.size} bytes, {m.database_backend}, "
                f"revision {m.alembic_revision}, {len(m.files)} files)"
            )
        else:
            restored = restore_backup(settings, Path(args.path))
            m = restored.manifest
            print(
                f"restored {args.path} (created {m.created_at}, {m.database_backend}, "
                f"{restored.snapshots} snapshots) into {settings.data_dir}; migrated to head"
            )
    except (BackupRefused, ArchiveInvalid) as exc:
        print(f"beholder: {args.command} refused: {exc.message}", file=sys.stderr)
        return 2
    except AppError as exc:
        print(f"beholder: {args.command} failed: {exc.message}", file=sys.stderr)
        return 1
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    tls = {
        "mode": getattr(args, "tls", None),
        "cert": getattr(args, "tls_cert", None),
        "key": getattr(args, "tls_key", None),
        "redirect_port": getattr(args, "tls_redirect_port", None),
    }
    return load_settings(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        data_dir=getattr(args, "data_dir", None),
        tls={k: v for k, v in tls.items() if v is not None} or None,
    )


def _traced_role(cmd: str, settings: Settings, args: argparse.Namespace) -> int:
    """Run a server role with tracing on when the OTEL_* variables ask for it (spans still
    pending are exported before the process exits)."""
    from beholder import tracing

    tracing.configure(cmd)
    try:
        if cmd == "worker":
            from beholder.worker.role import run_worker

            return run_worker(settings, worker_id=args.worker_id)
        from beholder.server import run_server

        return run_server(settings, role=cmd)
    finally:
        tracing.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``beholder`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "cluster":  # a supervisor of other processes: its own options only
        from beholder.cluster.command import run_cluster

        return run_cluster(args)
    try:
        settings = _settings(args)
    except SettingsError as exc:
        # Before logging is configured (it is configured from these settings): plain stderr.
        for line in str(exc).splitlines():
            print(f"beholder: {line}", file=sys.stderr)
        return 2
    from beholder.observability import configure_logging

    configure_logging(settings)
    cmd = args.command
    if cmd == "nvr-agent":
        return _nvr_agent(args)
    if cmd in ("serve", "api", "worker"):
        return _traced_role(cmd, settings, args)
    if cmd == "detect":
        from beholder.worker.detect.cli import run_detect

        return run_detect(
            args.paths,
            detector=args.detector,
            threshold=args.threshold,
            fps=args.fps,
            as_json=args.json,
        )
    if cmd in ("backup", "restore"):
        return _backup_command(settings, args)
    from beholder import admin_cli

    if cmd == "migrate":
        return asyncio.run(admin_cli.migrate(settings))
    if cmd == "user":
        return asyncio.run(admin_cli.user_command(settings, args))
    if cmd == "api-key":
        return asyncio.run(admin_cli.api_key_command(settings, args))
    print(f"unknown command {cmd}", file=sys.stderr)
    return 2
