# Throw-away clusters for the city (sourced by test/city.sh,
# test/city/run_city_demo.sh and test/bench/city.sh): each a directory under
# $CITY_TMP with its data, socket and log, on a free loopback port, made
# with the binaries of the server sanse was installed for (SANSE_PG_BIN, or
# pg_config --bindir).  TCP logins authenticate by password (scram), so a
# wrong password is refused as in a real city; the local socket trusts the
# superuser that made the cluster.  wal_level = logical for the publication.
CITY_BIN=${SANSE_PG_BIN:-$(pg_config --bindir)}
CITY_TMP=${CITY_TMP:-$(mktemp -d /tmp/sanse-city.XXXXXX)}
CITY_PORT=${CITY_PORT_BASE:-5581}
chmod 755 "$CITY_TMP"

# run a binary as the clusters' owner (postgres when we are root)
city_as() {
	if [ "$(id -u)" = 0 ]; then
		su postgres -c "$(printf '%s ' "$@")"
	else
		"$@"
	fi
}
# the next port from $CITY_PORT on that nothing listens on
city_free_port() {
	while :; do
		rc=0
		"$CITY_BIN/pg_isready" -q -h 127.0.0.1 -p "$CITY_PORT" >/dev/null 2>&1 || rc=$?
		[ $rc = 2 ] && break
		CITY_PORT=$((CITY_PORT + 1))
	done
	echo "$CITY_PORT"
}
# city_start NAME: a cluster in $CITY_TMP/NAME; prints its port
city_start() {
	d=$CITY_TMP/$1
	p=$(city_free_port)
	mkdir -p "$d"
	if [ "$(id -u)" = 0 ]; then chown postgres "$d"; fi
	city_as "$CITY_BIN/initdb" -D "$d/data" -U postgres -A trust --auth-host=scram-sha-256 >/dev/null || return 1
	cat >>"$d/data/postgresql.conf" <<CONF
port = $p
listen_addresses = '127.0.0.1'
unix_socket_directories = '$d'
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
fsync = off
synchronous_commit = off
shared_buffers = 64MB
log_line_prefix = '%m [%p] %q%u@%d '
CONF
	echo "$p" >"$d/port"
	city_as "$CITY_BIN/pg_ctl" -D "$d/data" -l "$d/log" -w start >/dev/null || { cat "$d/log" >&2; return 1; }
	echo "$p"
}
city_stop() {	# NAME
	city_as "$CITY_BIN/pg_ctl" -D "$CITY_TMP/$1/data" -m fast -w stop >/dev/null 2>&1
}
city_restart() {	# NAME
	city_as "$CITY_BIN/pg_ctl" -D "$CITY_TMP/$1/data" -l "$CITY_TMP/$1/log" -w start >/dev/null
}
# every cluster stopped and the directory removed (a trap calls it)
city_cleanup() {
	for d in "$CITY_TMP"/*/data; do
		[ -f "$d/postmaster.pid" ] && city_as "$CITY_BIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1
	done
	rm -rf "$CITY_TMP"
}
# city_standby NAME: a streaming hot standby of cluster NAME (pg_basebackup -R
# over its socket) in $CITY_TMP/NAME_standby, on a port of its own, started
# and caught up with the primary's WAL as it is now
city_standby() {	# NAME
	s=${1}_standby
	d=$CITY_TMP/$s
	p=$(city_free_port)
	mkdir -p "$d"
	if [ "$(id -u)" = 0 ]; then chown postgres "$d"; fi
	city_as "$CITY_BIN/pg_basebackup" -h "$CITY_TMP/$1" -p "$(cat "$CITY_TMP/$1/port")" -U postgres \
		-D "$d/data" -R -X stream -c fast >/dev/null || return 1
	# the primary's settings came with the copy: its own port and socket
	printf "port = %s\nunix_socket_directories = '%s'\nhot_standby = on\n" "$p" "$d" >>"$d/data/postgresql.conf"
	echo "$p" >"$d/port"
	city_as "$CITY_BIN/pg_ctl" -D "$d/data" -l "$d/log" -w start >/dev/null || { cat "$d/log" >&2; return 1; }
	lsn=$(cq "$1" -c "SELECT pg_current_wal_lsn()")
	n=0
	until [ "$(cq "$s" -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] || [ $n -ge 120 ]; do
		sleep 0.5; n=$((n + 1))
	done
	[ $n -lt 120 ]
}
# psql into cluster NAME's database (default postgres) over its socket, as postgres
cq() {	# NAME [psql args]
	n=$1; shift
	psql -X -q -t -A -v ON_ERROR_STOP=1 -h "$CITY_TMP/$n" -p "$(cat "$CITY_TMP/$n/port")" -U postgres "$@"
}
# a district: cluster NAME, database care, sanse and the demo's district at
# SCALE replayed over DAYS days, the city's two logins (password PASS):
# sanse_city_reader (aggregate on the district, nothing else) and
# sanse_city_repl (replication, SELECT on city_day only), and the district
# put in the city as NAME (sanse.city_publish).
city_district() {	# NAME SCALE DAYS PASS
	city_start "$1" >/dev/null || return 1
	cq "$1" -d postgres -c "CREATE DATABASE care" || return 1
	cq "$1" -d care >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
\i test/demo/generate.sql
SELECT * FROM sanse_demo.generate(0.42, $2, date_trunc('hour', now()) - interval '$(($3 + 1)) days');
CALL sanse_demo.replay(date_trunc('hour', now()) - interval '$(($3 + 1)) days', $3);
CREATE ROLE sanse_city_reader LOGIN PASSWORD '$4';
INSERT INTO sanse.area_grant (role, path, access) VALUES ('sanse_city_reader', 'q', 'aggregate');
CREATE ROLE sanse_city_repl LOGIN REPLICATION PASSWORD '$4';
GRANT USAGE ON SCHEMA sanse TO sanse_city_repl;
GRANT SELECT ON sanse.city_day TO sanse_city_repl;
SELECT sanse.city_publish('$1');
SQL
}
# drop a city database of the PG* cluster, its subscriptions first (their
# slots are the districts', which may be gone: the slot is left to them)
city_drop_db() {	# DB
	if psql -X -q -t -A -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$1'" | grep -q 1; then
		psql -X -q -t -A -d "$1" -c "SELECT subname FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())" |
		while read -r s; do
			psql -X -q -d "$1" -c "ALTER SUBSCRIPTION \"$s\" DISABLE" -c "ALTER SUBSCRIPTION \"$s\" SET (slot_name = NONE)" \
				-c "DROP SUBSCRIPTION \"$s\""
		done
		dropdb "$1"
	fi
}
