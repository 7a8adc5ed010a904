"""`python index.py keys create|list|revoke` (cli.py), against the real database, local and AWS."""

from __future__ import annotations

import hashlib
import re

from tests.support.cli import run_cli
from tests.support.moto_aws import MotoAws
from tests.support.mysql_target import MySQLTarget

KEY = re.compile(r"schoolapp_staff_[A-Za-z0-9_-]{43}")


def test_a_key_is_shown_once_and_stored_only_as_its_hash(
    mysql: MySQLTarget, fresh_database: str
) -> None:
    environment = mysql.environment(fresh_database)

    created = run_cli(
        ["keys", "create", "--name", "admissions-laptop", "--role", "admin"], environment
    )

    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert KEY.fullmatch(key), created.stdout
    assert "copy the line above now" in created.stderr
    assert key not in created.stderr
    [(key_id, name, key_hash, revoked_at)] = mysql.execute(
        "SELECT id, name, key_hash, revoked_at FROM staff_keys", database=fresh_database
    )
    assert (name, revoked_at) == ("admissions-laptop", None)
    assert key_hash == hashlib.sha256(key.encode()).digest()
    # The key's text is nowhere in the database, in any table.
    for (table,) in mysql.execute("SHOW TABLES", database=fresh_database):
        dump = repr(mysql.execute(f"SELECT * FROM `{table}`", database=fresh_database))
        assert key.removeprefix("schoolapp_staff_") not in dump
    listed = run_cli(["keys", "list"], environment)
    assert listed.returncode == 0
    assert "admissions-laptop" in listed.stdout
    assert key not in listed.stdout
    assert listed.stdout.splitlines()[1].split()[:2] == [str(key_id), "admissions-laptop"]


def test_keys_are_revoked_by_name_or_id_and_audited(
    mysql: MySQLTarget, fresh_database: str
) -> None:
    environment = mysql.environment(fresh_database)
    for name in ("laptop", "registrar"):
        assert (
            run_cli(["keys", "create", "--name", name, "--role", "admin"], environment).returncode
            == 0
        )
    [(registrar_id,)] = mysql.execute(
        "SELECT id FROM staff_keys WHERE name = 'registrar'", database=fresh_database
    )

    by_name = run_cli(["keys", "revoke", "laptop"], environment)
    by_id = run_cli(["keys", "revoke", str(registrar_id)], environment)
    again = run_cli(["keys", "revoke", "laptop"], environment)

    assert (by_name.returncode, by_id.returncode, again.returncode) == (0, 0, 0)
    assert "revoked already" in again.stderr
    revoked = mysql.execute(
        "SELECT name FROM staff_keys WHERE revoked_at IS NOT NULL ORDER BY id",
        database=fresh_database,
    )
    assert revoked == [("laptop",), ("registrar",)]
    audit = mysql.execute(
        "SELECT key_name, action, row_count, request_id FROM staff_audit ORDER BY id",
        database=fresh_database,
    )
    assert audit == [
        ("laptop", "keys.create", None, None),
        ("registrar", "keys.create", None, None),
        ("laptop", "keys.revoke", None, None),
        ("registrar", "keys.revoke", None, None),
    ]
    listed = run_cli(["keys", "list"], environment).stdout.splitlines()
    assert all(line.split()[-1].endswith("Z") for line in listed[1:])


def test_bad_names_and_unknown_keys_get_a_clear_error_and_change_nothing(
    mysql: MySQLTarget, fresh_database: str
) -> None:
    environment = mysql.environment(fresh_database)
    assert (
        run_cli(["keys", "create", "--name", "laptop", "--role", "admin"], environment).returncode
        == 0
    )

    duplicate = run_cli(["keys", "create", "--name", "laptop", "--role", "admin"], environment)
    digits = run_cli(["keys", "create", "--name", "1234", "--role", "admin"], environment)
    hostile = run_cli(
        ["keys", "create", "--name", "x'; DROP TABLE users; --", "--role", "admin"], environment
    )
    unknown = run_cli(["keys", "revoke", "nobody"], environment)

    assert (duplicate.returncode, duplicate.stdout) == (1, "")
    assert "exists already" in duplicate.stderr
    assert digits.returncode == hostile.returncode == 2
    assert "starting with a letter" in digits.stderr
    assert (unknown.returncode, unknown.stderr) == (1, "no key named or numbered 'nobody'\n")
    assert mysql.execute("SELECT name FROM staff_keys", database=fresh_database) == [("laptop",)]
    assert mysql.execute("SELECT COUNT(*) FROM users", database=fresh_database) == [(0,)]


def test_keys_are_created_in_aws_mode_from_parameters_and_secret(
    aws: MotoAws, mysql: MySQLTarget, fresh_database: str
) -> None:
    user, password = mysql.create_user(fresh_database)
    try:
        environment = {
            **aws.environment,
            "PARAM_HOST_PATH": aws.put_parameter(mysql.host),
            "PARAM_DB_NAME_PATH": aws.put_parameter(fresh_database),
            "PARAM_USER_PATH": aws.put_parameter(user),
            "DB_SECRET_ARN": aws.create_secret({"password": password, "port": mysql.port}),
            # The test server has no TLS; AWS mode's default (the RDS bundle) is the image's.
            "DB_SSL_MODE": "disabled",
        }
        created = run_cli(
            ["keys", "create", "--name", "aws-laptop", "--role", "admin"], environment
        )
    finally:
        mysql.drop_user(user)

    assert created.returncode == 0, created.stderr
    assert KEY.fullmatch(created.stdout.strip())
    names = mysql.execute("SELECT name FROM staff_keys", database=fresh_database)
    assert names == [("aws-laptop",)]


def test_a_configuration_that_cannot_work_exits_2_with_one_line() -> None:
    result = run_cli(["keys", "list"], {"DB_SECRET_ARN": "not-an-arn"})

    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: DB_SECRET_ARN")
    assert result.stderr.count("\n") == 1
