"""Users and their refresh tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from beholder.db.models import RefreshToken, User
from beholder.errors import Conflict, NotFound
from beholder.messages import utcnow


async def get_by_username(session: AsyncSession, username: str) -> User | None:
    """The user named ``username`` or ``None``."""
    return (
        await session.execute(select(User).where(User.username == username))
    ).scalar_one_or_none()


async def get(session: AsyncSession, user_id: str) -> User:
    """The user with ``user_id``; raises ``NotFound``."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("User not found.")
    return user


async def find(session: AsyncSession, user_id: str) -> User | None:
    """The user with ``user_id`` or ``None`` (authentication: a missing user is a bad
    credential, not a missing resource)."""
    return await session.get(User, user_id)


async def list_all(session: AsyncSession) -> list[User]:
    """Every user, by username."""
    return list((await session.execute(select(User).order_by(User.username))).scalars())


async def count(session: AsyncSession) -> int:
    """Number of users."""
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


async def create(session: AsyncSession, username: str, password_hash: str, role: str) -> User:
    """A new user with an already hashed password (``auth.passwords.hash_password``; the
    database layer never hashes); raises ``Conflict`` when the username is taken."""
    user = User(username=username, password_hash=password_hash, role=role)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("A user with this name already exists.", detail=str(exc.orig)) from exc
    return user


async def set_password(session: AsyncSession, user: User, password_hash: str) -> None:
    """Change a password (already hashed) and revoke the user's refresh tokens."""
    user.password_hash = password_hash
    await revoke_all_refresh(session, user.id)


async def set_disabled(session: AsyncSession, user: User, disabled: bool) -> None:
    """Disable or enable; disabling revokes every refresh token."""
    user.disabled = disabled
    if disabled:
        await revoke_all_refresh(session, user.id)


async def store_refresh(
    session: AsyncSession, jti: str, user_id: str, expires_at: datetime
) -> None:
    """Record an issued refresh token."""
    session.add(RefreshToken(id=jti, user_id=user_id, expires_at=expires_at))
    await session.flush()


async def get_refresh(session: AsyncSession, jti: str) -> RefreshToken | None:
    """The stored refresh token, or ``None``."""
    return await session.get(RefreshToken, jti)


async def revoke_refresh(session: AsyncSession, jti: str) -> None:
    """Revoke one refresh token (idempotent)."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == jti, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def claim_refresh(session: AsyncSession, jti: str) -> bool:
    """Revoke one live refresh token, atomically: True for the one caller whose conditional
    ``UPDATE … WHERE revoked_at IS NULL`` changed the row, False for every other (already
    revoked or unknown). Concurrent rotations of one token thus have exactly one winner:
    PostgreSQL re-checks the condition after the winner's row lock is released, SQLite
    serializes writers."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == jti, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def _rowcount(result: object) -> int:
    count = getattr(result, "rowcount", -1)
    return int(count) if isinstance(count, int) else -1


async def revoke_all_refresh(session: AsyncSession, user_id: str) -> None:
    """Revoke every refresh token of a user."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
