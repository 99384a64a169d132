"""The staff queue: keyset indexes on (due_at, id), and what a mailed request keeps.

Revision ID: 0007
Revises: 0008
Create Date: 2026-11-25 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ome_privacy_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("postal_name", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("postal_address", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("originals", sa.String(length=16), nullable=True))
        batch_op.create_index("ix_ome_privacy_requests_due_at_id", ["due_at", "id"], unique=False)
        batch_op.create_index(
            "ix_ome_privacy_requests_assigned_due", ["assigned_to", "due_at", "id"], unique=False
        )
        batch_op.create_index("ix_ome_privacy_requests_status_due", ["status", "due_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ome_privacy_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_ome_privacy_requests_status_due")
        batch_op.drop_index("ix_ome_privacy_requests_assigned_due")
        batch_op.drop_index("ix_ome_privacy_requests_due_at_id")
        batch_op.drop_column("originals")
        batch_op.drop_column("postal_address")
        batch_op.drop_column("postal_name")
