"""Idempotency keys: which registration each `Idempotency-Key` a client sent names.

Revision: 0003_idempotency_keys; follows 0002_staff_access.

One row a key, written before the registration's INSERT: the key exactly as sent
(case-sensitive, hence ascii_bin), the SHA-256 (hex) of the normalised submission
it came with, and the applicant id that submission is stored under. No foreign key
to `users`: the key is written first, and `users` stays as the contract fixes it.
Rows older than REPLAY_WINDOW_SECONDS are expired; the index on created_at serves
their deletion (models/idempotency.py).
"""

from __future__ import annotations

from alembic import op

revision = "0003_idempotency_keys"
down_revision = "0002_staff_access"
branch_labels = None
depends_on = None

CREATE_IDEMPOTENCY_KEYS = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
  idempotency_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  fingerprint CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id VARCHAR(36) NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  KEY idempotency_keys_created_at (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""


def upgrade() -> None:
    """Create `idempotency_keys`."""
    op.execute(CREATE_IDEMPOTENCY_KEYS)


def downgrade() -> None:
    """Drop it: retries then get the content-based replay only."""
    op.execute("DROP TABLE IF EXISTS idempotency_keys")
