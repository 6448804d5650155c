"""initial schema: users, roster_items, offline_messages, user_session

Revision ID: 0001
Revises:
Create Date: 2025-11-26

Types are written out literally (not imported from xmpp_video.storage.models) so that this
revision never changes when the models do. UTC datetimes are DateTime(timezone=True): timestamptz
on PostgreSQL, text on SQLite (models.UTCDateTime converts).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PART = 1023  # RFC 7622: at most 1023 octets per JID part
BARE = 2 * PART + 1

# 64-bit keys on PostgreSQL; SQLite's INTEGER PRIMARY KEY (the rowid) is already 64-bit.
BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=PART), nullable=False),
        sa.Column("domain", sa.String(length=PART), nullable=False),
        sa.Column("scram_sha1_salt", sa.LargeBinary(), nullable=True),
        sa.Column("scram_sha1_iterations", sa.Integer(), nullable=True),
        sa.Column("scram_sha1_stored_key", sa.LargeBinary(), nullable=True),
        sa.Column("scram_sha1_server_key", sa.LargeBinary(), nullable=True),
        sa.Column("scram_sha256_salt", sa.LargeBinary(), nullable=True),
        sa.Column("scram_sha256_iterations", sa.Integer(), nullable=True),
        sa.Column("scram_sha256_stored_key", sa.LargeBinary(), nullable=True),
        sa.Column("scram_sha256_server_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", "domain", name=op.f("uq_users_username_domain")),
    )

    op.create_table(
        "roster_items",
        sa.Column("id", BIG_KEY, autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(length=BARE), nullable=False),
        sa.Column("contact", sa.String(length=BARE), nullable=False),
        sa.Column("name", sa.String(length=PART), nullable=True),
        sa.Column("subscription", sa.String(length=4), nullable=False),
        sa.Column("ask_out", sa.Boolean(), nullable=False),
        sa.Column("pending_in", sa.Boolean(), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("listed", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "subscription IN ('none', 'to', 'from', 'both')",
            name=op.f("ck_roster_items_subscription"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roster_items")),
        sa.UniqueConstraint("owner", "contact", name=op.f("uq_roster_items_owner_contact")),
    )
    op.create_index(op.f("ix_roster_items_contact"), "roster_items", ["contact"])

    op.create_table(
        "offline_messages",
        sa.Column("id", BIG_KEY, autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(length=BARE), nullable=False),
        sa.Column("stanza", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offline_messages")),
    )
    op.create_index(op.f("ix_offline_messages_owner_id"), "offline_messages", ["owner", "id"])

    op.create_table(
        "user_session",
        sa.Column("bare_jid", sa.String(length=BARE), nullable=False),
        sa.Column("resource", sa.String(length=PART), nullable=False),
        sa.Column("node_id", sa.String(length=255), nullable=False),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.Column("connected_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "transport IN ('tcp', 'websocket', 'json')",
            name=op.f("ck_user_session_transport"),
        ),
        sa.PrimaryKeyConstraint("bare_jid", "resource", name=op.f("pk_user_session")),
    )
    op.create_index(op.f("ix_user_session_node_id"), "user_session", ["node_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_user_session_node_id"), table_name="user_session")
    op.drop_table("user_session")
    op.drop_index(op.f("ix_offline_messages_owner_id"), table_name="offline_messages")
    op.drop_table("offline_messages")
    op.drop_index(op.f("ix_roster_items_contact"), table_name="roster_items")
    op.drop_table("roster_items")
    op.drop_table("users")
