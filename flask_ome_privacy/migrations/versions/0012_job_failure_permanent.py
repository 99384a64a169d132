"""Whether a failed job gave up for good, so the staff request page can say "fix the cause first".

A task raises ``jobs.GiveUp`` when trying again cannot help (a recipient the mail server
refuses for good); until now only the error type told it apart from a job that ran out of
retries. Rows recorded before this revision count as not permanent.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 01:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ome_privacy_job_failures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("permanent", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("ome_privacy_job_failures", schema=None) as batch_op:
        batch_op.drop_column("permanent")
