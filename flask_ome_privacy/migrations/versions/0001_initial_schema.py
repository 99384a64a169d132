"""Initial schema: requests, documents, receipts, messages, decisions, audit, consents, provisions, notifications, SNS withdrawals.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 11:14:52.925896
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "ome_privacy_audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("subject_user_id", sa.String(length=64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ome_privacy_audit_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_ome_privacy_audit_events_hash")),
    )
    with op.batch_alter_table("ome_privacy_audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ome_privacy_audit_events_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ome_privacy_audit_events_request_id"), ["request_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ome_privacy_audit_events_subject_user_id"), ["subject_user_id"], unique=False
        )

    op.create_table(
        "ome_privacy_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("purpose_key", sa.String(length=128), nullable=False),
        sa.Column("purpose_version", sa.Integer(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ome_privacy_consents")),
    )
    with op.batch_alter_table("ome_privacy_consents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ome_privacy_consents_user_purpose", ["user_id", "purpose_key", "decided_at"], unique=False
        )

    op.create_table(
        "ome_privacy_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("link", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ome_privacy_notifications")),
    )
    with op.batch_alter_table("ome_privacy_notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ome_privacy_notifications_user_created", ["user_id", "created_at"], unique=False
        )

    op.create_table(
        "ome_privacy_provisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=255), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("basis", sa.String(length=32), nullable=False),
        sa.Column("provided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ome_privacy_provisions")),
    )
    with op.batch_alter_table("ome_privacy_provisions", schema=None) as batch_op:
        batch_op.create_index("ix_ome_privacy_provisions_user_at", ["user_id", "provided_at"], unique=False)

    op.create_table(
        "ome_privacy_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("requester_type", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("ground", sa.String(length=32), nullable=True),
        sa.Column("disclosure_method", sa.String(length=16), nullable=True),
        sa.Column("disclosure_method_note", sa.Text(), nullable=True),
        sa.Column("fee_status", sa.String(length=16), nullable=False),
        sa.Column("fee_amount", sa.Integer(), nullable=False),
        sa.Column("fee_method", sa.String(length=32), nullable=True),
        sa.Column("fee_received_on", sa.Date(), nullable=True),
        sa.Column("fee_recorded_by", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("target_days", sa.Integer(), nullable=False),
        sa.Column("paused_seconds", sa.Float(), nullable=False),
        sa.Column("paused_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("identity_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("identity_verified_by", sa.String(length=64), nullable=True),
        sa.Column("identity_method", sa.String(length=64), nullable=True),
        sa.Column("representation_verified", sa.Boolean(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("substitute_measure", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("documents_purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assigned_to", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ome_privacy_requests")),
        sa.UniqueConstraint("reference", name=op.f("uq_ome_privacy_requests_reference")),
    )
    with op.batch_alter_table("ome_privacy_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ome_privacy_requests_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_ome_privacy_requests_user_id"), ["user_id"], unique=False)

    op.create_table(
        "ome_privacy_sns_withdrawals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("erased", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ome_privacy_sns_withdrawals")),
        sa.UniqueConstraint("reference", name=op.f("uq_ome_privacy_sns_withdrawals_reference")),
    )
    with op.batch_alter_table("ome_privacy_sns_withdrawals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ome_privacy_sns_withdrawals_user_id"), ["user_id"], unique=False)

    op.create_table(
        "ome_privacy_decision_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=255), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["ome_privacy_requests.id"],
            name=op.f("fk_ome_privacy_decision_items_request_id_ome_privacy_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ome_privacy_decision_items")),
    )
    with op.batch_alter_table("ome_privacy_decision_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ome_privacy_decision_items_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "ome_privacy_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("doc_type", sa.String(length=32), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("masked_by_staff", sa.Boolean(), nullable=False),
        sa.Column("checked", sa.String(length=16), nullable=True),
        sa.Column("check_note", sa.Text(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["ome_privacy_requests.id"],
            name=op.f("fk_ome_privacy_documents_request_id_ome_privacy_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ome_privacy_documents")),
    )
    with op.batch_alter_table("ome_privacy_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ome_privacy_documents_request_id"), ["request_id"], unique=False)

    op.create_table(
        "ome_privacy_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("checklist", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("executed_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["ome_privacy_requests.id"],
            name=op.f("fk_ome_privacy_receipts_request_id_ome_privacy_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ome_privacy_receipts")),
        sa.UniqueConstraint("request_id", "target", "action", name="uq_ome_privacy_receipts_target"),
    )
    with op.batch_alter_table("ome_privacy_receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ome_privacy_receipts_request_id"), ["request_id"], unique=False)

    op.create_table(
        "ome_privacy_request_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["ome_privacy_requests.id"],
            name=op.f("fk_ome_privacy_request_messages_request_id_ome_privacy_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ome_privacy_request_messages")),
    )
    with op.batch_alter_table("ome_privacy_request_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ome_privacy_request_messages_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("ome_privacy_request_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ome_privacy_request_messages_request_id"))

    op.drop_table("ome_privacy_request_messages")
    with op.batch_alter_table("ome_privacy_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ome_privacy_receipts_request_id"))

    op.drop_table("ome_privacy_receipts")
    with op.batch_alter_table("ome_privacy_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ome_privacy_documents_request_id"))

    op.drop_table("ome_privacy_documents")
    with op.batch_alter_table("ome_privacy_decision_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ome_privacy_decision_items_request_id"))

    op.drop_table("ome_privacy_decision_items")
    with op.batch_alter_table("ome_privacy_sns_withdrawals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ome_privacy_sns_withdrawals_user_id"))

    op.drop_table("ome_privacy_sns_withdrawals")
    with op.batch_alter_table("ome_privacy_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ome_privacy_requests_user_id"))
        batch_op.drop_index(batch_op.f("ix_ome_privacy_requests_status"))

    op.drop_table("ome_privacy_requests")
    with op.batch_alter_table("ome_privacy_provisions", schema=None) as batch_op:
        batch_op.drop_index("ix_ome_privacy_provisions_user_at")

    op.drop_table("ome_privacy_provisions")
    with op.batch_alter_table("ome_privacy_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_ome_privacy_notifications_user_created")

    op.drop_table("ome_privacy_notifications")
    with op.batch_alter_table("ome_privacy_consents", schema=None) as batch_op:
        batch_op.drop_index("ix_ome_privacy_consents_user_purpose")

    op.drop_table("ome_privacy_consents")
    with op.batch_alter_table("ome_privacy_audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ome_privacy_audit_events_subject_user_id"))
        batch_op.drop_index(batch_op.f("ix_ome_privacy_audit_events_request_id"))
        batch_op.drop_index(batch_op.f("ix_ome_privacy_audit_events_at"))

    op.drop_table("ome_privacy_audit_events")
