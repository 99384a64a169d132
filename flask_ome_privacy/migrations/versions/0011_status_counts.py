"""Requests per status, kept as they change, so the desk's counts need no scan of every request.

Filled here from the requests already stored; ``privacy_requests.submit`` and ``move`` keep it
from then on.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-07 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ome_privacy_status_counts",
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("status", name=op.f("pk_ome_privacy_status_counts")),
    )
    op.execute(
        "INSERT INTO ome_privacy_status_counts (status, count) "
        "SELECT status, COUNT(*) FROM ome_privacy_requests GROUP BY status"
    )


def downgrade() -> None:
    op.drop_table("ome_privacy_status_counts")
