"""push registrations (XEP-0357): push_registration

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

``push_registration``: one row per app server (JID and pubsub node) an account's client enabled
push notifications with (xmpp_video.modules.push), with the client's resource and the
publish-options form fields as JSON. Types are written out literally, as in 0001.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PART = 1023  # RFC 7622: at most 1023 octets per JID part
BARE = 2 * PART + 1
FULL = BARE + 1 + PART
NODE = 1023

# 64-bit keys on PostgreSQL; SQLite's INTEGER PRIMARY KEY (the rowid) is already 64-bit.
BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "push_registration",
        sa.Column("id", BIG_KEY, autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(length=BARE), nullable=False),
        sa.Column("resource", sa.String(length=PART), nullable=False),
        sa.Column("service", sa.String(length=FULL), nullable=False),
        sa.Column("node", sa.String(length=NODE), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_registration")),
        sa.UniqueConstraint(
            "owner", "service", "node", name=op.f("uq_push_registration_owner_service_node")
        ),
    )


def downgrade() -> None:
    op.drop_table("push_registration")
