"""Staff review of a request: the identity checks staff ticked, and why a fee was waived.

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-25 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ome_privacy_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identity_checks", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("fee_waiver_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ome_privacy_requests", schema=None) as batch_op:
        batch_op.drop_column("fee_waiver_reason")
        batch_op.drop_column("identity_checks")
