#!/bin/sh
# ALTER EXTENSION sanse UPDATE from 1.0 on the paper's district (scale 1) with
# ten days of history: the new tally starts from what 1.0 recorded and keeps
# counting afterwards, the rewritten views show what 1.0's showed, and 1.2's
# row-level security hides no resident, visit or event from the owner.
# Prints TAP-like lines.
cd "$(dirname "$0")/.." || exit 2
db=sanse_upgrade
dropdb --if-exists "$db" >/dev/null 2>&1
createdb "$db" || exit 1
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (got '$2', want '$3')"; fail=1; fi; }
own="SELECT worker_id, month, visits, flagged_visits, checklist_completeness FROM sanse.worker_checkin_rate WHERE visits > 0 ORDER BY 1, 2"
tally="SELECT worker_id, month, windows_met, windows_missed, visits, flagged_visits, checklist_items FROM sanse.worker_tally
        WHERE (windows_met, windows_missed, visits) <> (0, 0, 0) ORDER BY 1, 2"

q >/dev/null 2>&1 <<'SQL' || { echo "not ok - 1.0 district replayed"; exit 1; }
SET client_min_messages = warning;
CREATE EXTENSION sanse VERSION '1.0' CASCADE;
\i test/demo/generate.sql
SELECT * FROM sanse_demo.generate(0.42, 1, date_trunc('hour', now()) - interval '21 days');
CALL sanse_demo.replay(date_trunc('hour', now()) - interval '21 days', 10);
SQL
echo "ok - 1.0 district replayed"
before=$(q -c "$own")
# row-level security comes with 1.2: it must hide nothing from the owner
counts="SELECT (SELECT count(*) FROM sanse.resident) || '|' || (SELECT count(*) FROM sanse.visit) || '|' || (SELECT count(*) FROM sanse.event)"
counts_before=$(q -c "$counts")
# 1.1 rewrote three views for their plans; what they show must not change.
# One transaction, so coverage's "now" is the same on both sides.
views=$(q <<'SQL'
BEGIN;
CREATE TEMP TABLE coverage_before AS SELECT * FROM sanse.coverage;
CREATE TEMP TABLE daily_before AS SELECT * FROM sanse.grid_daily_report;
CREATE TEMP TABLE events_before AS SELECT * FROM sanse.overdue_events;
-- 1.2 shows paths as text (for BI tools that know nothing of ltree)
ALTER TABLE coverage_before ALTER COLUMN path TYPE text;
ALTER TABLE daily_before ALTER COLUMN path TYPE text;
ALTER TABLE events_before ALTER COLUMN path TYPE text;
ALTER EXTENSION sanse UPDATE;
-- rows in the 1.0 copy, and rows in one side only
CREATE FUNCTION pg_temp.compare(copy text, view text) RETURNS TABLE (copied bigint, differing bigint)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format('SELECT (SELECT count(*) FROM %1$I),
	       (SELECT count(*) FROM ((TABLE %1$I EXCEPT ALL TABLE %2$s) UNION ALL (TABLE %2$s EXCEPT ALL TABLE %1$I)) d)',
	       copy, view);
END
$$;
SELECT 'coverage', * FROM pg_temp.compare('coverage_before', 'sanse.coverage');
SELECT 'daily', * FROM pg_temp.compare('daily_before', 'sanse.grid_daily_report');
SELECT 'events', * FROM pg_temp.compare('events_before', 'sanse.overdue_events');
COMMIT;
SQL
) || fail=1
view_rows() { echo "$views" | awk -F'|' -v v="$1" '$1 == v { print $2 }'; }
view_diff() { echo "$views" | awk -F'|' -v v="$1" '$1 == v { print $3 }'; }
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" sanse.control)
check "the update reaches $current" "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'sanse'")" "$current"
check "the owner sees as many residents, visits and events as before the update ($counts_before)" "$(q -c "$counts")" "$counts_before"
check "1.0's district had residents, visits and events to count" \
	"$(echo "$counts_before" | awk -F'|' '$1 > 0 && $2 > 0 && $3 > 0 { print "yes" }')" "yes"
check "row-level security is on (not forced on the owner) for resident, visit and event after the update" \
	"$(q -c "SELECT string_agg(relname || ':' || relrowsecurity || ':' || relforcerowsecurity, ' ' ORDER BY relname) FROM pg_class
	          WHERE oid IN ('sanse.resident'::regclass, 'sanse.visit'::regclass, 'sanse.event'::regclass)")" \
	"event:true:false resident:true:false visit:true:false"
check "every worker's visits, flags and checklist completeness are what 1.0 showed ($(echo "$before" | wc -l) rows)" "$(q -c "$own")" "$before"
check "events opened under 1.0 are charged to the resident's carers" \
	"$(q -c "SELECT count(*) FROM sanse.event e WHERE e.charged_to IS DISTINCT FROM
	           (SELECT array_agg(c.worker_id ORDER BY c.worker_id) FROM sanse.carer c WHERE c.resident_id = e.resident_id)")" "0"
check "coverage shows what 1.0 showed ($(view_rows coverage) areas compared)" "$(view_diff coverage)" "0"
check "grid_daily_report shows what 1.0 showed ($(view_rows daily) grid-days compared)" "$(view_diff daily)" "0"
check "overdue_events shows what 1.0 showed ($(view_rows events) area-months compared)" "$(view_diff events)" "0"
check "the three views had rows to compare" \
	"$([ "$(view_rows coverage)" -gt 2000 ] && [ "$(view_rows daily)" -gt 1000 ] && [ "$(view_rows events)" -gt 100 ] && echo yes)" "yes"
# ten more days under 1.1, then the running tally against a recount
q >/dev/null 2>&1 <<'SQL' || { echo "not ok - 1.1 replay after the update"; fail=1; }
-- the loop's departments were not generated under 1.0: replay visits only
CALL sanse_demo.replay(date_trunc('hour', now()) - interval '11 days', 10, 0);
SQL
check "the check-ins after the update are there for the owner" \
	"$(q -c "SELECT count(*) > $(echo "$counts_before" | cut -d'|' -f2) FROM sanse.visit")" "t"
check "a sweep after the update runs (not skipped)" "$(q -c "SELECT skipped FROM sanse.sweep()")" "f"
running=$(q -c "$tally")
q -c "SELECT sanse.rebuild_worker_month()" >/dev/null
check "after ten more days the running tally equals a recount ($(echo "$running" | wc -l) rows)" "$(q -c "$tally")" "$running"
check "check-ins after the update were tallied" "$(q -c "SELECT sum(visits) = (SELECT count(*) FROM sanse.visit) FROM sanse.worker_tally")" "t"
dropdb "$db"
exit $fail
