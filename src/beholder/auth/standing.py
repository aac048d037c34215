"""Are the principals of open connections still in good standing? (the database's answer,
for :meth:`beholder.auth.connections.ConnectionRegistry.recheck`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from beholder.auth.connections import Standing
from beholder.auth.roles import Principal, Role
from beholder.db.engine import Database
from beholder.db.models import ApiKey, User

_CHUNK = 500  # ids per IN (...) query: well under every backend's parameter limit


async def principal_standing(db: Database, principals: Sequence[Principal]) -> dict[str, Standing]:
    """``{principal.key: Standing}`` for every principal: a user is ``GONE`` when deleted or
    disabled and ``DEMOTED`` when its role is below the one it connected with; a key is
    ``GONE`` when revoked or deleted. Two queries per 500 principals; raises on DB errors."""
    users = {p.id: p for p in principals if p.kind == "user"}
    keys = {p.id: p for p in principals if p.kind == "api_key"}
    out: dict[str, Standing] = {}
    async with db.session() as s:
        found: dict[str, tuple[bool, str]] = {}
        ids = list(users)
        for i in range(0, len(ids), _CHUNK):
            rows = await s.execute(
                select(User.id, User.disabled, User.role).where(User.id.in_(ids[i : i + _CHUNK]))
            )
            found.update({uid: (disabled, role) for uid, disabled, role in rows})
        for uid, principal in users.items():
            row = found.get(uid)
            if row is None or row[0]:
                out[principal.key] = Standing.GONE
            elif not Role(row[1]).at_least(principal.role):
                out[principal.key] = Standing.DEMOTED
            else:
                out[principal.key] = Standing.GOOD
        live: set[str] = set()
        ids = list(keys)
        for i in range(0, len(ids), _CHUNK):
            rows = await s.execute(
                select(ApiKey.id).where(
                    ApiKey.id.in_(ids[i : i + _CHUNK]), ApiKey.revoked_at.is_(None)
                )
            )
            live.update(rows.scalars())
        for kid, principal in keys.items():
            out[principal.key] = Standing.GOOD if kid in live else Standing.GONE
    return out
