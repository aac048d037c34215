"""``/api/stats``: the fleet summary of the operations view (issue 11)."""

from __future__ import annotations

from fastapi import APIRouter

from beholder.api.deps import SessionDep, ViewerDep
from beholder.contracts.nvr import SummaryStats
from beholder.db.repositories import stats as stats_repo

router = APIRouter(prefix="/api/stats", tags=["stats"])


@router.get("/summary", response_model=SummaryStats)
async def summary(_: ViewerDep, session: SessionDep) -> SummaryStats:
    """NVRs and cameras by state and region, alerts per hour over 24 h, alerts today (the
    body of the hub's ``stats:updated``, which pushes it at most every 0.5 s)."""
    return await stats_repo.summary(session)
