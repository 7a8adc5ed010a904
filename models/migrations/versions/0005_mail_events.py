"""Bounces, complaints and the suppression list; the client address on outbox rows.

Revision: 0005_mail_events; follows 0004_mail_outbox.

`mail_outbox.status` gains `bounced` and `complained` (SES's events about a sent
email, found by its `message_id`, now indexed) and `suppressed` (never sent: the
address had bounced or complained before). `mail_outbox.client` is the address
the registration came from, which the sender's fair order uses (docs/mail.md);
`users` is not touched. `mail_suppressions` holds the addresses never mailed
again, compared under the same collation as `users.email`.
"""

from __future__ import annotations

from alembic import op

revision = "0005_mail_events"
down_revision = "0004_mail_outbox"
branch_labels = None
depends_on = None

ALTER_MAIL_OUTBOX = """
ALTER TABLE mail_outbox
  MODIFY status ENUM('pending', 'sent', 'failed', 'bounced', 'complained', 'suppressed')
    NOT NULL DEFAULT 'pending',
  ADD COLUMN client VARCHAR(45) NULL,
  ADD KEY mail_outbox_message (message_id)
"""

CREATE_MAIL_SUPPRESSIONS = """
CREATE TABLE IF NOT EXISTS mail_suppressions (
  email VARCHAR(255) NOT NULL PRIMARY KEY,
  reason ENUM('bounce', 'complaint') NOT NULL,
  message_id VARCHAR(255) NULL,
  created_at DATETIME(3) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""


def upgrade() -> None:
    """Widen the outbox's statuses, add its client column, create the suppression list."""
    op.execute(ALTER_MAIL_OUTBOX)
    op.execute(CREATE_MAIL_SUPPRESSIONS)


def downgrade() -> None:
    """Drop the list and the column; bounced and complained count as sent, suppressed failed."""
    op.execute("DROP TABLE IF EXISTS mail_suppressions")
    op.execute("UPDATE mail_outbox SET status = 'sent' WHERE status IN ('bounced', 'complained')")
    op.execute("UPDATE mail_outbox SET status = 'failed' WHERE status = 'suppressed'")
    op.execute(
        "ALTER TABLE mail_outbox DROP KEY mail_outbox_message, DROP COLUMN client,"
        " MODIFY status ENUM('pending', 'sent', 'failed') NOT NULL DEFAULT 'pending'"
    )
