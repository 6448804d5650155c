"""FAST tokens (XEP-0484)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26

Placeholder reserved for the fast work: no schema change yet.
"""

from collections.abc import Sequence

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
