#!/bin/sh
# The MariaDB test image's entrypoint, as the official mysql/mariadb images behave:
# a temporary server without networking applies MYSQL_ROOT_PASSWORD, MYSQL_DATABASE
# and MYSQL_USER/MYSQL_PASSWORD, stops, and the real server replaces this shell.
# Each prints "ready for connections": testcontainers' MySQL wait counts two.
set -eu

: "${MYSQL_ROOT_PASSWORD:?the MariaDB test image needs MYSQL_ROOT_PASSWORD}"
SOCKET=/run/mysqld/bootstrap.sock

# A string as a single-quoted SQL literal: backslashes and quotes escaped.
literal() {
  printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")"
}

# An identifier in backquotes, a backquote doubled.
identifier() {
  printf '`%s`' "$(printf '%s' "$1" | sed -e 's/`/``/g')"
}

install -d -o mysql -g mysql /run/mysqld
if [ ! -d /var/lib/mysql/mysql ]; then
  mariadb-install-db --user=mysql --skip-test-db >/dev/null
fi

mariadbd --user=mysql --skip-networking --socket="$SOCKET" &
bootstrap=$!
tries=0
until mariadb-admin --socket="$SOCKET" --user=root ping >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -gt 120 ] || ! kill -0 "$bootstrap" 2>/dev/null; then
    echo "entrypoint: the bootstrap server did not start" >&2
    exit 1
  fi
  sleep 0.25
done

# printf, not echo: dash's echo would eat the escapes' backslashes.
sql() {
  printf '%s\n' "$1"
}

password=$(literal "$MYSQL_ROOT_PASSWORD")
{
  sql "ALTER USER 'root'@'localhost' IDENTIFIED BY $password;"
  sql "CREATE OR REPLACE USER 'root'@'%' IDENTIFIED BY $password;"
  sql "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;"
  if [ -n "${MYSQL_DATABASE:-}" ]; then
    sql "CREATE DATABASE IF NOT EXISTS $(identifier "$MYSQL_DATABASE");"
  fi
  if [ -n "${MYSQL_USER:-}" ] && [ "$MYSQL_USER" != root ]; then
    user=$(literal "$MYSQL_USER")
    sql "CREATE OR REPLACE USER $user@'%' IDENTIFIED BY $(literal "${MYSQL_PASSWORD:-}");"
    if [ -n "${MYSQL_DATABASE:-}" ]; then
      sql "GRANT ALL PRIVILEGES ON $(identifier "$MYSQL_DATABASE").* TO $user@'%';"
    fi
  fi
} | mariadb --socket="$SOCKET" --user=root

MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mariadb-admin --socket="$SOCKET" --user=root shutdown
wait "$bootstrap"

# Debian's configuration binds 127.0.0.1; a published port arrives from outside.
exec mariadbd --user=mysql --bind-address=0.0.0.0 --port=3306 "$@"
