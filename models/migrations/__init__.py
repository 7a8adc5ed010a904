"""Schema migrations, applied with Alembic (scripts in versions/, one file a step).

A step's revision id is a descriptive string (`0001_users`), its file named the
same. HEAD names the newest step: a start-up whose database already records it
needs no Alembic at all (tests/models/test_migrations.py checks it matches).
"""

HEAD = "0006_staff_key_roles"
