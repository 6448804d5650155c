"""PEP nodes and items (XEP-0163)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26

Placeholder reserved for the pep work: no schema change yet.
"""

from collections.abc import Sequence

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
