"""calls: call_session

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

One row per call followed by a call process (xmpp_video.calls). Types are written out
literally, as in 0001.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BARE_JID = 2 * 1023 + 1  # RFC 7622: at most 1023 octets per JID part
CALL_ID = 128


def upgrade() -> None:
    op.create_table(
        "call_session",
        sa.Column("call_id", sa.String(length=CALL_ID), nullable=False),
        sa.Column("caller", sa.String(length=BARE_JID), nullable=False),
        sa.Column("caller_device", sa.Text(), nullable=False),
        sa.Column("callee", sa.String(length=BARE_JID), nullable=False),
        sa.Column("devices", sa.JSON(), nullable=False),
        sa.Column("answered_by", sa.Text(), nullable=True),
        sa.Column("media", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("node_id", sa.String(length=255), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ringing_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.Column("ended_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_call_session")),
    )
    for column in ("proposed_at", "caller", "callee", "ended_at"):
        op.create_index(op.f(f"ix_call_session_{column}"), "call_session", [column])


def downgrade() -> None:
    for column in ("ended_at", "callee", "caller", "proposed_at"):
        op.drop_index(op.f(f"ix_call_session_{column}"), table_name="call_session")
    op.drop_table("call_session")
