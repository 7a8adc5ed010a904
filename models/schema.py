"""The `users` table as the old service created it, and the local database.

The table is created by the first migration (models/migrations/versions/0001_users.py).
"""

from __future__ import annotations

from aiomysql import Connection

# Exactly the old service's DDL: an existing production table is used as it is.
CREATE_USERS_TABLE = """
CREATE TABLE IF NOT EXISTS users (
  id VARCHAR(36) PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  email VARCHAR(100) UNIQUE NOT NULL,
  phone VARCHAR(15),
  program VARCHAR(50),
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
) DEFAULT CHARSET=utf8mb4
"""


DATABASE_EXISTS = "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s"


async def create_database(conn: Connection, name: str) -> None:
    """Create the database `name` when missing (local mode only; never in AWS)."""
    async with conn.cursor() as cursor:
        if not await cursor.execute(DATABASE_EXISTS, (name,)):
            # An identifier cannot be a parameter; settings restrict it to [A-Za-z0-9_$].
            await cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
