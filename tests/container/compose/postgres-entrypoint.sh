#!/bin/sh
# The official postgres image's start-up, the part docker/compose.yaml uses:
# on an empty data folder, initdb with POSTGRES_USER and its password
# (POSTGRES_PASSWORD or the file POSTGRES_PASSWORD_FILE) and create
# POSTGRES_DB; then run the command (postgres) listening on every address.
set -eu
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
		POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE")
	fi
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo "docker-entrypoint.sh: POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE is required" >&2
		exit 1
	fi
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust \
		--auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
	rm -f "$pwfile"
	echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
	if [ "$db" != postgres ]; then
		psql -q -v ON_ERROR_STOP=1 -U "$user" -d postgres \
			-c "CREATE DATABASE \"$db\" OWNER \"$user\""
	fi
	pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
	echo "docker-entrypoint.sh: database $db of user $user created"
fi
if [ "$1" = postgres ]; then
	shift
	exec postgres -c listen_addresses='*' "$@"
fi
exec "$@"
