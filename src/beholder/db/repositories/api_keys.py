"""API keys for machines."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from beholder.db.models import ApiKey
from beholder.errors import NotFound
from beholder.messages import utcnow


async def create(
    session: AsyncSession,
    name: str,
    scope: str,
    owner_id: str | None,
    *,
    prefix: str,
    digest: str,
    nvr_id: str | None = None,
) -> ApiKey:
    """A new key row from its lookup ``prefix`` and ``digest`` (``auth.api_keys.
    generate_api_key``; the full key is never stored); ``nvr_id`` binds an ``nvr`` key."""
    row = ApiKey(
        name=name, prefix=prefix, key_hash=digest, scope=scope, owner_id=owner_id, nvr_id=nvr_id
    )
    session.add(row)
    await session.flush()
    return row


async def by_prefix(session: AsyncSession, prefix: str) -> ApiKey | None:
    """The key with this lookup prefix, revoked or not."""
    return (
        await session.execute(select(ApiKey).where(ApiKey.prefix == prefix))
    ).scalar_one_or_none()


async def list_all(session: AsyncSession) -> list[ApiKey]:
    """Every key, newest first."""
    return list(
        (await session.execute(select(ApiKey).order_by(ApiKey.created_at.desc()))).scalars()
    )


async def of_nvr(session: AsyncSession, nvr_id: str) -> list[ApiKey]:
    """The keys bound to an NVR, newest first."""
    q = select(ApiKey).where(ApiKey.nvr_id == nvr_id).order_by(ApiKey.created_at.desc())
    return list((await session.execute(q)).scalars())


async def revoke(session: AsyncSession, key_id: str) -> ApiKey:
    """Revoke a key (idempotent); raises ``NotFound``."""
    row = await session.get(ApiKey, key_id)
    if row is None:
        raise NotFound("API key not found.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row
