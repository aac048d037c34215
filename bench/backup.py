"""Backup bench: ``beholder backup`` time and archive size, ``beholder restore`` time.

Issue 14 item 6 ("Figures to report": backup time and size for 100k alerts and 5,000
snapshots, restore time). For each backend (SQLite in a temp data dir; PostgreSQL in a new
database on ``--pg``), a data dir is migrated and filled directly through SQL (the real
``alerts`` table: one camera, ``--alerts`` face alerts each with a base64 JPEG thumbnail of
``--thumb`` px like the worker's (500 distinct ones in turn), ``--snapshots`` of them with
a distinct JPEG snapshot file of ``--snap-size`` px at quality 80 under ``snapshots/``).
Then, in this process, timed:

- **backup**: :func:`beholder.backup.create_backup` (what ``beholder backup`` runs);
- **restore**: :func:`beholder.backup.restore_backup` into a new data dir (and a new,
  empty PostgreSQL database): verify every checksum, write, migrate forward;
- the restored database is checked to hold ``--alerts`` alerts and the snapshot count.

Usage::

    .venv/bin/python bench/backup.py [--alerts 100000] [--snapshots 5000]
        [--backends sqlite postgresql] [--pg postgresql://postgres@127.0.0.1:5432/test]
        [--json out.json]

Prints one line per backend (data sizes, backup s, archive MB, restore s). Duration: about
1-2 min per backend at the defaults on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from beholder.backup import create_backup, restore_backup
from beholder.config import Settings
from beholder.db.migrate import upgrade
from beholder.db.models import Alert, Camera

ADMIN_PASSWORD = "bench-admin-password-1"


def _jpeg(rng: np.random.Generator, w: int, h: int, quality: int) -> bytes:
    """A distinct JPEG: a gradient with noise (compresses like a camera frame, not a blank)."""
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    base = (x * 0.5 + y * 0.5) + rng.normal(0, 12, (h, w, 3))
    ok, buf = cv2.imencode(
        ".jpg", np.clip(base, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    return bytes(buf)


async def _fill(settings: Settings, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(14)
    engine = create_async_engine(settings.resolved_database_url, poolclass=NullPool)
    # distinct thumbnails (a pool far larger than gzip's 32 KiB window: no false dedupe)
    thumbs = [base64.b64encode(_jpeg(rng, args.thumb, args.thumb, 70)).decode() for _ in range(500)]
    cam_id = str(uuid.uuid4())
    start = datetime.now(UTC) - timedelta(days=20)
    snap_dir = settings.snapshot_dir
    snap_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(Camera),
                [{"id": cam_id, "name": "Bench", "rtsp_url": "rtsp://10.0.0.7/live"}],
            )
        batch = 5000
        for first in range(0, args.alerts, batch):
            rows: list[dict[str, Any]] = []
            for i in range(first, min(first + batch, args.alerts)):
                alert_id = str(uuid.uuid4())
                snap = None
                if i < args.snapshots:
                    snap = f"{alert_id}.jpg"
                    data = _jpeg(rng, args.snap_size[0], args.snap_size[1], 80)
                    (snap_dir / snap).write_bytes(data)
                rows.append(
                    {
                        "id": alert_id,
                        "camera_id": cam_id,
                        "type": "face_detection",
                        "severity": "medium",
                        "message": "1 face detected on Bench",
                        "alert_metadata": {
                            "faces": [{"box": [10, 20, 40, 48], "confidence": 0.93, "trackId": 1}]
                        },
                        "thumbnail": thumbs[i % len(thumbs)],
                        "snapshot_path": snap,
                        "created_at": start + timedelta(seconds=i * 17),
                        "source": "worker:bench",
                    }
                )
            async with engine.begin() as conn:
                await conn.execute(insert(Alert), rows)
    finally:
        await engine.dispose()


async def _count(url: str) -> int:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(Alert))).scalar_one())
    finally:
        await engine.dispose()


async def _pg_admin(admin_url: str, sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_backend(backend: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Fill, back up and restore one backend; return its figures."""
    dbs: list[str] = []
    pg_base = args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")

    def new_url() -> str | None:
        if backend == "sqlite":
            return None
        name = "beholder_bench_" + uuid.uuid4().hex[:10]
        asyncio.run(_pg_admin(args.pg, f'CREATE DATABASE "{name}"'))
        dbs.append(name)
        return f"{pg_base}/{name}"

    try:
        src = Settings(
            data_dir=work / f"{backend}-src", database_url=new_url(), admin_password=ADMIN_PASSWORD
        )
        src.data_dir.mkdir(parents=True, mode=0o700)
        upgrade(src.resolved_database_url)
        src.secret_file.write_bytes(os.urandom(48).hex().encode())
        t0 = time.perf_counter()
        asyncio.run(_fill(src, args))
        fill_s = time.perf_counter() - t0
        archive = work / f"{backend}.tar.gz"
        t0 = time.perf_counter()
        done = create_backup(src, archive)
        backup_s = time.perf_counter() - t0
        dst = Settings(
            data_dir=work / f"{backend}-dst", database_url=new_url(), admin_password=ADMIN_PASSWORD
        )
        t0 = time.perf_counter()
        restored = restore_backup(dst, archive)
        restore_s = time.perf_counter() - t0
        alerts = asyncio.run(_count(dst.resolved_database_url))
        assert alerts == args.alerts, alerts
        assert restored.snapshots == min(args.snapshots, args.alerts), restored.snapshots
        db_file = (
            done.manifest.files.get("database/beholder.db")
            or done.manifest.files["database/beholder.pgdump"]
        )
        return {
            "backend": backend,
            "alerts": alerts,
            "snapshots": restored.snapshots,
            "fill_s": round(fill_s, 1),
            "snapshot_dir_mb": round(_dir_bytes(src.snapshot_dir) / 1e6, 1),
            "db_copy_mb": round(db_file.size / 1e6, 1),
            "backup_s": round(backup_s, 2),
            "archive_mb": round(done.size / 1e6, 1),
            "restore_s": round(restore_s, 2),
        }
    finally:
        for name in dbs:
            asyncio.run(_pg_admin(args.pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--snapshots", type=int, default=5_000)
    parser.add_argument("--snap-size", type=int, nargs=2, default=[640, 360], metavar=("W", "H"))
    parser.add_argument("--thumb", type=int, default=96, help="thumbnail side, px")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="admin URL (creates and drops its databases)",
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="beholder-bench-backup-") as tmp:
        for backend in args.backends:
            r = run_backend(backend, args, Path(tmp))
            results.append(r)
            print(json.dumps(r), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
