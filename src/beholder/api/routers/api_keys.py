"""``/api/api-keys`` (admin only). The full key is returned once, at creation."""

from __future__ import annotations

from fastapi import APIRouter

from beholder.api.deps import AdminDep, SessionDep, StateDep
from beholder.api.revocation import announce_revocation
from beholder.api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, Page
from beholder.auth.api_keys import generate_api_key
from beholder.auth.audit import record
from beholder.contracts.audit import AuditAction, AuditTarget
from beholder.contracts.auth import RevocationReason
from beholder.db.models import ApiKey
from beholder.db.repositories import api_keys as keys_repo

router = APIRouter(prefix="/api/api-keys", tags=["api-keys"])


@router.get("", response_model=Page[ApiKeyOut])
async def list_keys(_: AdminDep, session: SessionDep) -> Page[ApiKeyOut]:
    """Every key (hashes never leave the server)."""
    return Page(items=[ApiKeyOut.model_validate(k) for k in await keys_repo.list_all(session)])


@router.post("", response_model=ApiKeyCreated, status_code=201)
async def create_key(body: ApiKeyCreate, principal: AdminDep, session: SessionDep) -> ApiKeyCreated:
    """Create a key for a machine; store the returned ``key`` now, it is not shown again."""
    owner = principal.id if principal.kind == "user" else None
    full, prefix, digest = generate_api_key()
    row = await keys_repo.create(
        session, body.name, body.scope.value, owner, prefix=prefix, digest=digest
    )
    record(
        session,
        AuditAction.API_KEY_CREATE,
        principal,
        target_type=AuditTarget.API_KEY,
        target_id=row.id,
        details={"name": row.name, "scope": row.scope},
    )
    return ApiKeyCreated.model_validate({**ApiKeyOut.model_validate(row).model_dump(), "key": full})


@router.post("/{key_id}/revoke", response_model=ApiKeyOut)
async def revoke_key(
    key_id: str, principal: AdminDep, session: SessionDep, state: StateDep
) -> ApiKeyOut:
    """Revoke a key; requests with it are refused from now on, and its open sockets, MJPEG
    streams and WHEP sessions end on every api instance."""
    before = await session.get(ApiKey, key_id)
    was_live = before is not None and before.revoked_at is None
    row = await keys_repo.revoke(session, key_id)
    if was_live:  # revoking again changes nothing: no new row
        record(
            session,
            AuditAction.API_KEY_REVOKE,
            principal,
            target_type=AuditTarget.API_KEY,
            target_id=row.id,
            details={"name": row.name, "scope": row.scope},
        )
    await session.commit()
    await announce_revocation(state, "api_key", row.id, RevocationReason.KEY_REVOKED)
    return ApiKeyOut.model_validate(row)


@router.delete("/{key_id}", response_model=ApiKeyOut)
async def delete_key(
    key_id: str, admin: AdminDep, session: SessionDep, state: StateDep
) -> ApiKeyOut:
    """Same as revoke (keys are kept for the audit trail)."""
    return await revoke_key(key_id, admin, session, state)
