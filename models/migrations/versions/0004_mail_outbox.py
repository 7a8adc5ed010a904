"""The outbox of confirmation emails, and the instant from which registrations get one.

Revision: 0004_mail_outbox; follows 0003_idempotency_keys.

`mail_outbox` has one row per registration that is owed an email, keyed by the
user's id; `users` itself is not touched. `mail_outbox_start` holds one row: the
time this step ran. Registrations older than that predate the emails and are
never sent one, so the first deployment on a database full of applicants
emails none of them.
"""

from __future__ import annotations

from alembic import op

revision = "0004_mail_outbox"
down_revision = "0003_idempotency_keys"
branch_labels = None
depends_on = None

# status: pending until sent or failed (rejected for good). A pending row is due
# at due_at; a sender that claims one sets `claim` and moves due_at to the end of
# its lease, so a claim left by a killed task simply falls due again. The claim
# query reads (status, due_at) in order and stops after the rows it takes.
CREATE_MAIL_OUTBOX = """
CREATE TABLE IF NOT EXISTS mail_outbox (
  user_id VARCHAR(36) NOT NULL PRIMARY KEY,
  status ENUM('pending', 'sent', 'failed') NOT NULL DEFAULT 'pending',
  due_at DATETIME(3) NOT NULL,
  attempts SMALLINT UNSIGNED NOT NULL DEFAULT 0,
  claim VARCHAR(32) NULL,
  message_id VARCHAR(255) NULL,
  last_error VARCHAR(500) NULL,
  created_at DATETIME(3) NOT NULL,
  sent_at DATETIME(3) NULL,
  KEY mail_outbox_due (status, due_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""

CREATE_MAIL_OUTBOX_START = """
CREATE TABLE IF NOT EXISTS mail_outbox_start (
  id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
  started_at TIMESTAMP NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""


def upgrade() -> None:
    """Create both tables; mark now as the start of confirmation emails."""
    op.execute(CREATE_MAIL_OUTBOX)
    op.execute(CREATE_MAIL_OUTBOX_START)
    # users.created_at is a TIMESTAMP in UTC: compare like with like.
    op.execute("INSERT IGNORE INTO mail_outbox_start (id, started_at) VALUES (1, UTC_TIMESTAMP())")


def downgrade() -> None:
    """Drop both tables (the emails owed are lost with them)."""
    op.execute("DROP TABLE IF EXISTS mail_outbox_start")
    op.execute("DROP TABLE IF EXISTS mail_outbox")
