"""push registrations (XEP-0357)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

Placeholder reserved for the push work: no schema change yet.
"""

from collections.abc import Sequence

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
