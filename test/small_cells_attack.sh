#!/bin/sh
# Small cells under arithmetic (spec 8, "Small cells stay hidden under
# arithmetic"; issue 18 item 4), played as the attacker: a small demo
# district (5 %, 105 micro grids, 118 residents: almost every micro grid is
# a small cell) replayed over 40 days with a busy closed loop, published by
# the sweep, then read by a non-superuser login granted `aggregate` on the
# district.  From what it reads, the attacker works out every hidden cell it
# can, again and again until nothing new comes out (a fixpoint):
#   - a parent minus its visible children (every view, measure, day, month);
#   - residents minus the other tiers (coverage and coverage_history), a
#     total minus its other tiers across coverage and coverage_by_tier, and
#     one view against another (coverage's red is coverage_by_tier's red);
#   - opened = closed + still open = the levels reached (overdue_events),
#     raised = closed + still open (loop_metrics);
#   - a month against its days: overdue_events' opened and loop_metrics'
#     raised of a month wholly recorded against coverage_history's days,
#     grid_daily_report's events of a recorded day against coverage_history's;
#   - hidden cells whose visible sum is 0 (all of them are 0).
# The true values are read as the owner; every guess is compared with them.
# Also: no tier composition shown by zeros next to a hidden count, no median,
# mean or rate shown over a hidden count, and EXPLAIN ANALYZE of each screen
# view as the login executes no scan of a table that holds people or events.
# Prints TAP-like lines.
cd "$(dirname "$0")/.." || exit 2
db=sanse_small_cells_attack
login=sanse_attack_login
dropdb --if-exists "$db" >/dev/null 2>&1
createdb "$db" || exit 1
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (got '$2', want '$3')"; fail=1; fi; }
cleanup() {
	dropdb --if-exists "$db" >/dev/null 2>&1
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $login" >/dev/null 2>&1
}
[ -n "$KEEP" ] || trap cleanup EXIT
psql -X -q -d postgres -c "DROP ROLE IF EXISTS $login" >/dev/null 2>&1

q >/dev/null 2>"/tmp/$db.err" <<SQL || { echo "not ok - generate, replay and publish"; sed "s/^/# /" "/tmp/$db.err"; exit 1; }
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
\i test/demo/generate.sql
SELECT * FROM sanse_demo.generate(0.42, 0.05, date_trunc('hour', now()) - interval '41 days');
CALL sanse_demo.replay(date_trunc('hour', now()) - interval '41 days', 40, 10);
CREATE ROLE $login LOGIN PASSWORD 'attack';
INSERT INTO sanse.area_grant (role, path, access) VALUES ('$login', 'q', 'aggregate');
-- what the sweep publishes (before sanse 1.3 there was nothing to publish)
DO \$\$ BEGIN
	IF to_regprocedure('sanse.publish_screen(timestamptz)') IS NOT NULL THEN
		PERFORM sanse.publish_screen(now());
	END IF;
END \$\$;
SQL
echo "ok - generate, replay and publish"

# the long form of the screen views: one row per count cell
# (view, area, key, measure, value); $1 is a schema holding the views' rows
long_form() {
	cat <<SQL
SELECT 'coverage' AS v, area_id, path, '' AS k, m.key AS m, m.value::bigint AS val
  FROM $1.coverage c, jsonb_each_text(to_jsonb(c) - '{area_id,path,kind,name,coverage_rate}'::text[]) m
UNION ALL
SELECT 'coverage_by_tier', area_id, path, tier, m.key, m.value::bigint
  FROM $1.coverage_by_tier c, jsonb_each_text(to_jsonb(c) - '{area_id,path,kind,name,tier,coverage_rate}'::text[]) m
UNION ALL
SELECT 'overdue_events', area_id, path, month::text, m.key, m.value::bigint
  FROM $1.overdue_events c, jsonb_each_text(to_jsonb(c) - '{area_id,path,kind,name,month,median_time_to_close}'::text[]) m
UNION ALL
SELECT 'loop_metrics', area_id, path, month || '/' || kind, m.key, m.value::bigint
  FROM $1.loop_metrics c,
       jsonb_each_text(to_jsonb(c) - '{area_id,path,name,month,kind,response_rate,median_time_to_arrive,mean_rating}'::text[]) m
UNION ALL
SELECT 'coverage_history', area_id, path, day::text, m.key, m.value::bigint
  FROM $1.coverage_history c,
       jsonb_each_text(to_jsonb(c) - '{area_id,path,kind,name,day,coverage_rate,response_rate}'::text[]) m
UNION ALL
SELECT 'grid_daily_report', area_id, path, day::text, m.key, m.value::bigint
  FROM $1.grid_daily_report c, jsonb_each_text(to_jsonb(c) - '{area_id,path,name,day}'::text[]) m
SQL
}
views="coverage coverage_by_tier overdue_events loop_metrics coverage_history grid_daily_report worker_checkin_rate"

# what the login sees, copied into a schema of its own rows; the truth as the owner
{
	echo "CREATE SCHEMA seen; CREATE SCHEMA truth;"
	for v in $views; do echo "CREATE TABLE truth.$v AS SELECT * FROM sanse.$v;"; done
} | q || exit 1
for v in $views; do
	PGPASSWORD=attack psql -X -q -h localhost -U "$login" -d "$db" -v ON_ERROR_STOP=1 \
		-c "\\copy (SELECT * FROM sanse.$v) TO STDOUT" >"/tmp/$db.$v" || exit 1
	q -c "CREATE TABLE seen.$v (LIKE truth.$v)" -c "\\copy seen.$v FROM '/tmp/$db.$v'" || exit 1
	rm -f "/tmp/$db.$v"
done

q >/dev/null <<SQL || { echo "not ok - the attack ran"; exit 1; }
CREATE TABLE cell AS
-- (a cell the owner's view has no row for is a true 0)
SELECT s.v, s.area_id, s.path, s.k, s.m, s.val AS seen, coalesce(t.val, 0) AS truth
  FROM ($(long_form seen)) s
  LEFT JOIN ($(long_form truth)) t USING (v, area_id, k, m);
CREATE UNIQUE INDEX ON cell (v, area_id, k, m);
-- the known values: what is shown
CREATE TABLE known AS SELECT v, area_id, k, m, seen AS val, 'shown' AS how FROM cell WHERE seen IS NOT NULL;
CREATE UNIQUE INDEX ON known (v, area_id, k, m);
-- the relations the attacker knows: sum(sign * value) = 0 over their cells
-- (a cell absent from a view is a 0 everyone sees)
CREATE TABLE rel (rid text, v text, area_id bigint, k text, m text, sign int);
-- a parent and its children, in every view (a total counts +1, the parts -1)
INSERT INTO rel
SELECT 'h/' || c.v || '/' || c.area_id || '/' || c.k || '/' || c.m, c.v, c.area_id, c.k, c.m, 1 FROM cell c
 WHERE EXISTS (SELECT 1 FROM cell x WHERE x.v = c.v AND x.k = c.k AND x.m = c.m AND subpath(x.path::ltree, 0, nlevel(x.path::ltree) - 1) = c.path::ltree)
UNION ALL
SELECT 'h/' || p.v || '/' || p.area_id || '/' || p.k || '/' || p.m, x.v, x.area_id, x.k, x.m, -1
  FROM cell p JOIN cell x ON x.v = p.v AND x.k = p.k AND x.m = p.m
       AND nlevel(x.path::ltree) > 1 AND subpath(x.path::ltree, 0, nlevel(x.path::ltree) - 1) = p.path::ltree;
-- residents = red + yellow + blue (coverage, coverage_history)
INSERT INTO rel
SELECT 't/' || c.v || '/' || c.area_id || '/' || c.k, c.v, c.area_id, c.k, c.m,
       CASE c.m WHEN 'residents' THEN 1 ELSE -1 END
  FROM cell c WHERE c.v IN ('coverage', 'coverage_history') AND c.m IN ('residents', 'red', 'yellow', 'blue');
-- coverage against coverage_by_tier: a measure's total against its tiers, and a tier against its row
INSERT INTO rel
SELECT 'bt/' || c.area_id || '/' || c.m, c.v, c.area_id, c.k, c.m, 1
  FROM cell c WHERE c.v = 'coverage' AND c.m IN ('residents', 'overdue_now', 'window_met')
UNION ALL
SELECT 'bt/' || c.area_id || '/' || c.m, c.v, c.area_id, c.k, c.m, -1
  FROM cell c WHERE c.v = 'coverage_by_tier';
INSERT INTO rel
SELECT 'bt1/' || c.area_id || '/' || c.m, c.v, c.area_id, c.k, c.m, 1
  FROM cell c WHERE c.v = 'coverage' AND c.m IN ('red', 'yellow', 'blue')
UNION ALL
SELECT 'bt1/' || c.area_id || '/' || c.k, c.v, c.area_id, c.k, c.m, -1
  FROM cell c WHERE c.v = 'coverage_by_tier' AND c.m = 'residents';
-- opened = closed + still open = levels reached; raised = closed + still open
INSERT INTO rel
SELECT 'oc/' || c.area_id || '/' || c.k, c.v, c.area_id, c.k, c.m, CASE c.m WHEN 'opened' THEN 1 ELSE -1 END
  FROM cell c WHERE c.v = 'overdue_events' AND c.m IN ('opened', 'closed', 'still_open')
UNION ALL
SELECT 'ol/' || c.area_id || '/' || c.k, c.v, c.area_id, c.k, c.m, CASE c.m WHEN 'opened' THEN 1 ELSE -1 END
  FROM cell c WHERE c.v = 'overdue_events' AND (c.m = 'opened' OR c.m LIKE 'reached_level_%')
UNION ALL
SELECT 'lc/' || c.area_id || '/' || c.k, c.v, c.area_id, c.k, c.m, CASE c.m WHEN 'raised' THEN 1 ELSE -1 END
  FROM cell c WHERE c.v = 'loop_metrics' AND c.m IN ('raised', 'closed', 'still_open');
-- a month wholly recorded against its days
CREATE TABLE full_month AS
SELECT date_trunc('month', d)::date AS month FROM (SELECT DISTINCT k::date AS d FROM cell WHERE v = 'coverage_history') s
 GROUP BY 1 HAVING count(*) = extract(day FROM date_trunc('month', min(d)) + interval '1 month' - interval '1 day');
INSERT INTO rel
SELECT 'md/' || c.area_id || '/' || c.k, c.v, c.area_id, c.k, c.m, 1
  FROM cell c WHERE c.v = 'overdue_events' AND c.m = 'opened' AND c.k::date IN (SELECT month FROM full_month)
UNION ALL
SELECT 'md/' || c.area_id || '/' || date_trunc('month', c.k::date)::date, c.v, c.area_id, c.k, c.m, -1
  FROM cell c WHERE c.v = 'coverage_history' AND c.m = 'events_opened'
   AND date_trunc('month', c.k::date)::date IN (SELECT month FROM full_month)
UNION ALL
SELECT 'ml/' || c.area_id || '/' || split_part(c.k, '/', 1), c.v, c.area_id, c.k, c.m, 1
  FROM cell c WHERE c.v = 'loop_metrics' AND c.m = 'raised' AND split_part(c.k, '/', 1)::date IN (SELECT month FROM full_month)
UNION ALL
SELECT 'ml/' || c.area_id || '/' || date_trunc('month', c.k::date)::date, c.v, c.area_id, c.k, c.m, -1
  FROM cell c WHERE c.v = 'coverage_history' AND c.m = 'loop_raised'
   AND date_trunc('month', c.k::date)::date IN (SELECT month FROM full_month);
-- a recorded day of an area without children (a micro grid): all its
-- events = overdue ones + loop ones (the report counts an area's own events,
-- the history its subtree's)
INSERT INTO rel
SELECT 'gd/' || c.area_id || '/' || c.k, c.v, c.area_id, c.k, c.m, 1
  FROM cell c WHERE c.v = 'grid_daily_report' AND c.m = 'events_opened'
   AND EXISTS (SELECT 1 FROM cell h WHERE h.v = 'coverage_history' AND h.k = c.k)
   AND NOT EXISTS (SELECT 1 FROM cell x WHERE x.v = 'coverage' AND x.m = 'residents'
                    AND subpath(x.path::ltree, 0, nlevel(x.path::ltree) - 1) = c.path::ltree)
UNION ALL
SELECT 'gd/' || c.area_id || '/' || c.k, c.v, c.area_id, c.k, c.m, -1
  FROM cell c WHERE c.v = 'coverage_history' AND c.m IN ('events_opened', 'loop_raised')
   AND (c.area_id, c.k) IN (SELECT area_id, k FROM cell WHERE v = 'grid_daily_report')
   AND NOT EXISTS (SELECT 1 FROM cell x WHERE x.v = 'coverage' AND x.m = 'residents'
                    AND subpath(x.path::ltree, 0, nlevel(x.path::ltree) - 1) = c.path::ltree);
CREATE INDEX ON rel (v, area_id, k, m);
CREATE INDEX ON rel (rid);

-- the fixpoint: a relation with one unknown cell gives it; a relation whose
-- unknown cells all count the same way and must sum to 0 gives them all 0
DO \$\$
DECLARE n int;
BEGIN
	LOOP
		WITH s AS (
			SELECT r.rid, r.v, r.area_id, r.k, r.m, r.sign, kn.val
			  FROM rel r LEFT JOIN known kn USING (v, area_id, k, m)),
		g AS (
			SELECT rid, count(*) FILTER (WHERE val IS NULL) AS unknown,
			       coalesce(sum(sign * val), 0) AS rest,
			       min(sign) FILTER (WHERE val IS NULL) AS smin, max(sign) FILTER (WHERE val IS NULL) AS smax
			  FROM s GROUP BY rid),
		guess AS (
			SELECT DISTINCT ON (s.v, s.area_id, s.k, s.m) s.v, s.area_id, s.k, s.m,
			       CASE WHEN g.unknown = 1 THEN -g.rest / s.sign ELSE 0 END AS val
			  FROM g JOIN s USING (rid)
			 WHERE s.val IS NULL
			   AND (g.unknown = 1 OR (g.smin = g.smax AND g.rest = 0)))
		INSERT INTO known SELECT v, area_id, k, m, val, 'worked out' FROM guess
		ON CONFLICT DO NOTHING;
		GET DIAGNOSTICS n = ROW_COUNT;
		EXIT WHEN n = 0;
	END LOOP;
END
\$\$;
SQL

# the hidden cells the attacker got exactly right, per view
res=$(q -c "SELECT coalesce(string_agg(v || ' ' || right_ || ' of ' || hidden, ', ' ORDER BY v), 'none')
              FROM (SELECT c.v, count(*) AS hidden, count(*) FILTER (WHERE kn.val = c.truth) AS right_
                      FROM cell c LEFT JOIN known kn USING (v, area_id, k, m)
                     WHERE c.seen IS NULL GROUP BY c.v) s WHERE right_ > 0")
total=$(q -c "SELECT count(*) FILTER (WHERE kn.val = c.truth) || ' of ' || count(*) FROM cell c LEFT JOIN known kn USING (v, area_id, k, m) WHERE c.seen IS NULL")
echo "# hidden cells worked out exactly: $total ($res)"
check "the attacker works out no hidden cell exactly (by view: recovered of hidden)" "$res" "none"
check "there are hidden cells to attack (the district is small)" "$(q -c "SELECT count(*) > 100 FROM cell WHERE seen IS NULL")" "t"
check "the fixpoint ran on relations of every kind" \
	"$(q -c "SELECT string_agg(DISTINCT split_part(rid, '/', 1), ',' ORDER BY split_part(rid, '/', 1)) FROM rel")" "bt,bt1,gd,h,lc,md,ml,oc,ol,t"

# zeros next to a hidden total: a hidden count of residents whose tiers but
# one are shown as 0 says every household there is of that tier
check "no tier composition shown by zeros next to a hidden number of residents (coverage)" \
	"$(q -c "SELECT count(*) FROM seen.coverage WHERE residents IS NULL AND coalesce(red = 0, false)::int + coalesce(yellow = 0, false)::int + coalesce(blue = 0, false)::int = 2")" "0"
check "no tier composition shown by zeros next to a hidden number of residents (coverage_history)" \
	"$(q -c "SELECT count(*) FROM seen.coverage_history WHERE residents IS NULL AND coalesce(red = 0, false)::int + coalesce(yellow = 0, false)::int + coalesce(blue = 0, false)::int = 2")" "0"
check "no tier composition shown by coverage_by_tier's zeros next to coverage's hidden residents" \
	"$(q -c "SELECT count(*) FROM seen.coverage c WHERE c.residents IS NULL
	           AND (SELECT count(*) FROM seen.coverage_by_tier b WHERE b.area_id = c.area_id AND b.residents = 0) = 2")" "0"
# a statistic shown over a hidden count
check "no median time to close shown over a hidden number closed (overdue_events)" \
	"$(q -c "SELECT count(*) FROM seen.overdue_events WHERE median_time_to_close IS NOT NULL AND closed IS NULL")" "0"
check "no median time to arrive, mean rating or response rate shown over a hidden count (loop_metrics)" \
	"$(q -c "SELECT count(*) FROM seen.loop_metrics WHERE (median_time_to_arrive IS NOT NULL AND (answered_in_time IS NULL OR raised IS NULL))
	                                                    OR (mean_rating IS NOT NULL AND (closed IS NULL OR raised IS NULL))
	                                                    OR (response_rate IS NOT NULL AND (answered_in_time IS NULL OR raised IS NULL))")" "0"
check "no coverage rate shown over a hidden count (coverage, coverage_by_tier, coverage_history)" \
	"$(q -c "SELECT (SELECT count(*) FROM seen.coverage WHERE coverage_rate IS NOT NULL AND (residents IS NULL OR overdue_now IS NULL))
	              + (SELECT count(*) FROM seen.coverage_by_tier WHERE coverage_rate IS NOT NULL AND (residents IS NULL OR overdue_now IS NULL))
	              + (SELECT count(*) FROM seen.coverage_history WHERE (coverage_rate IS NOT NULL AND (residents IS NULL OR overdue IS NULL))
	                                                           OR (response_rate IS NOT NULL AND (loop_raised IS NULL OR loop_answered_in_time IS NULL)))")" "0"
check "no check-in rate or checklist completeness shown over a hidden count (worker_checkin_rate)" \
	"$(q -c "SELECT count(*) FROM seen.worker_checkin_rate WHERE (checkin_rate IS NOT NULL AND (windows_due IS NULL OR windows_met IS NULL))
	                                                           OR (checklist_completeness IS NOT NULL AND visits IS NULL)")" "0"

# EXPLAIN ANALYZE as the login: the executed plan nodes scan no table of
# people or events (only what was published, and the areas and grants)
for v in $views; do
	plan=$(PGPASSWORD=attack psql -X -q -t -A -h localhost -U "$login" -d "$db" \
		-c "EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM sanse.$v") || plan='[]'
	bad=$(q -v plan="$plan" <<'SQL'
WITH RECURSIVE n(j) AS (SELECT (:'plan'::jsonb) -> 0 -> 'Plan' UNION ALL SELECT c FROM n, jsonb_array_elements(n.j -> 'Plans') c)
SELECT coalesce(string_agg(DISTINCT j ->> 'Relation Name', ','), 'none') FROM n
 WHERE (j ->> 'Actual Loops')::int > 0
   AND j ->> 'Relation Name' IN ('resident', 'event', 'event_transition', 'event_step', 'visit', 'area_day',
                                'worker_tally', 'worker_month_pending', 'tier_history', 'carer')
SQL
)
	check "EXPLAIN ANALYZE of $v as the aggregate login executes no scan of people or events" "$bad" "none"
done
exit $fail
