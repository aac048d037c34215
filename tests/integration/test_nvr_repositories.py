"""The NVR fleet repositories (issue 11) on SQLite and on the real PostgreSQL: NVR CRUD,
filtered pages with counts per value and cursors, status transitions, camera upsert by
(NVR, channel), reachability in bulk, probes, delete with detach|delete (nothing orphaned,
keys and NVR alerts cascade), camera filters, and the summary statistics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from beholder.db.engine import Database
from beholder.db.migrate import upgrade_async
from beholder.db.models import Alert, ApiKey, Camera
from beholder.db.repositories import cameras as cameras_repo
from beholder.db.repositories import nvrs as nvrs_repo
from beholder.db.repositories import stats as stats_repo
from beholder.errors import Conflict, InvalidInput, NotFound
from support.settings import make_settings


@pytest.fixture
async def db(tmp_path: Path, database_url: str | None) -> AsyncIterator[Database]:
    settings = make_settings(tmp_path, database_url)
    database = Database(settings)
    await upgrade_async(settings.resolved_database_url)
    try:
        yield database
    finally:
        await database.dispose()


async def _fleet(db: Database) -> dict[str, str]:
    """Five NVRs: north ×3 (two online), south ×1, one without a region."""
    ids = {}
    async with db.session() as s:
        for host, region, site in [
            ("alpha-nvr", "north", "Depot"),
            ("bravo-nvr", "north", None),
            ("charlie-nvr", "north", None),
            ("delta-nvr", "south", "Harbour"),
            ("echo-nvr", None, None),
        ]:
            nvr = await nvrs_repo.create(
                s, host, device_name=host.upper(), region=region, site=site
            )
            ids[host] = nvr.id
        now = datetime.now(UTC)
        assert await nvrs_repo.set_status(s, ids["alpha-nvr"], "online", now)
        assert await nvrs_repo.set_status(s, ids["bravo-nvr"], "online", now)
    return ids


async def test_create_get_update_conflict(db: Database) -> None:
    ids = await _fleet(db)
    with pytest.raises(Conflict):
        async with db.session() as s:
            await nvrs_repo.create(s, "alpha-nvr")
    async with db.session() as s:
        nvr = await nvrs_repo.get(s, ids["delta-nvr"])
        assert (nvr.hostname, nvr.region, nvr.site, nvr.status) == (
            "delta-nvr",
            "south",
            "Harbour",
            "offline",
        )
        assert (await nvrs_repo.by_hostname(s, "delta-nvr")).id == nvr.id  # type: ignore[union-attr]
        await nvrs_repo.update_fields(s, nvr, {"site": "Quay", "model": "DS-7616"})
    async with db.session() as s:
        nvr = await nvrs_repo.get(s, ids["delta-nvr"])
        assert (nvr.site, nvr.model) == ("Quay", "DS-7616")
    with pytest.raises(Conflict):
        async with db.session() as s:
            nvr = await nvrs_repo.get(s, ids["delta-nvr"])
            await nvrs_repo.update_fields(s, nvr, {"hostname": "alpha-nvr"})
    with pytest.raises(NotFound):
        async with db.session() as s:
            await nvrs_repo.get(s, "00000000-0000-4000-8000-000000000000")


async def test_pages_filters_and_counts(db: Database) -> None:
    await _fleet(db)
    async with db.session() as s:
        rows, cursor = await nvrs_repo.page(s, nvrs_repo.NvrFilter(), 2, None)
        assert [r.hostname for r in rows] == ["alpha-nvr", "bravo-nvr"]
        assert cursor is not None
        rows, cursor = await nvrs_repo.page(s, nvrs_repo.NvrFilter(), 2, cursor)
        assert [r.hostname for r in rows] == ["charlie-nvr", "delta-nvr"]
        rows, cursor = await nvrs_repo.page(s, nvrs_repo.NvrFilter(), 2, cursor)
        assert [r.hostname for r in rows] == ["echo-nvr"] and cursor is None

        flt = nvrs_repo.NvrFilter(status="online", region="north")
        rows, _ = await nvrs_repo.page(s, flt, 10, None)
        assert [r.hostname for r in rows] == ["alpha-nvr", "bravo-nvr"]
        rows, _ = await nvrs_repo.page(s, nvrs_repo.NvrFilter(q="HARB"), 10, None)
        assert [r.hostname for r in rows] == ["delta-nvr"]
        rows, _ = await nvrs_repo.page(s, nvrs_repo.NvrFilter(q="%"), 10, None)
        assert rows == []  # LIKE wildcards are literal

        assert await nvrs_repo.counts(s, None) == {
            "status": {"online": 2, "offline": 3},
            "region": {"north": 3, "south": 1},
        }
        assert await nvrs_repo.counts(s, "a-nvr") == {  # alpha, delta
            "status": {"online": 1, "offline": 1},
            "region": {"north": 1, "south": 1},
        }
        with pytest.raises(InvalidInput):
            await nvrs_repo.page(s, nvrs_repo.NvrFilter(), 2, "%%%")


async def test_status_transitions_are_reported_once(db: Database) -> None:
    ids = await _fleet(db)
    at = datetime(2030, 1, 1, tzinfo=UTC)
    async with db.session() as s:
        assert not await nvrs_repo.set_status(s, ids["alpha-nvr"], "online", at)
        assert await nvrs_repo.set_status(s, ids["alpha-nvr"], "offline", at)
        assert not await nvrs_repo.set_status(s, ids["alpha-nvr"], "offline", at)
        assert await nvrs_repo.set_status(s, ids["delta-nvr"], "online", at)
    async with db.session() as s:
        assert (await nvrs_repo.get(s, ids["delta-nvr"])).last_seen_at == at
        later = at + timedelta(seconds=10)
        assert await nvrs_repo.touch_online(s, ids["delta-nvr"], later)
        assert not await nvrs_repo.touch_online(s, ids["charlie-nvr"], later)
        assert await nvrs_repo.silent_ids(s, later) == [ids["bravo-nvr"]]
    async with db.session() as s:
        assert (await nvrs_repo.get(s, ids["delta-nvr"])).last_seen_at == later
        assert set(await nvrs_repo.online_ids(s)) == {ids["bravo-nvr"], ids["delta-nvr"]}


async def _channels(db: Database, nvr_id: str, host: str, n: int) -> list[str]:
    out = []
    async with db.session() as s:
        for ch in range(1, n + 1):
            cam, created, _ = await cameras_repo.upsert_channel(
                s,
                nvr_id,
                host,
                ch,
                f"{host} ch{ch}",
                f"rtsp://u:p@10.0.0.{ch}/s",
                explicit_name=False,
            )
            assert created
            out.append(cam.id)
    return out


async def test_camera_upsert_is_idempotent_by_nvr_and_channel(db: Database) -> None:
    ids = await _fleet(db)
    a, d = ids["alpha-nvr"], ids["delta-nvr"]
    cams = await _channels(db, a, "alpha-nvr", 3)
    async with db.session() as s:
        s.add(Camera(name="Gate", rtsp_url="rtsp://10.9.9.9/x"))
    async with db.session() as s:
        # Same channel again: the same camera, untouched.
        cam, created, changed = await cameras_repo.upsert_channel(
            s, a, "alpha-nvr", 1, "alpha-nvr ch1", "rtsp://u:p@10.0.0.1/s", explicit_name=False
        )
        assert (cam.id, created, changed) == (cams[0], False, False)
        # A new URL and an explicit name that another camera holds: renamed with the host.
        cam, created, changed = await cameras_repo.upsert_channel(
            s, a, "alpha-nvr", 2, "Gate", "rtsp://u:p@10.0.0.22/s", explicit_name=True
        )
        assert (cam.id, created, changed) == (cams[1], False, True)
        assert (cam.name, cam.rtsp_url) == ("Gate (alpha-nvr)", "rtsp://u:p@10.0.0.22/s")
        # Channel 1 of another NVR is another camera; its default name collides too.
        cam, created, _ = await cameras_repo.upsert_channel(
            s, d, "delta-nvr", 1, "alpha-nvr ch1", "rtsp://10.1.0.1/s", explicit_name=False
        )
        assert created and cam.name == "alpha-nvr ch1 (delta-nvr)"
        assert (cam.enabled, cam.status, cam.reachability) == (True, "OFFLINE", "unknown")
    async with db.session() as s:
        total = (await s.execute(select(func.count()).select_from(Camera))).scalar_one()
        assert total == 5
        page, cursor = await cameras_repo.nvr_page(s, a, 2, None)
        assert [r.nvr_channel for r in page] == [1, 2] and cursor
        page, cursor = await cameras_repo.nvr_page(s, a, 2, cursor)
        assert [r.nvr_channel for r in page] == [3] and cursor is None


async def test_channel_sync_reads_once_and_tallies_match_the_counting_query(
    db: Database,
) -> None:
    """``sync_channels`` (registration's bulk form of ``upsert_channel``) and the in-memory
    ``tally_of``/``mark_reachability`` the fleet service uses instead of re-reading."""
    ids = await _fleet(db)
    a = ids["alpha-nvr"]
    cams = await _channels(db, a, "alpha-nvr", 3)
    spec = cameras_repo.ChannelSpec
    async with db.session() as s:
        got = await cameras_repo.sync_channels(
            s,
            a,
            "alpha-nvr",
            [
                spec(1, "alpha-nvr ch1", "rtsp://u:p@10.0.0.1/s", explicit_name=False),  # same
                spec(2, "Porch", "rtsp://u:p@10.0.0.2/s", explicit_name=True),  # renamed
                spec(3, "other default", "rtsp://u:p@10.0.0.33/s", explicit_name=False),  # url
                spec(4, "alpha-nvr ch4", "rtsp://u:p@10.0.0.4/s", explicit_name=False),  # new
            ],
        )
        assert [(c.nvr_channel, new, changed) for c, new, changed in got] == [
            (1, False, False),
            (2, False, True),
            (3, False, True),
            (4, True, True),
        ]
        assert [c.id for c, _, _ in got][:3] == cams
        assert (got[1][0].name, got[2][0].name) == ("Porch", "alpha-nvr ch3")
    async with db.session() as s:
        every = await cameras_repo.of_nvr(s, a)
        assert [c.nvr_channel for c in every] == [1, 2, 3, 4]
        assert len(cameras_repo.mark_reachability(every, "offline", "NVR offline")) == 4
        every[0].status = "PROCESSING"
        assert cameras_repo.mark_reachability(every, "offline", "NVR offline") == []
        back = cameras_repo.mark_reachability(every[:2], "online", None)
        assert [c.nvr_channel for c in back] == [1, 2]
        undone = cameras_repo.mark_reachability(every, "unknown", None, only_detail="NVR offline")
        assert [c.nvr_channel for c in undone] == [3, 4]
        mine = nvrs_repo.tally_of(every)
        await s.flush()
        counted = (await nvrs_repo.camera_tallies(s, [a]))[a]
        assert mine.wire() == counted.wire()
        assert mine.wire() == {
            "total": 4,
            "online": 2,
            "offline": 0,
            "unknown": 2,
            "byStatus": {"PROCESSING": 1, "OFFLINE": 3},
        }


async def test_reachability_in_bulk_probes_and_camera_filters(db: Database) -> None:
    ids = await _fleet(db)
    a, d = ids["alpha-nvr"], ids["delta-nvr"]
    await _channels(db, a, "alpha-nvr", 3)
    await _channels(db, d, "delta-nvr", 2)
    async with db.session() as s:
        cam, previous = await cameras_repo.apply_probe(
            s, a, 1, "online", None, {"latencyMs": 12.5, "codec": "h264"}
        )
        assert cam is not None and previous == "unknown"
        cam, previous = await cameras_repo.apply_probe(
            s, a, 2, "offline", "unauthorized", {"error": "unauthorized"}
        )
        assert cam is not None and previous == "unknown"
        assert await cameras_repo.apply_probe(s, a, 99, "online", None, {}) == (None, None)
    async with db.session() as s:
        changed = await cameras_repo.set_reachability_for_nvr(s, a, "offline", "NVR offline")
        assert sorted(c.nvr_channel or 0 for c in changed) == [1, 3]  # ch2 was offline already
    async with db.session() as s:
        # Back: only what the cascade set is undone; ch2's own fault stays.
        changed = await cameras_repo.set_reachability_for_nvr(
            s, a, "unknown", None, only_detail="NVR offline"
        )
        assert sorted(c.nvr_channel or 0 for c in changed) == [1, 3]
        flt = cameras_repo.CameraFilter
        rows = await cameras_repo.list_rows_filtered(s, flt(nvr_id=a))
        assert len(rows) == 3
        rows = await cameras_repo.list_rows_filtered(s, flt(reachability="offline"))
        assert [(r.nvr_channel, r.reachability_detail) for r in rows] == [(2, "unauthorized")]
        rows = await cameras_repo.list_rows_filtered(s, flt(region="south"))
        assert {r.nvr_id for r in rows} == {d} and len(rows) == 2


@pytest.mark.parametrize("mode", ["detach", "delete"])
async def test_delete_detaches_or_deletes_and_never_orphans(db: Database, mode: str) -> None:
    ids = await _fleet(db)
    a = ids["alpha-nvr"]
    cams = await _channels(db, a, "alpha-nvr", 2)
    async with db.session() as s:
        s.add(ApiKey(name="k", prefix="nvrk1", key_hash="h", scope="nvr", nvr_id=a))
        s.add(Alert(nvr_id=a, type="system-alert", severity="high", message="down"))
        s.add(Alert(camera_id=cams[0], type="system-alert", severity="low", message="cam"))
    async with db.session() as s:
        nvr = await nvrs_repo.get(s, a)
        assert sorted(await nvrs_repo.delete_nvr(s, nvr, mode)) == sorted(cams)  # type: ignore[arg-type]
    async with db.session() as s:
        assert await nvrs_repo.find(s, a) is None
        assert (await s.execute(select(func.count()).select_from(ApiKey))).scalar_one() == 0
        left = list((await s.execute(select(Camera).where(Camera.id.in_(cams)))).scalars())
        alerts = list((await s.execute(select(Alert))).scalars())
        if mode == "delete":
            assert left == [] and alerts == []
        else:
            assert len(left) == 2
            assert all(c.nvr_id is None and c.nvr_channel is None for c in left)
            assert all(c.reachability == "unknown" for c in left)
            assert [x.camera_id for x in alerts] == [cams[0]]  # the NVR's own alert went


async def test_summary(db: Database) -> None:
    ids = await _fleet(db)
    await _channels(db, ids["alpha-nvr"], "alpha-nvr", 3)
    await _channels(db, ids["delta-nvr"], "delta-nvr", 2)
    now = datetime(2030, 6, 1, 10, 30, tzinfo=UTC)
    async with db.session() as s:
        await cameras_repo.apply_probe(s, ids["alpha-nvr"], 1, "online", None, {})
        await cameras_repo.apply_probe(s, ids["alpha-nvr"], 2, "online", None, {})
        await cameras_repo.apply_probe(s, ids["delta-nvr"], 1, "offline", "NVR offline", {})
        cam = (await cameras_repo.of_nvr(s, ids["alpha-nvr"]))[0]
        cam.status = "PROCESSING"
        s.add(Camera(name="Loose", rtsp_url="rtsp://10.3.3.3/x"))
        for at, type_, sev in [
            (now - timedelta(minutes=5), "system-alert", "high"),
            (now - timedelta(minutes=20), "face-detection", "medium"),
            (now - timedelta(hours=2, minutes=1), "system-alert", "critical"),
            (now - timedelta(hours=11), "face-detection", "medium"),  # 23:30 yesterday
            (now - timedelta(hours=30), "system-alert", "low"),  # outside 24 h
        ]:
            s.add(Alert(type=type_, severity=sev, message="m", created_at=at))
    async with db.session() as s:
        out = await stats_repo.summary(s, now)
    assert (out.nvrs.total, out.nvrs.online, out.nvrs.offline) == (5, 2, 3)
    c = out.cameras
    assert (c.total, c.online, c.offline, c.unknown) == (6, 2, 1, 3)
    assert c.by_status == {"PROCESSING": 1, "OFFLINE": 5}
    assert [
        (r.region, r.nvrs, r.nvrs_online, r.cameras, r.cameras_online) for r in out.regions
    ] == [
        ("north", 3, 2, 3, 2),
        ("south", 1, 0, 2, 0),
    ]
    hours = out.alerts_by_hour
    assert len(hours) == 24
    assert hours[-1].hour == datetime(2030, 6, 1, 10, tzinfo=UTC)
    assert hours[0].hour == datetime(2030, 5, 31, 11, tzinfo=UTC)
    assert hours[-1].total == 2
    assert hours[-1].by_type == {"system-alert": 1, "face-detection": 1}
    assert hours[-1].by_severity == {"high": 1, "medium": 1}
    assert hours[-3].by_severity == {"critical": 1}  # 08:29 → the 08:00 hour
    assert sum(h.total for h in hours) == 4
    assert out.alerts_today == 3  # since 00:00 UTC: 10:25, 10:10, 08:29
