#!/bin/sh
# Quiet warnings replayed with readings arriving late, against an
# independent model (test/device/replay.sql says how).  Its own database;
# prints TAP lines (pgTAP).
cd "$(dirname "$0")/.." || exit 2
db=sanse_device_replay
dropdb --if-exists "$db" >/dev/null 2>&1
createdb "$db" || exit 1
trap 'dropdb --if-exists "$db" >/dev/null 2>&1' EXIT
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c 'SET client_min_messages = warning' \
	-c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION sanse CASCADE' >/dev/null || exit 1
out=$(psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" -f test/device/replay.sql 2>&1)
rc=$?
echo "$out" | grep -v '^$'
[ $rc -eq 0 ] || { echo "not ok - test/device/replay.sql stopped (psql exit $rc)"; exit 1; }
echo "$out" | grep -q '^not ok' && exit 1
exit 0
