"""Staff keys get a role, an expiry and a rotation number.

Revision: 0006_staff_key_roles; follows 0005_mail_events.

- `role`: viewer (list, search, statistics, export) or admin (also erasure and the
  audit trail). Every key existing before this step could do everything, so it
  becomes admin; afterwards the column has no default: each new key states its role.
- `expires_at`: UTC, NULL for a key that does not expire. DATETIME, not TIMESTAMP,
  so an expiry past 2038 can be stored.
- `rotation`: 0 for a created key, n+1 for the key `keys rotate` issued after key n.
  The unique key becomes (name, rotation): a rotated key keeps its person's name
  (the audit trail reads as one person), while `keys create` still never reuses a
  name (it always writes rotation 0) and two rotations at once cannot both win.

Plain ALTER TABLE syntax that MySQL 8 and MariaDB both take; `users` is untouched.
"""

from __future__ import annotations

from alembic import op

revision = "0006_staff_key_roles"
down_revision = "0005_mail_events"
branch_labels = None
depends_on = None

ADD_COLUMNS = """
ALTER TABLE staff_keys
  ADD COLUMN role ENUM('viewer', 'admin') NOT NULL DEFAULT 'admin',
  ADD COLUMN expires_at DATETIME NULL DEFAULT NULL,
  ADD COLUMN rotation SMALLINT UNSIGNED NOT NULL DEFAULT 0,
  DROP INDEX staff_keys_name,
  ADD UNIQUE KEY staff_keys_name (name, rotation)
"""
# Only the rows that existed took the default above.
NO_DEFAULT_ROLE = "ALTER TABLE staff_keys ALTER COLUMN role DROP DEFAULT"


def upgrade() -> None:
    """Existing keys become admin keys that never expire."""
    op.execute(ADD_COLUMNS)
    op.execute(NO_DEFAULT_ROLE)


def downgrade() -> None:
    """Back to one key per name (fails while a rotated key exists: revoke and delete it)."""
    op.execute(
        "ALTER TABLE staff_keys DROP INDEX staff_keys_name, ADD UNIQUE KEY staff_keys_name (name),"
        " DROP COLUMN rotation, DROP COLUMN expires_at, DROP COLUMN role"
    )
