#!/bin/sh
# make demo: build the synthetic Q district, its residents from three
# departments' lists (loaded with COPY by the departments' loader roles and
# sanse.apply_feed, a few bad rows each), replay 90 days of check-ins with a
# sweep every simulated hour, apply health's corrected list (residents move
# between tiers), print the supervisor's screen, and draw it as
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
# replay's progress every ten simulated days, then the screen.
SEED=$SEED SCALE=$SCALE DAYS=$DAYS sh test/demo/run_steps.sh "$db"

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
