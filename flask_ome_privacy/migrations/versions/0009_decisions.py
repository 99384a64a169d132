"""The staff decision: items with verdict and grounds, four-eyes approval, receipt errors and
notes, paper delivery, and the stops a decision puts in place (use, provision).

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-25 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ome_privacy_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approved_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("approved_fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("disclosure_mailed_on", sa.Date(), nullable=True))
        # "partially_approved" (decisions.Outcome) is longer than the 16 characters of 0001.
        batch_op.alter_column(
            "decision", existing_type=sa.String(length=16), type_=sa.String(length=32), existing_nullable=True
        )
    with op.batch_alter_table("ome_privacy_receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
    with op.batch_alter_table("ome_privacy_decision_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("field", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("verdict", sa.String(length=16), nullable=False, server_default="undecided")
        )
        batch_op.add_column(sa.Column("ground", sa.String(length=48), nullable=True))
        batch_op.add_column(sa.Column("substitute", sa.Text(), nullable=True))
    with op.batch_alter_table("ome_privacy_decision_items", schema=None) as batch_op:
        batch_op.alter_column("verdict", server_default=None)
    op.create_table(
        "ome_privacy_stops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ome_privacy_stops")),
        sa.UniqueConstraint(
            "request_id", "kind", "target", name="uq_ome_privacy_stops_request_kind_target"
        ),
    )
    with op.batch_alter_table("ome_privacy_stops", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ome_privacy_stops_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ome_privacy_stops", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ome_privacy_stops_user_id"))
    op.drop_table("ome_privacy_stops")
    with op.batch_alter_table("ome_privacy_decision_items", schema=None) as batch_op:
        for column in ("substitute", "ground", "verdict", "field", "source"):
            batch_op.drop_column(column)
    with op.batch_alter_table("ome_privacy_receipts", schema=None) as batch_op:
        batch_op.drop_column("note")
        batch_op.drop_column("error")
    with op.batch_alter_table("ome_privacy_requests", schema=None) as batch_op:
        batch_op.alter_column(
            "decision", existing_type=sa.String(length=32), type_=sa.String(length=16), existing_nullable=True
        )
        for column in ("disclosure_mailed_on", "approved_at", "approved_fingerprint", "approved_by"):
            batch_op.drop_column(column)
