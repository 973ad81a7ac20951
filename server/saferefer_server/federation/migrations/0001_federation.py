"""Federation outbox and inbox.

Revision ID: federation_0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from saferefer_server.db.base import JSONDocument, UTCDateTime

revision = "federation_0001"
down_revision = None
branch_labels = ("federation",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "federation_outbox",
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("message_type", sa.String(40), nullable=False),
        sa.Column("to_node", sa.String(120), nullable=False),
        sa.Column("referral_id", sa.String(36), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(36), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("peer_response", JSONDocument, nullable=True),
        sa.PrimaryKeyConstraint("message_id", name="pk_federation_outbox"),
    )
    op.create_index(
        "ix_federation_outbox_status_next_attempt_at",
        "federation_outbox",
        ["status", "next_attempt_at"],
    )
    op.create_index(
        "ix_federation_outbox_to_node_referral_id",
        "federation_outbox",
        ["to_node", "referral_id", "created_at"],
    )
    op.create_table(
        "federation_inbox",
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("message_type", sa.String(40), nullable=False),
        sa.Column("from_node", sa.String(120), nullable=False),
        sa.Column("referral_id", sa.String(36), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=False),
        sa.Column("response", JSONDocument, nullable=False),
        sa.PrimaryKeyConstraint("message_id", name="pk_federation_inbox"),
    )
    op.create_index("ix_federation_inbox_referral_id", "federation_inbox", ["referral_id"])


def downgrade() -> None:
    op.drop_index("ix_federation_inbox_referral_id", table_name="federation_inbox")
    op.drop_table("federation_inbox")
    op.drop_index("ix_federation_outbox_to_node_referral_id", table_name="federation_outbox")
    op.drop_index("ix_federation_outbox_status_next_attempt_at", table_name="federation_outbox")
    op.drop_table("federation_outbox")
