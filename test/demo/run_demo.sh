#!/bin/sh
# make demo: load the synthetic Q district, replay 90 days of check-ins with
# a sweep every simulated hour, print the supervisor's screen.
# Uses the cluster named by PG* variables if PGHOST or PGPORT is set,
# otherwise a throw-away pg_virtualenv cluster.
set -e
cd "$(dirname "$0")/../.."
SEED=${SEED:-0.42}
SCALE=${SCALE:-1}
DAYS=${DAYS:-90}

if [ -z "$SANSE_DEMO_INSIDE" ] && [ -z "$PGHOST" ] && [ -z "$PGPORT" ]; then
	SANSE_DEMO_INSIDE=1 exec pg_virtualenv -t sh "$0"
fi

db=${SANSE_DEMO_DB:-sanse_demo}
echo "sanse demo: database $db, seed $SEED, scale $SCALE, $DAYS days"
dropdb --if-exists "$db" 2>/dev/null || true
createdb "$db"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
\i test/demo/generate.sql
RESET client_min_messages;
\echo '== The district =='
SELECT * FROM sanse_demo.generate($SEED, $SCALE, date_trunc('hour', now()) - interval '$((DAYS + 1)) days');
\echo 'replaying $DAYS days of check-ins (sanse.check_in) with a sweep every simulated hour ...'
\timing on
CALL sanse_demo.replay(date_trunc('hour', now()) - interval '$((DAYS + 1)) days', $DAYS);
\timing off
\i test/demo/screen.sql
SQL
