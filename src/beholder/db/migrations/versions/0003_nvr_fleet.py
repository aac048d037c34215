"""NVR fleet (issue 11): NVR site/model/firmware/updated_at, camera channel and
reachability, keys bound to an NVR, alerts about an NVR

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 04:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import beholder.db.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_UTC = beholder.db.models.UtcDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("nvrs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("site", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("model", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("firmware", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("updated_at", _UTC, nullable=True))
    op.execute("UPDATE nvrs SET updated_at = created_at")
    with op.batch_alter_table("nvrs", schema=None) as batch_op:
        batch_op.alter_column("updated_at", existing_type=_UTC, nullable=False)

    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nvr_channel", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "reachability", sa.String(length=16), server_default="unknown", nullable=False
            )
        )
        batch_op.add_column(sa.Column("reachability_detail", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("probe", sa.JSON(), nullable=True))
        batch_op.create_unique_constraint("uq_cameras_nvr_channel", ["nvr_id", "nvr_channel"])
        batch_op.create_index("ix_cameras_nvr_id", ["nvr_id"], unique=False)

    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nvr_id", sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(
            "fk_api_keys_nvr_id_nvrs", "nvrs", ["nvr_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index("ix_api_keys_nvr_id", ["nvr_id"], unique=False)

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nvr_id", sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(
            "fk_alerts_nvr_id_nvrs", "nvrs", ["nvr_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index("ix_alerts_nvr_id", ["nvr_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_nvr_id")
        batch_op.drop_constraint("fk_alerts_nvr_id_nvrs", type_="foreignkey")
        batch_op.drop_column("nvr_id")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_api_keys_nvr_id")
        batch_op.drop_constraint("fk_api_keys_nvr_id_nvrs", type_="foreignkey")
        batch_op.drop_column("nvr_id")
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_index("ix_cameras_nvr_id")
        batch_op.drop_constraint("uq_cameras_nvr_channel", type_="unique")
        batch_op.drop_column("probe")
        batch_op.drop_column("reachability_detail")
        batch_op.drop_column("reachability")
        batch_op.drop_column("nvr_channel")
    with op.batch_alter_table("nvrs", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("firmware")
        batch_op.drop_column("model")
        batch_op.drop_column("site")
