#!/bin/sh
# make demo: load the synthetic Q district, replay 90 days of check-ins with
# a sweep every simulated hour, print the supervisor's screen, and draw it as
# an offline page, demo/screen.html (SCREEN_OUT names another directory;
# SCREEN_ROLE the aggregate-only role that reads it, default sanse_screen).
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
# It talks in a few lines: what each step built and how long it took, the
# replay's progress every ten simulated days (its NOTICEs, shown without the
# "NOTICE:" prefix), then the screen.  psql's status is kept through the pipe.
rc=$(mktemp)
trap 'rm -f "$rc"' EXIT
{ psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL; echo $? >"$rc"; } 2>&1 | sed -u 's/^NOTICE:  //'
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
\i test/demo/generate.sql
RESET client_min_messages;
\echo '== The district =='
SELECT clock_timestamp() AS began \gset
SELECT * FROM sanse_demo.generate($SEED, $SCALE, date_trunc('hour', now()) - interval '$((DAYS + 1)) days');
SELECT format('built the district in %s s', round(extract(epoch FROM clock_timestamp() - :'began')::numeric, 1)) AS said \gset
\echo :said
\echo 'replaying $DAYS days of check-ins (sanse.check_in) with a sweep every simulated hour, a line every ten days ...'
SELECT clock_timestamp() AS began \gset
CALL sanse_demo.replay(date_trunc('hour', now()) - interval '$((DAYS + 1)) days', $DAYS);
SELECT format('replayed $DAYS days in %s s', round(extract(epoch FROM clock_timestamp() - :'began')::numeric, 1)) AS said \gset
\echo :said
-- what aggregate-only roles read: the screen published as of the replay's end
SELECT clock_timestamp() AS began \gset
SELECT sanse.publish_screen() \gset
SELECT format('published the screen for aggregate-only roles in %s s', round(extract(epoch FROM clock_timestamp() - :'began')::numeric, 1)) AS said \gset
\echo :said
\i test/demo/screen.sql
SQL
[ "$(cat "$rc")" = 0 ] || exit 1

# The same screen as one offline page (ECharts), read as a role whose only
# grant is `aggregate` on the district: small cells stay hidden, as BI sees them.
role=${SCREEN_ROLE:-sanse_screen}
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v role="$role" <<'SQL'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') AS create_role \gset
\if :create_role
CREATE ROLE :"role" NOLOGIN;
\endif
INSERT INTO sanse.area_grant (role, path, access) VALUES (:'role', 'q', 'aggregate');
SQL
page=$(PGDATABASE="$db" SCREEN_ROLE="$role" sh test/demo/screen_page.sh "${SCREEN_OUT:-demo}")
echo
echo "the screen page (巡屏): $(cd "$(dirname "$page")" && pwd)/$(basename "$page")"
