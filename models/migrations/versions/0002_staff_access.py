"""Staff access: the keys admissions staff use, and the audit trail of what they did.

Keys are stored only as the SHA-256 of the key; names are unique for good
(a revoked key keeps its name, so audit rows name one key). Audit rows hold
no applicant data: filters are recorded with `q` reduced to its length.
"""

from __future__ import annotations

from alembic import op

revision = "0002_staff_access"
down_revision = "0001_users"
branch_labels = None
depends_on = None

CREATE_STAFF_KEYS = """
CREATE TABLE staff_keys (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  key_hash BINARY(32) NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  last_used_at TIMESTAMP NULL DEFAULT NULL,
  revoked_at TIMESTAMP NULL DEFAULT NULL,
  UNIQUE KEY staff_keys_name (name),
  UNIQUE KEY staff_keys_hash (key_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""

CREATE_STAFF_AUDIT = """
CREATE TABLE staff_audit (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  key_name VARCHAR(64) NOT NULL,
  action VARCHAR(32) NOT NULL,
  detail VARCHAR(2000) NOT NULL,
  row_count INT UNSIGNED NULL,
  request_id VARCHAR(128) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""


def upgrade() -> None:
    """Create `staff_keys` and `staff_audit`."""
    op.execute(CREATE_STAFF_KEYS)
    op.execute(CREATE_STAFF_AUDIT)


def downgrade() -> None:
    """Drop them (the applicants in `users` are untouched)."""
    op.execute("DROP TABLE staff_audit")
    op.execute("DROP TABLE staff_keys")
