"""message archive: archive_message

Revision ID: 0003
Revises: 0002
Create Date: 2025-11-28

One row per message per archive (XEP-0313 user archives, xmpp_video.modules.mam): the sender's
and the recipient's archives each get their own row and UID. ``id`` orders an archive;
``archive_id`` is the UID clients see. Types are written out literally, as in 0001.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PART = 1023  # RFC 7622: at most 1023 octets per JID part
BARE = 2 * PART + 1
ARCHIVE_ID = 64

# 64-bit keys on PostgreSQL; SQLite's INTEGER PRIMARY KEY (the rowid) is already 64-bit.
BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "archive_message",
        sa.Column("id", BIG_KEY, autoincrement=True, nullable=False),
        sa.Column("archive_id", sa.String(length=ARCHIVE_ID), nullable=False),
        sa.Column("owner", sa.String(length=BARE), nullable=False),
        sa.Column("with_jid", sa.String(length=BARE), nullable=False),
        sa.Column("with_resource", sa.String(length=PART), nullable=True),
        sa.Column("stamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outgoing", sa.Boolean(), nullable=False),
        sa.Column("stanza", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_message")),
        sa.UniqueConstraint("archive_id", name=op.f("uq_archive_message_archive_id")),
    )
    op.create_index(op.f("ix_archive_message_owner_id"), "archive_message", ["owner", "id"])
    op.create_index(op.f("ix_archive_message_owner_stamp"), "archive_message", ["owner", "stamp"])
    op.create_index(
        op.f("ix_archive_message_owner_with_jid_id"), "archive_message", ["owner", "with_jid", "id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_archive_message_owner_with_jid_id"), table_name="archive_message")
    op.drop_index(op.f("ix_archive_message_owner_stamp"), table_name="archive_message")
    op.drop_index(op.f("ix_archive_message_owner_id"), table_name="archive_message")
    op.drop_table("archive_message")
