"""Shell administration: ``beholder migrate``, ``beholder user …``, ``beholder api-key …``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from beholder.auth.api_keys import generate_api_key
from beholder.auth.audit import CLI, record
from beholder.auth.passwords import generate_password, hash_password
from beholder.config import Settings
from beholder.contracts.audit import AuditAction, AuditTarget
from beholder.db.engine import Database, prepare_data_dir
from beholder.db.migrate import upgrade_async
from beholder.db.repositories import api_keys as keys_repo
from beholder.db.repositories import users as users_repo
from beholder.errors import AppError
from beholder.password_policy import WeakPassword, check_password


async def migrate(settings: Settings) -> int:
    """Apply migrations to the configured database."""
    prepare_data_dir(settings)
    await upgrade_async(settings.resolved_database_url)
    print("database is up to date")
    return 0


async def _in_session(settings: Settings, action: Callable[[AsyncSession], Awaitable[int]]) -> int:
    """Migrate, run ``action`` in one committed session, and turn an ``AppError`` into its
    user-safe message on stderr with exit code 1."""
    prepare_data_dir(settings)
    await upgrade_async(settings.resolved_database_url)
    db = Database(settings)
    try:
        async with db.session() as s:
            return await action(s)
    except AppError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    except WeakPassword as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        await db.dispose()


async def user_command(settings: Settings, args: argparse.Namespace) -> int:
    """``user create|list|set-password|disable|enable``; exit 1 with a message on failure."""

    async def action(s: AsyncSession) -> int:
        if args.action == "list":
            for u in await users_repo.list_all(s):
                state = "disabled" if u.disabled else "active"
                print(f"{u.username}\t{u.role}\t{state}\t{u.id}")
            return 0
        if args.action == "create":
            password = args.password or generate_password()
            check_password(password)
            created = await users_repo.create(s, args.username, hash_password(password), args.role)
            record(
                s,
                AuditAction.USER_CREATE,
                CLI,
                target_type=AuditTarget.USER,
                target_id=created.id,
                details={"username": created.username, "role": created.role},
            )
            print(f"created {args.role} {args.username}")
            if not args.password:
                print(f"password: {password}")
            return 0
        user = await users_repo.get_by_username(s, args.username)
        if user is None:
            print(f"no user named {args.username!r}", file=sys.stderr)
            return 1
        target = AuditTarget.USER
        if args.action == "set-password":
            password = args.password or generate_password()
            check_password(password)
            await users_repo.set_password(s, user, hash_password(password))
            record(s, AuditAction.USER_PASSWORD_CHANGE, CLI, target_type=target, target_id=user.id)
            print(f"password changed for {user.username}")
            if not args.password:
                print(f"password: {password}")
        elif args.action == "disable":
            await users_repo.set_disabled(s, user, True)
            record(s, AuditAction.USER_DISABLE, CLI, target_type=target, target_id=user.id)
            print(f"disabled {user.username}")
        elif args.action == "enable":
            await users_repo.set_disabled(s, user, False)
            record(s, AuditAction.USER_ENABLE, CLI, target_type=target, target_id=user.id)
            print(f"enabled {user.username}")
        return 0

    return await _in_session(settings, action)


async def api_key_command(settings: Settings, args: argparse.Namespace) -> int:
    """``api-key create|list|revoke``; the full key is printed once at creation."""

    async def action(s: AsyncSession) -> int:
        if args.action == "list":
            for k in await keys_repo.list_all(s):
                state = "revoked" if k.revoked_at else "active"
                print(f"{k.id}\t{k.name}\t{k.scope}\tbhk_{k.prefix}_…\t{state}")
            return 0
        if args.action == "create":
            owner_id = None
            if args.owner:
                owner = await users_repo.get_by_username(s, args.owner)
                if owner is None:
                    print(f"no user named {args.owner!r}", file=sys.stderr)
                    return 1
                owner_id = owner.id
            full, prefix, digest = generate_api_key()
            row = await keys_repo.create(
                s, args.name, args.scope, owner_id, prefix=prefix, digest=digest
            )
            record(
                s,
                AuditAction.API_KEY_CREATE,
                CLI,
                target_type=AuditTarget.API_KEY,
                target_id=row.id,
                details={"name": row.name, "scope": row.scope},
            )
            print(f"created {args.scope} key {row.name} ({row.id})")
            print(f"key: {full}")
            return 0
        row = await keys_repo.revoke(s, args.key_id)
        record(
            s,
            AuditAction.API_KEY_REVOKE,
            CLI,
            target_type=AuditTarget.API_KEY,
            target_id=row.id,
            details={"name": row.name, "scope": row.scope},
        )
        print(f"revoked {args.key_id}")
        return 0

    return await _in_session(settings, action)
