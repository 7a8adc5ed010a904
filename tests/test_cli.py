"""`python index.py keys create|list|revoke` (cli.py), against the real database, local and AWS."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


def aws_mode(
    aws: MotoAws, mysql: MySQLTarget, database: str, user: str, password: str
) -> dict[str, str]:
    """The key issuer task's environment: parameters and a secret in (moto's) AWS."""
    return {
        **aws.environment,
        "PARAM_HOST_PATH": aws.put_parameter(mysql.host),
        "PARAM_DB_NAME_PATH": aws.put_parameter(database),
        "PARAM_USER_PATH": aws.put_parameter(user),
        "DB_SECRET_ARN": aws.create_secret({"password": password, "port": mysql.port}),
        # The test server has no TLS; AWS mode's default (the RDS bundle) is the image's.
        "DB_SSL_MODE": "disabled",
    }


def key_rows(mysql: MySQLTarget, database: str) -> list[tuple[object, ...]]:
    return mysql.execute(
        "SELECT name, rotation, role, expires_at, revoked_at IS NOT NULL, key_hash"
        " FROM staff_keys ORDER BY id",
        database=database,
    )


def test_the_key_issuer_task_writes_the_key_to_ssm_and_prints_nothing_of_it(
    aws: MotoAws, mysql: MySQLTarget, fresh_database: str
) -> None:
    user, password = mysql.create_user(fresh_database)
    parameter = f"/schoolapp/test/staff-keys/{uuid.uuid4().hex[:8]}"
    command = ["keys", "create", "--name", "first-admin", "--role", "admin",
               "--to-parameter", parameter]  # fmt: skip
    try:
        environment = aws_mode(aws, mysql, fresh_database, user, password)
        issued = run_cli(command, environment)
        # Run again: the name is taken; with another name, the parameter exists.
        again = run_cli(command, environment)
        other = run_cli([*command[:3], "second-admin", *command[4:]], environment)
    finally:
        mysql.drop_user(user)

    assert issued.returncode == 0, issued.stderr
    assert issued.stdout == ""
    assert f"written to the SecureString {parameter}" in issued.stderr
    stored = aws.client("ssm").get_parameter(Name=parameter, WithDecryption=True)["Parameter"]
    assert stored["Type"] == "SecureString"
    key = stored["Value"]
    assert KEY.fullmatch(key)
    assert key.removeprefix("schoolapp_staff_") not in issued.stderr
    assert again.returncode == 1
    assert "exists already" in again.stderr
    # Overwrite=False: the parameter is kept, and no key that nobody holds is stored.
    assert other.returncode == 1
    assert "ParameterAlreadyExists" in other.stderr
    assert (
        aws.client("ssm").get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
        == key
    )
    [(name, _, role, _, _, key_hash)] = key_rows(mysql, fresh_database)
    assert (name, role, key_hash) == ("first-admin", "admin", hashlib.sha256(key.encode()).digest())


def test_a_role_is_required_and_an_expiry_is_a_lifetime(
    mysql: MySQLTarget, fresh_database: str
) -> None:
    environment = mysql.environment(fresh_database)
    no_role = run_cli(["keys", "create", "--name", "jane"], environment)
    bad_role = run_cli(["keys", "create", "--name", "jane", "--role", "root"], environment)
    bad_life = run_cli(
        ["keys", "create", "--name", "jane", "--role", "viewer", "--expires", "90"], environment
    )
    created = run_cli(
        ["keys", "create", "--name", "jane", "--role", "viewer", "--expires", "90d"], environment
    )

    assert (no_role.returncode, bad_role.returncode, bad_life.returncode) == (2, 2, 2)
    assert "--role" in no_role.stderr
    assert "e.g. 90d" in bad_life.stderr
    assert created.returncode == 0, created.stderr
    [(name, rotation, role, expires_at, revoked, _)] = key_rows(mysql, fresh_database)
    assert (name, rotation, role, revoked) == ("jane", 0, "viewer", 0)
    assert isinstance(expires_at, datetime)
    lifetime = expires_at - datetime.now(UTC).replace(tzinfo=None)
    assert timedelta(days=89, hours=23) < lifetime <= timedelta(days=90)
    listed = run_cli(["keys", "list"], environment).stdout
    assert re.search(r"jane\s+0\s+viewer", listed), listed


def test_rotate_issues_the_names_next_key_and_revokes_the_old_one(
    mysql: MySQLTarget, fresh_database: str
) -> None:
    environment = mysql.environment(fresh_database)
    first = run_cli(
        ["keys", "create", "--name", "jane", "--role", "viewer", "--expires", "30d"], environment
    )
    rotated = run_cli(["keys", "rotate", "jane"], environment)
    unknown = run_cli(["keys", "rotate", "nobody"], environment)

    assert rotated.returncode == 0, rotated.stderr
    old_key, new_key = first.stdout.strip(), rotated.stdout.strip()
    assert KEY.fullmatch(new_key)
    assert new_key != old_key
    rows = key_rows(mysql, fresh_database)
    assert [(*r[:3], r[4]) for r in rows] == [("jane", 0, "viewer", 1), ("jane", 1, "viewer", 0)]
    assert rows[1][5] == hashlib.sha256(new_key.encode()).digest()
    assert rows[1][3] is not None  # the old key's lifetime, from now
    assert (unknown.returncode, unknown.stderr) == (1, "no key named 'nobody'\n")
    # `create` never takes a rotated name back; `revoke` takes the newest rotation.
    reuse = run_cli(["keys", "create", "--name", "jane", "--role", "admin"], environment)
    assert (reuse.returncode, "exists already" in reuse.stderr) == (1, True)
    assert run_cli(["keys", "revoke", "jane"], environment).returncode == 0
    assert [r[4] for r in key_rows(mysql, fresh_database)] == [1, 1]
    actions = mysql.execute("SELECT action FROM staff_audit ORDER BY id", database=fresh_database)
    assert actions == [("keys.create",), ("keys.rotate",), ("keys.revoke",)]


def test_keys_are_created_in_aws_mode_from_parameters_and_secret(
    aws: MotoAws, mysql: MySQLTarget, fresh_database: str
) -> None:
    user, password = mysql.create_user(fresh_database)
    try:
        environment = aws_mode(aws, mysql, fresh_database, user, password)
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


def test_db_users_in_aws_mode_makes_both_users_from_their_secrets_idempotently(
    aws: MotoAws, mysql: MySQLTarget, fresh_database: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    admin, app, migration = f"t_admin_{tag}", f"t_app_{tag}", f"t_mig_{tag}"
    admin_password = uuid.uuid4().hex
    # The RDS master user's part: every right, with the right to grant them.
    mysql.execute(f"CREATE USER '{admin}'@'%%' IDENTIFIED BY %s", (admin_password,))
    mysql.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{admin}'@'%' WITH GRANT OPTION")
    app_secret = aws.create_secret(
        {"username": app, "password": uuid.uuid4().hex, "port": mysql.port}
    )
    environment = {
        **aws.environment,
        "PARAM_HOST_PATH": aws.put_parameter(mysql.host),
        "PARAM_DB_NAME_PATH": aws.put_parameter(fresh_database),
        "DB_SECRET_ARN": app_secret,
        "DB_MIGRATION_SECRET_ARN": aws.create_secret(
            {"username": migration, "password": uuid.uuid4().hex}
        ),
        "DB_ADMIN_SECRET_ARN": aws.create_secret({"username": admin, "password": admin_password}),
        "DB_SSL_MODE": "disabled",  # the test server has no TLS
    }
    try:
        first = run_cli(["db-users"], environment)
        # A new password in the app's secret: the second run sets it, and changes nothing else.
        aws.client("secretsmanager").put_secret_value(
            SecretId=app_secret,
            SecretString=json.dumps({"username": app, "password": "rotated-" + tag}),
        )
        second = run_cli(["db-users"], environment)
        # Migrations as the migration user, the key as the app user (its rotated password).
        created = run_cli(
            ["keys", "create", "--name", "after-db-users", "--role", "admin"], environment
        )
        app_grants = mysql.execute(f"SHOW GRANTS FOR '{app}'@'%'")
        # The key issuer's task has no migration secret: at HEAD, the app user suffices.
        app_only = run_cli(["keys", "list"], {**environment, "DB_MIGRATION_SECRET_ARN": ""})
    finally:
        for user in (admin, app, migration):
            mysql.drop_user(user)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert f"{app} (SELECT, INSERT, UPDATE, DELETE), {migration} (ALL)" in second.stdout
    assert created.returncode == 0, created.stderr
    assert mysql.execute("SELECT name FROM staff_keys", database=fresh_database) == [
        ("after-db-users",)
    ]
    grants = " ".join(row[0] for row in app_grants)
    assert f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{fresh_database}`.*" in grants
    assert app_only.returncode == 0, app_only.stderr
    assert "after-db-users" in app_only.stdout


def test_db_users_without_the_admin_secret_exits_2_and_names_it(
    mysql: MySQLTarget, fresh_database: str
) -> None:
    result = run_cli(
        ["db-users"],
        {"DB_HOST": mysql.host, "DB_PORT": str(mysql.port), "DB_NAME": fresh_database},
    )
    assert result.returncode == 2
    assert result.stderr == (
        "configuration error: DB_ADMIN_SECRET_ARN: is required by db-users (the master secret)\n"
    )


def test_keys_list_creates_a_missing_database_as_the_server_does_and_says_so(
    mysql: MySQLTarget, tmp_path: Path
) -> None:
    name = f"schoolapp_cli_{tmp_path.name[-8:].replace('-', '_')}"
    mysql.drop_database(name)
    try:
        listed = run_cli(["keys", "list"], mysql.environment(name))
        again = run_cli(["keys", "list"], mysql.environment(name))
    finally:
        mysql.drop_database(name)
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == f"created the database '{name}' (it did not exist)\n"
    assert listed.stdout.split()[:2] == ["ID", "NAME"]
    assert len(listed.stdout.splitlines()) == 1  # the header alone: no key yet
    assert (again.returncode, again.stderr) == (0, "")
