#!/bin/sh
# The official postgres image's contract, for the local stand-in: POSTGRES_PASSWORD,
# POSTGRES_USER (default postgres), POSTGRES_DB (default the user), data in $PGDATA,
# initialised on the first start only, listening on every interface of the container.
set -eu
BIN=$(ls -d /usr/lib/postgresql/*/bin | tail -n1)
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" > "$pwfile"
  "$BIN/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" --auth-host=scram-sha-256 --auth-local=trust >/dev/null
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  "$BIN/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "$POSTGRES_DB" != "postgres" ]; then
    "$BIN/psql" -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
  fi
  "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
  echo "initialised $PGDATA"
fi
exec "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*'
