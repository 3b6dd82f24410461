#!/bin/sh
# The official mariadb image's contract, for the local stand-in: MARIADB_ROOT_PASSWORD,
# MARIADB_DATABASE, MARIADB_USER/MARIADB_PASSWORD (granted everything on that database),
# data in /var/lib/mysql, initialised on the first start only, listening on every interface.
set -eu
DATA=/var/lib/mysql
if [ ! -d "$DATA/mysql" ]; then
  root=${MARIADB_ROOT_PASSWORD:?MARIADB_ROOT_PASSWORD is required}
  unset MYSQL_PWD  # root has no password until the statements below set it
  mariadb-install-db --datadir="$DATA" --auth-root-authentication-method=normal --skip-test-db >/dev/null
  mariadbd --datadir="$DATA" --skip-networking --socket=/tmp/init.sock &
  pid=$!
  until mariadb-admin --socket=/tmp/init.sock ping --silent 2>/dev/null; do
    kill -0 "$pid" || exit 1  # the server died while initialising: its output says why
    sleep 0.2
  done
  {
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$root';"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY '$root'; GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    if [ -n "${MARIADB_DATABASE:-}" ]; then echo "CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;"; fi
    if [ -n "${MARIADB_USER:-}" ]; then
      echo "CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY '${MARIADB_PASSWORD:?MARIADB_PASSWORD is required}';"
      echo "GRANT ALL ON \`${MARIADB_DATABASE:-*}\`.* TO '$MARIADB_USER'@'%';"
    fi
  } | mariadb --socket=/tmp/init.sock -u root || { echo "initialising $DATA failed" >&2; exit 1; }
  mariadb-admin --socket=/tmp/init.sock -u root --password="$root" shutdown
  wait "$pid" || true
  echo "initialised $DATA"
fi
exec mariadbd --datadir="$DATA" --bind-address=0.0.0.0 --socket=/run/mysqld/mysqld.sock
