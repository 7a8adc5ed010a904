"""The fleet check's "next version": a copy of the tree plus one expand-only migration.

The step adds a nullable column to `mail_outbox`, the busiest table after
`users` (every registration writes it, every email updates it): the old version,
which names its columns, keeps working beside it, and `users` is untouched.
It is written into the copy at run time and never into the real versions folder.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from fleet_errors import FleetError

MIGRATIONS = Path("models/migrations")
HEAD_LINE = re.compile(r'^HEAD = "(?P<head>[0-9]{4})_(?P<name>\w+)"$', re.MULTILINE)
NOT_COPIED = (".git", ".venv", "__pycache__", "*_cache", ".hypothesis", "outbox-mail", "*.pyc")
NEW_COLUMN = "fleet_check_note"

STEP = '''\
"""The fleet check's next version: a nullable column on `mail_outbox`, expand only.

Revision: {revision}; follows {head}. Written by deploy/fleet_release.py into a
copy of the tree; never committed.
"""

from __future__ import annotations

from alembic import op

revision = "{revision}"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column; rows and the old version's statements are unchanged."""
    op.execute("ALTER TABLE mail_outbox ADD COLUMN {column} VARCHAR(64) NULL")


def downgrade() -> None:
    """Drop it."""
    op.execute("ALTER TABLE mail_outbox DROP COLUMN {column}")
'''


def build_next_version(source: Path, target: Path) -> str:
    """Copy `source` to `target` and add the step; the new HEAD revision."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*NOT_COPIED), symlinks=True)
    package = target / MIGRATIONS / "__init__.py"
    found = HEAD_LINE.search(package.read_text())
    if found is None:
        raise FleetError(f'no `HEAD = "NNNN_name"` line in {MIGRATIONS / "__init__.py"}')
    head = f"{found['head']}_{found['name']}"
    revision = f"{int(found['head']) + 1:04d}_fleet_check"
    step = STEP.format(revision=revision, head=head, column=NEW_COLUMN)
    (target / MIGRATIONS / "versions" / f"{revision}.py").write_text(step)
    package.write_text(HEAD_LINE.sub(f'HEAD = "{revision}"', package.read_text()))
    return revision
