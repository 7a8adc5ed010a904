"""The database's two users, made by an administrator: the service's (DML) and the migrations'.

`python index.py db-users` runs this logged in as the RDS master user. Every
statement is idempotent: a user that exists gets the secret's current password
and its grants again, so running it twice changes nothing. Usernames are
checked to be plain names before they get here (config/credentials.py); the
database name by the settings' pattern.
"""

from __future__ import annotations

from typing import Any

import pymysql

# pymysql quotes each %s as a string literal: 'name'@'%' is MySQL's account syntax.
CREATE_USER = "CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s"
UPDATE_LOGIN = "ALTER USER %s@'%%' IDENTIFIED BY %s"
# The service reads and writes rows; it can neither change nor drop a table.
GRANT_APP = "GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.* TO %s@'%%'"
GRANT_MIGRATION = "GRANT ALL PRIVILEGES ON `{database}`.* TO %s@'%%'"


def ensure_users(
    conn: pymysql.Connection[Any],
    database: str,
    app: tuple[str, str],
    migration: tuple[str, str],
) -> None:
    """Create (or update) the app user and the migration user, each (name, password).

    `conn` is a PyMySQL connection of an administrator, autocommitting.
    """
    with conn.cursor() as cursor:
        for (user, password), grant in ((app, GRANT_APP), (migration, GRANT_MIGRATION)):
            cursor.execute(CREATE_USER, (user, password))
            cursor.execute(UPDATE_LOGIN, (user, password))
            cursor.execute(grant.format(database=database), (user,))
