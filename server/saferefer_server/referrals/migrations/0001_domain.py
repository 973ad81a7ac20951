"""Domain tables: consents, referrals, audit log, outbox events and webhooks.

Revision ID: domain_0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "domain_0001"
down_revision = None
branch_labels = ("domain",)
depends_on = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# SQLite only auto-sizes INTEGER primary keys; PostgreSQL gets 64-bit sequence numbers.
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", SEQ, nullable=False),
        sa.Column("last_hash", sa.String(length=71), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.create_table(
        "audit_entries",
        sa.Column("seq", SEQ, autoincrement=False, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("occurred_at", sa.String(length=40), nullable=False),
        sa.Column("node_id", sa.String(length=120), nullable=False),
        sa.Column("actor_org", sa.String(length=120), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.String(length=128), nullable=True),
        sa.Column("counterparty_org", sa.String(length=120), nullable=True),
        sa.Column("decision", JSON_DOCUMENT, nullable=True),
        sa.Column("basis", sa.String(length=500), nullable=True),
        sa.Column("prev_hash", sa.String(length=71), nullable=False),
        sa.Column("hash", sa.String(length=71), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entries")),
        sa.UniqueConstraint("id", name=op.f("uq_audit_entries_id")),
    )
    op.create_index(
        "ix_audit_entries_actor_seq", "audit_entries", ["actor_org", "seq"], unique=False
    )
    op.create_index(
        "ix_audit_entries_counterparty_seq",
        "audit_entries",
        ["counterparty_org", "seq"],
        unique=False,
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("recorded_by_org", sa.String(length=120), nullable=False),
        sa.Column("recorder_role", sa.String(length=40), nullable=False),
        sa.Column("subject_ref", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", JSON_DOCUMENT, nullable=False),
        sa.Column("recorder_jws", sa.Text(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawal", JSON_DOCUMENT, nullable=True),
        sa.Column("expiry_recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index("ix_consents_recorder_id", "consents", ["recorded_by_org", "id"], unique=False)
    op.create_table(
        "event_sequences",
        sa.Column("org_id", sa.String(length=120), nullable=False),
        sa.Column("last_seq", SEQ, nullable=False),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_event_sequences")),
    )
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=120), nullable=False),
        sa.Column("seq", SEQ, nullable=False),
        sa.Column("type", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("subject", sa.String(length=120), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
        sa.UniqueConstraint("org_id", "seq", name=op.f("uq_outbox_events_org_id_seq")),
    )
    op.create_table(
        "referrals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("sender_org", sa.String(length=120), nullable=False),
        sa.Column("recipient_org", sa.String(length=120), nullable=False),
        sa.Column("sender_country", sa.String(length=2), nullable=False),
        sa.Column("recipient_country", sa.String(length=2), nullable=False),
        sa.Column("recipient_role", sa.String(length=40), nullable=False),
        sa.Column("sender_role", sa.String(length=40), nullable=False),
        sa.Column("age_status", sa.String(length=32), nullable=False),
        sa.Column("cross_border", sa.Boolean(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_reason", sa.String(length=40), nullable=True),
        sa.Column("subject_ref", sa.String(length=200), nullable=False),
        sa.Column("data_categories", JSON_DOCUMENT, nullable=False),
        sa.Column("consent_ids", JSON_DOCUMENT, nullable=False),
        sa.Column("based_on", sa.String(length=36), nullable=True),
        sa.Column("attributes", JSON_DOCUMENT, nullable=False),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("respond_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sealed_kid", sa.String(length=64), nullable=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erasure_reason", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
    )
    op.create_index("ix_referrals_created_at", "referrals", ["created_at"], unique=False)
    op.create_index("ix_referrals_recipient_id", "referrals", ["recipient_org", "id"], unique=False)
    op.create_index("ix_referrals_retain_until", "referrals", ["retain_until"], unique=False)
    op.create_index("ix_referrals_sender_id", "referrals", ["sender_org", "id"], unique=False)
    op.create_index(
        "ix_referrals_state_respond_by", "referrals", ["state", "respond_by"], unique=False
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=120), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=80), nullable=False),
        sa.Column("sequence", SEQ, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "ix_webhook_deliveries_status_due",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_webhook_deliveries_subscription_id"),
        "webhook_deliveries",
        ["subscription_id"],
        unique=False,
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=120), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("event_types", JSON_DOCUMENT, nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_delivery_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    op.create_index(
        op.f("ix_webhook_subscriptions_org_id"), "webhook_subscriptions", ["org_id"], unique=False
    )
    op.create_table(
        "withdrawal_notices",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("consent_id", sa.String(length=36), nullable=False),
        sa.Column("referral_id", sa.String(length=36), nullable=False),
        sa.Column("recipient_org", sa.String(length=120), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=True),
        sa.Column("legal_basis", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withdrawal_notices")),
        sa.UniqueConstraint(
            "consent_id", "referral_id", name=op.f("uq_withdrawal_notices_consent_id_referral_id")
        ),
    )
    op.create_index(
        op.f("ix_withdrawal_notices_consent_id"), "withdrawal_notices", ["consent_id"], unique=False
    )
    op.create_index(
        "ix_withdrawal_notices_referral", "withdrawal_notices", ["referral_id"], unique=False
    )
    op.create_table(
        "consent_grants",
        sa.Column("consent_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("recipient_org", sa.String(length=120), nullable=True),
        sa.Column("recipient_role", sa.String(length=40), nullable=True),
        sa.Column("recipient_country", sa.String(length=2), nullable=True),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["consents.id"],
            name=op.f("fk_consent_grants_consent_id_consents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("consent_id", "position", name=op.f("pk_consent_grants")),
    )
    op.create_index(
        op.f("ix_consent_grants_recipient_org"), "consent_grants", ["recipient_org"], unique=False
    )
    op.create_index(
        "ix_consent_grants_role_country",
        "consent_grants",
        ["recipient_role", "recipient_country"],
        unique=False,
    )
    op.create_table(
        "referral_consents",
        sa.Column("referral_id", sa.String(length=36), nullable=False),
        sa.Column("consent_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_consents_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("referral_id", "consent_id", name=op.f("pk_referral_consents")),
    )
    op.create_index(
        op.f("ix_referral_consents_consent_id"), "referral_consents", ["consent_id"], unique=False
    )
    op.create_table(
        "referral_transitions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("referral_id", sa.String(length=36), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("actor_org", sa.String(length=120), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("caused_by", sa.String(length=36), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_transitions_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_transitions")),
    )
    op.create_index(
        op.f("ix_referral_transitions_referral_id"),
        "referral_transitions",
        ["referral_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_referral_transitions_referral_id"), table_name="referral_transitions")
    op.drop_table("referral_transitions")
    op.drop_index(op.f("ix_referral_consents_consent_id"), table_name="referral_consents")
    op.drop_table("referral_consents")
    op.drop_index("ix_consent_grants_role_country", table_name="consent_grants")
    op.drop_index(op.f("ix_consent_grants_recipient_org"), table_name="consent_grants")
    op.drop_table("consent_grants")
    op.drop_index("ix_withdrawal_notices_referral", table_name="withdrawal_notices")
    op.drop_index(op.f("ix_withdrawal_notices_consent_id"), table_name="withdrawal_notices")
    op.drop_table("withdrawal_notices")
    op.drop_index(op.f("ix_webhook_subscriptions_org_id"), table_name="webhook_subscriptions")
    op.drop_table("webhook_subscriptions")
    op.drop_index(op.f("ix_webhook_deliveries_subscription_id"), table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_status_due", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_referrals_state_respond_by", table_name="referrals")
    op.drop_index("ix_referrals_sender_id", table_name="referrals")
    op.drop_index("ix_referrals_retain_until", table_name="referrals")
    op.drop_index("ix_referrals_recipient_id", table_name="referrals")
    op.drop_index("ix_referrals_created_at", table_name="referrals")
    op.drop_table("referrals")
    op.drop_table("outbox_events")
    op.drop_table("event_sequences")
    op.drop_index("ix_consents_recorder_id", table_name="consents")
    op.drop_table("consents")
    op.drop_index("ix_audit_entries_counterparty_seq", table_name="audit_entries")
    op.drop_index("ix_audit_entries_actor_seq", table_name="audit_entries")
    op.drop_table("audit_entries")
    op.drop_table("audit_chain_head")
