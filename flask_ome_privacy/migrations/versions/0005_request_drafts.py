"""Request drafts: the wizard's answers so far, and documents uploaded before submission.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ome_privacy_request_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ome_privacy_request_drafts")),
        sa.UniqueConstraint("token", name=op.f("uq_ome_privacy_request_drafts_token")),
    )
    with op.batch_alter_table("ome_privacy_request_drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ome_privacy_request_drafts_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ome_privacy_request_drafts_updated_at"), ["updated_at"], unique=False
        )
    with op.batch_alter_table("ome_privacy_documents", schema=None) as batch_op:
        batch_op.alter_column("request_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("draft_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_ome_privacy_documents_draft_id"), ["draft_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_ome_privacy_documents_draft_id_ome_privacy_request_drafts"),
            "ome_privacy_request_drafts",
            ["draft_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    op.execute("DELETE FROM ome_privacy_documents WHERE request_id IS NULL")
    with op.batch_alter_table("ome_privacy_documents", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_ome_privacy_documents_draft_id_ome_privacy_request_drafts"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_ome_privacy_documents_draft_id"))
        batch_op.drop_column("draft_id")
        batch_op.alter_column("request_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("ome_privacy_request_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ome_privacy_request_drafts_updated_at"))
        batch_op.drop_index(batch_op.f("ix_ome_privacy_request_drafts_user_id"))
    op.drop_table("ome_privacy_request_drafts")
