#!/bin/sh
# The province section of make bench (issue 22): a district at SCALE times
# the paper (2,370 residents at 1x; the grids at SCALE/100 times the paper's,
# so 1,000x has 26,538 areas) with a month of visits, overdue events and
# closed-loop events written directly, then every screen query of the issue
# timed on it (the best of 3, in ms).  Prints "name value" lines.
#   sh test/bench/province.sh DB SCALE      (the cluster of the PG* variables)
set -e
cd "$(dirname "$0")/../.."
DB=$1
SCALE=$2
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
now() { date +%s.%N; }
if [ "$3" != measure ]; then	# measure: the district of an earlier run, again
dropdb --if-exists "$DB"
createdb "$DB"
t0=$(now)
q -v scale="$SCALE" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
\i test/bench/reference.sql
\i test/demo/generate.sql
SELECT count(*) FROM sanse_demo.generate(0.42, :scale, now() - interval '2 days', :scale / 100.0);
SQL
t1=$(now)
echo "generate_ms $(ms "$t0" "$t1")"
# A month of visits, each resident at its cadence by its first carer, about
# 3 % of windows missed (an overdue event, closed by the late visit); one
# closed-loop event for every 20th resident, 5 % still open.
q >/dev/null <<'SQL'
SET client_min_messages = warning;
SET session_replication_role = replica;	-- bulk history: no triggers, no FK checks
CREATE TEMP TABLE first_carer AS
SELECT c.resident_id, min(c.worker_id) AS worker_id FROM sanse.carer c GROUP BY c.resident_id;
INSERT INTO sanse.visit (resident_id, worker_id, at, checklist, flags, area_id, window_due)
SELECT r.id, fc.worker_id, t.at, '{ask_health,ask_diet,ask_family,check_water,check_power,check_gas}',
       CASE WHEN t.missed THEN '{late}'::text[] ELSE '{}' END, r.area_id,
       CASE WHEN NOT t.missed THEN t.at + step END
  FROM sanse.resident r
  JOIN first_carer fc ON fc.resident_id = r.id
 CROSS JOIN LATERAL (SELECT CASE r.tier::text WHEN 'red' THEN interval '2 days' WHEN 'yellow' THEN interval '7 days'
                                        ELSE interval '30 days' END AS step) s
 CROSS JOIN LATERAL (SELECT now() - interval '31 days' + i * s.step + (r.id % 600) * interval '1 minute' AS at,
                            random() < 0.03 AS missed
                       FROM generate_series(0, (extract(epoch FROM interval '30 days') / extract(epoch FROM s.step))::int - 1) i) t;
INSERT INTO sanse.event (resident_id, area_id, tier, level, assignee_id, due_at, level_since, status, resolved_at, visit_id, closed_by)
SELECT v.resident_id, v.area_id, r.tier, 1 + (v.id % 4)::int, NULL, v.at - interval '5 hours', v.at - interval '5 hours',
       'closed', v.at, v.id, v.worker_id
  FROM sanse.visit v JOIN sanse.resident r ON r.id = v.resident_id WHERE 'late' = ANY (v.flags);
WITH src AS (
	SELECT r.id AS resident_id, r.area_id, r.tier, fc.worker_id,
	       (ARRAY['warning', 'request', 'finding'])[1 + (r.id / 20) % 3] AS kind,
	       now() - interval '30 days' + (r.id % 29) * interval '1 day' + (r.id % 1440) * interval '1 minute' AS called_at,
	       random() AS x, random() AS y
	  FROM sanse.resident r JOIN first_carer fc ON fc.resident_id = r.id
	 WHERE r.id % 20 = 0),
ev AS (
	INSERT INTO sanse.event (resident_id, area_id, kind, status, tier, level, assignee_id, due_at, level_since, next_step_at,
	                         scale, detail, called_at, raised_by, arrived_at, arrived_by, handled_at, handled_by,
	                         fed_back_at, fed_back_by, resolved_at, closed_by, rating, solved, evaluated_by)
	SELECT s.resident_id, s.area_id, s.kind, CASE WHEN s.x < 0.05 THEN 'called' ELSE 'closed' END, s.tier, 1, s.worker_id,
	       s.called_at, s.called_at, CASE WHEN s.x < 0.05 THEN s.called_at + interval '15 minutes' END,
	       'grid', 'bench loop', s.called_at, s.worker_id,
	       c.arrived_at, c.by, c.arrived_at + interval '1 hour', c.by, c.arrived_at + interval '70 minutes', c.by,
	       c.arrived_at + interval '6 hours', c.by, CASE WHEN c.by IS NOT NULL THEN 3 + (s.y * 2.4)::int END,
	       CASE WHEN c.by IS NOT NULL THEN true END, CASE WHEN c.by IS NOT NULL THEN 'resident' END
	  FROM src s
	 CROSS JOIN LATERAL (SELECT CASE WHEN s.x >= 0.05 THEN s.called_at + (2 + 40 * s.y) * interval '1 minute' END AS arrived_at,
	                            CASE WHEN s.x >= 0.05 THEN s.worker_id END AS by) c
	RETURNING id, called_at, arrived_at, arrived_by, handled_at, fed_back_at, resolved_at)
INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note)
SELECT e.id, t.stage, t.at, t.worker_id, 'bench'
  FROM ev e
 CROSS JOIN LATERAL (VALUES ('called', e.called_at, NULL::bigint), ('arrived', e.arrived_at, e.arrived_by),
                            ('handled', e.handled_at, e.arrived_by), ('fed_back', e.fed_back_at, e.arrived_by),
                            ('closed', e.resolved_at, NULL)) t(stage, at, worker_id)
 WHERE t.at IS NOT NULL;
-- the registration rows of the tier history dated at registration, and
-- area_day_change as its triggers would have noted the residents then (a
-- district registered 120 days ago, not one loaded today: the daily
-- history then counts again only the residents a day changed)
UPDATE sanse.tier_history h SET changed_at = r.registered_at FROM sanse.resident r WHERE r.id = h.resident_id;
DELETE FROM sanse.area_day_change;
INSERT INTO sanse.area_day_change (resident_id, at) SELECT r.id, r.registered_at FROM sanse.resident r;
RESET session_replication_role;
SELECT sanse.rebuild_worker_month();
DO $$ BEGIN IF to_regproc('sanse.carer_gap_rebuild') IS NOT NULL THEN PERFORM sanse.carer_gap_rebuild(); END IF; END $$;
-- the coverage counts, as the first sweep after the load folds them
DO $$ BEGIN IF to_regproc('sanse.area_count_rebuild') IS NOT NULL THEN PERFORM sanse.area_count_rebuild(); END IF; END $$;
VACUUM ANALYZE;
SQL
t2=$(now)
echo "month_ms $(ms "$t1" "$t2")"
fi
echo "residents $(q -c 'SELECT count(*) FROM sanse.resident')"
echo "areas $(q -c 'SELECT count(*) FROM sanse.area')"
echo "visits $(q -c 'SELECT count(*) FROM sanse.visit')"
echo "events $(q -c 'SELECT count(*) FROM sanse.event')"
best() {	# $1: name, $2: a query; the best of 3 in one session
	echo "$1 $(q -c "SELECT round(min(bench.time_ms(\$q\$$2\$q\$))::numeric, 1) FROM generate_series(1, 3)")"; }
month="date_trunc('month', now() - interval '10 days')::date"
best cov_all "SELECT sum(residents), sum(overdue_now) FROM sanse.coverage"
best cov_towns "SELECT * FROM sanse.coverage WHERE kind IN ('district', 'town')"
best cov_district "SELECT * FROM sanse.coverage WHERE path = 'q'"
best cov_town "SELECT * FROM sanse.coverage WHERE path = 'q.t1'"
best tier_town "SELECT * FROM sanse.coverage_by_tier WHERE path = 'q.t1'"
best overdue_towns "SELECT * FROM sanse.overdue_events WHERE kind IN ('district', 'town') AND month = $month"
best daily_day "SELECT sum(visits), sum(events_opened) FROM sanse.grid_daily_report WHERE day = (now() - interval '3 days')::date"
best rate_month "SELECT count(*), avg(checkin_rate) FROM sanse.worker_checkin_rate WHERE month = $month"
best carer_gaps "SELECT count(*) FROM sanse.carer_gaps"
best loop_district "SELECT * FROM sanse.loop_metrics WHERE path = 'q'"
best loop_town "SELECT * FROM sanse.loop_metrics WHERE path = 'q.t1'"
# One day of history, as the first sweep after midnight records it, the
# day before recorded (rolled back): the day before counted from every
# resident (history_full: the first day, or one after a load), then a day's
# writes on 1 % of the residents (0.5 % change tier, 0.2 % move to another
# micro grid, 0.2 % registered during the day, 0.1 % deactivated), then the
# day itself (history_day).
q -q <<'SQL'
SET client_min_messages = warning;
BEGIN;
SELECT 'history_full ' || round(bench.time_ms('SELECT sanse.record_area_day((now() - interval ''5 days'')::date, sanse.current_zone())')::numeric, 1);
UPDATE sanse.resident r SET factors = CASE WHEN r.tier::text = 'red' THEN '{mobility_impaired}'::text[] ELSE '{accident_risk,lives_alone}'::text[] END
 WHERE r.id % 200 = 7 AND r.active;
UPDATE sanse.resident r SET area_id = (SELECT m.id FROM sanse.area m WHERE m.kind = 'micro_grid' AND m.id <> r.area_id
                                       ORDER BY m.id LIMIT 1 OFFSET (r.id / 500) % 50)
 WHERE r.id % 500 = 11 AND r.active;
INSERT INTO sanse.resident (area_id, name, factors, registered_at)
SELECT r.area_id, 'new ' || r.id, r.factors, date_trunc('day', now() - interval '4 days') + interval '10 hours'
  FROM sanse.resident r WHERE r.id % 500 = 13;
UPDATE sanse.resident r SET active = false WHERE r.id % 1000 = 17 AND r.active;
SELECT 'history_noted ' || count(DISTINCT resident_id) FROM sanse.area_day_change;
SELECT 'history_day ' || round(bench.time_ms('SELECT sanse.record_area_day((now() - interval ''4 days'')::date, sanse.current_zone())')::numeric, 1);
SELECT 'history_rows ' || count(*) FROM sanse.area_day WHERE day = (now() - interval '4 days')::date;
ROLLBACK;
SQL
