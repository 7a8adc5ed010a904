"""${message}

Revision: ${up_revision}; follows ${down_revision | comma,n}.
"""

from __future__ import annotations

from alembic import op
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    """Apply this step."""
    ${upgrades if upgrades else "op.execute(...)"}


def downgrade() -> None:
    """Undo this step."""
    ${downgrades if downgrades else "op.execute(...)"}
