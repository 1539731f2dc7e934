#!/bin/sh
# The demo's steps, into database $1 (which exists and has no sanse yet):
# the files of test/demo/steps run in name order in one psql session, after
# the generator (generate.sql) and the departments' lists (feeds.sql).  A
# step may use what an earlier one set: the psql variables seed, scale,
# days, loop_rate, feeddir (where the departments' files are
# written) and start, and the replay's temporary tables.  Adding a step is
# adding a file there.  Environment: SEED (0.42), SCALE (1), DAYS (90),
# LOOP_RATE (1).  Used by make demo
# (run_demo.sh) and its test (test/demo_smoke.sh); the replay's NOTICEs are
# shown without the "NOTICE:" prefix; exits with psql's status.
cd "$(dirname "$0")/../.." || exit 2
db=$1
days=${DAYS:-90}
rc=$(mktemp)
feeddir=$(mktemp -d)
trap 'rm -rf "$rc" "$feeddir"' EXIT
{ { printf '%s\n' 'SET client_min_messages = warning;' 'CREATE EXTENSION sanse CASCADE;' \
	'\i test/demo/generate.sql' '\i test/demo/feeds.sql' 'RESET client_min_messages;'
    for step in test/demo/steps/*.sql; do printf '\\i %s\n' "$step"; done; } |
  psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v seed="${SEED:-0.42}" -v scale="${SCALE:-1}" -v days="$days" \
       -v loop_rate="${LOOP_RATE:-1}" -v feeddir="$feeddir"
  echo $? >"$rc"; } 2>&1 | sed -u 's/^\(psql:[^ ]*: \)\{0,1\}NOTICE:  //'
exit "$(cat "$rc")"
