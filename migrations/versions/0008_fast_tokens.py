"""FAST tokens (XEP-0484): fast_token

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26

``fast_token``: at most two tokens ("current" and "new" slot) per client (its SASL2 user-agent
id) per account, kept as hashes only (xmpp_video.auth.fast). Types are written out literally,
as in 0001.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PART = 1023  # RFC 7622: at most 1023 octets per JID part
BARE = 2 * PART + 1
CLIENT_ID = 256  # SASL2 user-agent ids

# 64-bit keys on PostgreSQL; SQLite's INTEGER PRIMARY KEY (the rowid) is already 64-bit.
BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "fast_token",
        sa.Column("id", BIG_KEY, autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(length=BARE), nullable=False),
        sa.Column("client_id", sa.String(length=CLIENT_ID), nullable=False),
        sa.Column("slot", sa.String(length=8), nullable=False),
        sa.Column("mechanism", sa.String(length=32), nullable=False),
        sa.Column("verifier", sa.LargeBinary(), nullable=False),
        sa.Column("responder", sa.LargeBinary(), nullable=False),
        sa.Column("last_count", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("slot IN ('current', 'new')", name=op.f("ck_fast_token_slot")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fast_token")),
        sa.UniqueConstraint(
            "owner", "client_id", "slot", name=op.f("uq_fast_token_owner_client_id_slot")
        ),
    )
    op.create_index(op.f("ix_fast_token_expires_at"), "fast_token", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_fast_token_expires_at"), table_name="fast_token")
    op.drop_table("fast_token")
