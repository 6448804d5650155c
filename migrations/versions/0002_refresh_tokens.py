"""refresh tokens: refresh_token

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-27

One row per refresh token handed out (xmpp_video.auth.tokens), so that each works once and a
reused one revokes its family. Types are written out literally, as in 0001.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PART = 1023  # RFC 7622: at most 1023 octets per JID part
TOKEN_ID = 64  # random token and family ids


def upgrade() -> None:
    op.create_table(
        "refresh_token",
        sa.Column("jti", sa.String(length=TOKEN_ID), nullable=False),
        sa.Column("family", sa.String(length=TOKEN_ID), nullable=False),
        sa.Column("username", sa.String(length=PART), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_refresh_token")),
    )
    op.create_index(op.f("ix_refresh_token_family"), "refresh_token", ["family"])
    op.create_index(op.f("ix_refresh_token_username"), "refresh_token", ["username"])
    op.create_index(op.f("ix_refresh_token_expires_at"), "refresh_token", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_refresh_token_expires_at"), table_name="refresh_token")
    op.drop_index(op.f("ix_refresh_token_username"), table_name="refresh_token")
    op.drop_index(op.f("ix_refresh_token_family"), table_name="refresh_token")
    op.drop_table("refresh_token")
