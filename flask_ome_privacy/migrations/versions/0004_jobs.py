"""Failed background jobs: the jobs that gave up after their retries, for staff to retry.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 13:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ome_privacy_job_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=128), nullable=False),
        sa.Column("arguments", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_type", sa.String(length=255), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retried_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retried_by", sa.String(length=64), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ome_privacy_job_failures")),
    )
    with op.batch_alter_table("ome_privacy_job_failures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ome_privacy_job_failures_request_id"), ["request_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ome_privacy_job_failures_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ome_privacy_job_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ome_privacy_job_failures_status"))
        batch_op.drop_index(batch_op.f("ix_ome_privacy_job_failures_request_id"))
    op.drop_table("ome_privacy_job_failures")
