"""Notification links as endpoint + values, built into a URL on display.

A stored path breaks when the host moves the pages (``OME_PRIVACY_ACCOUNT_URL_PREFIX``);
an endpoint does not. Rows written before keep their plain ``link`` and still work.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ome_privacy_notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_endpoint", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("link_values", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ome_privacy_notifications", schema=None) as batch_op:
        batch_op.drop_column("link_values")
        batch_op.drop_column("link_endpoint")
