"""``/api/users`` (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from beholder.api.deps import AdminDep, SessionDep, StateDep
from beholder.api.revocation import announce_revocation
from beholder.api.schemas import Page, UserCreate, UserOut, UserUpdate
from beholder.auth.audit import record
from beholder.auth.passwords import hash_password
from beholder.auth.roles import Role
from beholder.contracts.audit import AuditAction, AuditTarget
from beholder.contracts.auth import RevocationReason
from beholder.db.repositories import users as users_repo
from beholder.errors import Conflict

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("", response_model=Page[UserOut])
async def list_users(_: AdminDep, session: SessionDep) -> Page[UserOut]:
    """Every user."""
    return Page(items=[UserOut.model_validate(u) for u in await users_repo.list_all(session)])


@router.post("", response_model=UserOut, status_code=201)
async def create_user(body: UserCreate, principal: AdminDep, session: SessionDep) -> UserOut:
    """Create a user; 409 CONFLICT when the username is taken."""
    user = await users_repo.create(
        session, body.username, hash_password(body.password), body.role.value
    )
    record(
        session,
        AuditAction.USER_CREATE,
        principal,
        target_type=AuditTarget.USER,
        target_id=user.id,
        details={"username": user.username, "role": user.role},
    )
    return UserOut.model_validate(user)


@router.get("/{user_id}", response_model=UserOut)
async def get_user(user_id: str, _: AdminDep, session: SessionDep) -> UserOut:
    return UserOut.model_validate(await users_repo.get(session, user_id))


@router.patch("/{user_id}", response_model=UserOut)
async def update_user(
    user_id: str, body: UserUpdate, principal: AdminDep, session: SessionDep, state: StateDep
) -> UserOut:
    """Change role, password or disabled. An admin cannot demote or disable themself.

    Disabling or demoting ends the user's open sockets, MJPEG streams and WHEP sessions on
    every api instance (a demoted client reconnects with its new rights)."""
    user = await users_repo.get(session, user_id)
    old_role = Role(user.role)
    if user.id == principal.id and (
        (body.role is not None and body.role.value != user.role) or body.disabled
    ):
        raise Conflict("You cannot demote or disable your own account.")
    target = AuditTarget.USER
    if body.role is not None:
        if body.role.value != user.role:
            details = {"from": user.role, "to": body.role.value}
            record(
                session,
                AuditAction.USER_ROLE_CHANGE,
                principal,
                target_type=target,
                target_id=user.id,
                details=details,
            )
        user.role = body.role.value
    if body.password is not None:
        await users_repo.set_password(session, user, hash_password(body.password))
        record(
            session,
            AuditAction.USER_PASSWORD_CHANGE,
            principal,
            target_type=target,
            target_id=user.id,
        )
    if body.disabled is not None:
        if body.disabled != user.disabled:
            action = AuditAction.USER_DISABLE if body.disabled else AuditAction.USER_ENABLE
            record(session, action, principal, target_type=target, target_id=user.id)
        await users_repo.set_disabled(session, user, body.disabled)
    await session.commit()
    state.auth.invalidate(user.id)
    if body.disabled:
        await announce_revocation(state, "user", user.id, RevocationReason.USER_DISABLED)
    elif not Role(user.role).at_least(old_role):
        await announce_revocation(state, "user", user.id, RevocationReason.USER_DEMOTED)
    return UserOut.model_validate(user)


@router.delete("/{user_id}", status_code=204, response_class=Response)
async def delete_user(
    user_id: str, principal: AdminDep, session: SessionDep, state: StateDep
) -> Response:
    """Delete a user (not yourself); their open connections end on every api instance."""
    user = await users_repo.get(session, user_id)
    if user.id == principal.id:
        raise Conflict("You cannot delete your own account.")
    await session.delete(user)
    record(
        session,
        AuditAction.USER_DELETE,
        principal,
        target_type=AuditTarget.USER,
        target_id=user.id,
        details={"username": user.username},
    )
    await session.commit()
    await announce_revocation(state, "user", user.id, RevocationReason.USER_DELETED)
    return Response(status_code=204)
