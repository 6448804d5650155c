"""PEP nodes and items (XEP-0163)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26

``pep_node``: the nodes of each account's PEP service with their configuration (XEP-0060 form
field values as a JSON object); ``pep_item``: the items published to them, payload as XML text
(xmpp_video.modules.pep). Types are written out literally, as in 0001.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PART = 1023  # RFC 7622: at most 1023 octets per JID part
BARE = 2 * PART + 1
NODE = 255  # node names and item ids: the PEP module refuses longer ones
ITEM_ID = 255

# 64-bit keys on PostgreSQL; SQLite's INTEGER PRIMARY KEY (the rowid) is already 64-bit.
BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "pep_node",
        sa.Column("id", BIG_KEY, autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(length=BARE), nullable=False),
        sa.Column("node", sa.String(length=NODE), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pep_node")),
        sa.UniqueConstraint("owner", "node", name=op.f("uq_pep_node_owner_node")),
    )
    op.create_table(
        "pep_item",
        sa.Column("id", BIG_KEY, autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(length=BARE), nullable=False),
        sa.Column("node", sa.String(length=NODE), nullable=False),
        sa.Column("item_id", sa.String(length=ITEM_ID), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pep_item")),
        sa.UniqueConstraint(
            "owner", "node", "item_id", name=op.f("uq_pep_item_owner_node_item_id")
        ),
    )
    op.create_index(
        op.f("ix_pep_item_owner_node_id"), "pep_item", ["owner", "node", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pep_item_owner_node_id"), table_name="pep_item")
    op.drop_table("pep_item")
    op.drop_table("pep_node")
