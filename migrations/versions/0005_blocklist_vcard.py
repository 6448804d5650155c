"""blocking and vCards: blocklist, vcard

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

``blocklist``: one row per JID a user blocked (XEP-0191, xmpp_video.modules.blocking).
``vcard``: one vCard-temp per user (XEP-0054, xmpp_video.modules.vcard), as XML text. Types are
written out literally, as in 0001.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PART = 1023  # RFC 7622: at most 1023 octets per JID part
BARE = 2 * PART + 1
FULL = BARE + 1 + PART

# 64-bit keys on PostgreSQL; SQLite's INTEGER PRIMARY KEY (the rowid) is already 64-bit.
BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "blocklist",
        sa.Column("id", BIG_KEY, autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(length=BARE), nullable=False),
        sa.Column("jid", sa.String(length=FULL), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocklist")),
        sa.UniqueConstraint("owner", "jid", name=op.f("uq_blocklist_owner_jid")),
    )
    op.create_table(
        "vcard",
        sa.Column("owner", sa.String(length=BARE), nullable=False),
        sa.Column("vcard", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_vcard")),
    )


def downgrade() -> None:
    op.drop_table("vcard")
    op.drop_table("blocklist")
