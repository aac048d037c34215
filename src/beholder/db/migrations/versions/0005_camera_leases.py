"""cluster (issue 12): the worker holding each camera and the fencing of its status

``cameras.worker_id``: the worker that reported the camera's current status (``null``: none,
e.g. stopped); ``cameras.lease_epoch`` / ``cameras.status_seq``: the lease epoch and the
per-camera sequence of the status event stored last (distributed mode; ``null`` under
``serve``). The api stores a status event only when its ``(epoch, seq)`` is newer than these,
and drops an alert whose epoch is older than ``lease_epoch`` (a paused-then-resumed worker
cannot write over the camera's new owner).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 16:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.add_column(sa.Column("worker_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("lease_epoch", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("status_seq", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_column("status_seq")
        batch_op.drop_column("lease_epoch")
        batch_op.drop_column("worker_id")
