"""First-run set-up shared by ``serve``/``api`` and the admin commands."""

from __future__ import annotations

import sys

from beholder.auth.passwords import generate_password, hash_password
from beholder.auth.roles import Role
from beholder.config import Settings, reveal
from beholder.db.engine import Database
from beholder.db.repositories import users as users_repo
from beholder.errors import Conflict


async def ensure_admin(db: Database, settings: Settings) -> bool:
    """Create the ``admin`` user when no user exists; returns True when it was created.

    The password is ``BEHOLDER_ADMIN_PASSWORD`` or a generated one printed once to stdout.
    Safe when several api instances start together on one database: one creates it, the
    others return False.
    """
    try:
        async with db.session() as s:
            if await users_repo.count(s) > 0:
                return False
            password = reveal(settings.admin_password) or generate_password()
            await users_repo.create(s, "admin", hash_password(password), Role.ADMIN.value)
    except Conflict:
        # Another api instance of a cluster starting at the same moment created it first.
        return False
    if settings.admin_password is None:
        banner = "=" * 64
        print(
            f"\n{banner}\n  Beholder first run: created user 'admin' with password\n\n"
            f"      {password}\n\n  It is shown only this once. Change it with\n"
            f"  `beholder user set-password admin`.\n{banner}\n",
            file=sys.stdout,
            flush=True,
        )
    return True
