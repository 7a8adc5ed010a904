"""The `users` table, exactly as the old service created it, when it is missing.

A database the old service used already holds it: the table and its rows are
left as they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.schema import CREATE_USERS_TABLE

revision = "0001_users"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `users` (the contract's DDL, verbatim) unless it exists."""
    if not sa.inspect(op.get_bind()).has_table("users"):
        op.execute(CREATE_USERS_TABLE)


def downgrade() -> None:
    """Nothing: `users` holds the applicants and may predate migrations; never dropped."""
