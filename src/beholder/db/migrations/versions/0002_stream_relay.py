"""stream relay (issue 10): face detection on streams, stream updated_at, alert source

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import beholder.db.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("video_streams", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "face_detection_enabled", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("updated_at", beholder.db.models.UtcDateTime(timezone=True), nullable=True)
        )
    # Existing streams: last changed when they were created; then the column is required.
    op.execute("UPDATE video_streams SET updated_at = created_at")
    with op.batch_alter_table("video_streams", schema=None) as batch_op:
        batch_op.alter_column(
            "updated_at",
            existing_type=beholder.db.models.UtcDateTime(timezone=True),
            nullable=False,
        )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=96), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("source")
    with op.batch_alter_table("video_streams", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("face_detection_enabled")
