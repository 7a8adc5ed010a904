"""Alembic's environment: runs the steps on the connection models.migrations.runner passes.

Nothing here opens a connection: migrations run only through the runner, which
holds the database's migration lock (`python index.py migrate`, or start-up).
"""

from __future__ import annotations

from alembic import context

_attributes = context.config.attributes
if "connection" not in _attributes:
    raise SystemExit("run migrations with `python index.py migrate`, which takes the lock")

context.configure(
    connection=_attributes["connection"],
    # MySQL commits DDL implicitly: each step and its version row are committed together.
    transaction_per_migration=True,
    on_version_apply=_attributes["on_version_apply"],
)
with context.begin_transaction():
    context.run_migrations()
