#!/bin/sh
# make bench, section "catch-up sweeps" (issue 22): the sweeps section's
# setup at 200,000 residents (the Q district's grid, blue residents, each
# with its five-for-one carers, half of them with a closed event of long ago,
# so that event has history and statistics as in a district that has run),
# every 20th registered 70 days before the sweep: 10,000 windows long
# missed, each due to open at level 4 with its four steps.  Side by side in
# rounds (each rolled back), the median round counting:
#   1.4   the row-by-row logic of 1.4 (bench.catch_up_1_4: open_overdue_event
#         per resident — leader_for and carers_of per row — then a step at a
#         time, leader_for per step), the reference;
#   1.5   sanse.sweep_catch_up (open_due_events in batches of sweep_batch(),
#         each event opened at its level with its steps), unbounded here
#         (every batch in the one call);
# and a bounded run: sweep() back to back (each call its own transaction, as
# pg_cron or sanse.catch_up() run it) until sweep_status says no work is
# left: calls, the longest call (what a check-in may wait for), µs per event.
# µs per opened event with its steps: wall time, and the backend's CPU time
# (/proc/<pid>/stat, steadier on a shared machine).  Both sides' events and
# steps are compared (md5 over resident, level, assignee, times, carers).
#
#   sh test/bench/catchup.sh      (its own database sanse_bench_catchup)
#   BENCH_CATCHUP_RESIDENTS=40000 BENCH_CATCHUP_ROUNDS=1 sh test/bench/catchup.sh   (to try it)
# Prints the section (markdown) on stdout, progress on stderr.
set -e
cd "$(dirname "$0")/../.."
db=sanse_bench_catchup
N=${BENCH_CATCHUP_RESIDENTS:-200000}
ROUNDS=${BENCH_CATCHUP_ROUNDS:-3}
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "== catch-up sweeps: $N residents, every 20th long overdue" >&2
dropdb --if-exists "$db" >/dev/null
createdb "$db"
q -v n="$N" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
\i test/bench/reference.sql
\i test/demo/generate.sql
SELECT count(*) FROM sanse_demo.generate(0.42, 1, now());
DELETE FROM sanse.carer;
DELETE FROM sanse.tier_history;
DELETE FROM sanse.resident;
INSERT INTO sanse.resident (area_id, name, factors, registered_at)
SELECT m.id, 'r' || i, '{mobility_impaired}', now()
  FROM generate_series(0, :n - 1) i
  JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM sanse.area WHERE kind = 'micro_grid') m
    ON m.k = i % 2091;
SELECT sanse_demo.settle(1, NULL);
-- history: a closed event of long ago for every other resident (written directly)
SET session_replication_role = replica;
INSERT INTO sanse.event (resident_id, area_id, tier, level, due_at, level_since, status, resolved_at, anchor_at)
SELECT r.id, r.area_id, r.tier, 1, now() - interval '200 days', now() - interval '200 days', 'closed',
       now() - interval '199 days', now() - interval '230 days'
  FROM sanse.resident r WHERE r.id % 2 = 0;
RESET session_replication_role;
-- 1.4's catch-up, row by row: the reference (and the other side of the comparison)
CREATE OR REPLACE FUNCTION bench.catch_up_1_4(p_at timestamptz) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	d record;
	e sanse.event;
	esc interval;
	n int := 0;
BEGIN
	FOR d IN SELECT r.id, r.tier, sanse.due_at(r.next_visit) AS due, coalesce(r.last_visit_at, r.registered_at) AS anchor
	           FROM sanse.resident r
	          WHERE r.active AND r.next_visit IS NOT NULL AND sanse.due_at(r.next_visit) <= p_at
	            AND NOT EXISTS (SELECT 1 FROM sanse.event x WHERE x.resident_id = r.id AND x.kind = 'overdue'
	                              AND (x.due_at = sanse.due_at(r.next_visit) OR x.anchor_at = coalesce(r.last_visit_at, r.registered_at)))
	            FOR NO KEY UPDATE OF r LOOP
		PERFORM sanse.open_overdue_event(d.id, d.due, d.tier, d.anchor);
		n := n + 1;
	END LOOP;
	-- 1.4's escalate_events: one event, one step at a time
	FOR e IN SELECT * FROM sanse.event x WHERE x.status <> 'closed' AND x.next_step_at <= p_at ORDER BY x.next_step_at, x.id FOR UPDATE LOOP
		esc := sanse.step_interval(e.kind, e.tier, e.status);
		WHILE e.level < 4 AND e.next_step_at <= p_at LOOP
			e.level := e.level + 1;
			e.level_since := e.next_step_at;
			e.assignee_id := sanse.leader_for(e.area_id, e.level);
			INSERT INTO sanse.event_step (event_id, level, assignee_id, at) VALUES (e.id, e.level, e.assignee_id, e.level_since);
			e.next_step_at := CASE WHEN e.level < 4 THEN sanse.zone_add(e.level_since, esc) END;
			UPDATE sanse.event SET level = e.level, level_since = e.level_since, assignee_id = e.assignee_id,
			       next_step_at = e.next_step_at WHERE id = e.id;
		END LOOP;
	END LOOP;
	RETURN n;
END
$$;
CREATE OR REPLACE FUNCTION bench.ticks() RETURNS bigint LANGUAGE sql AS $$
	SELECT split_part(x, ' ', 12)::bigint + split_part(x, ' ', 13)::bigint
	  FROM (SELECT split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ') ', 2) x) s $$;
CREATE OR REPLACE FUNCTION bench.catch_up_md5() RETURNS text LANGUAGE sql AS $$
	SELECT md5(string_agg(format('%s|%s|%s|%s|%s|%s|%s', e.resident_id, e.level, e.assignee_id, e.level_since, e.next_step_at,
	                             e.charged_to, (SELECT string_agg(format('%s/%s/%s', s.level, s.assignee_id, s.at), ',' ORDER BY s.level)
	                                              FROM sanse.event_step s WHERE s.event_id = e.id)), ';' ORDER BY e.resident_id))
	  FROM sanse.event e WHERE e.status = 'open' $$;
VACUUM ANALYZE;
SQL

side() {	# $1: 14 or 15; prints "wall_ms|cpu_ms|events|steps|md5"
	case $1 in
	14) call="SELECT bench.catch_up_1_4(now())" ;;
	15) call="SELECT * FROM sanse.sweep_catch_up(now(), 'infinity')" ;;
	esac
	q <<SQL
BEGIN;
UPDATE sanse.resident SET registered_at = now() - interval '70 days' WHERE id % 20 = 0;
SELECT bench.ticks() AS t0, clock_timestamp() AS c0 \gset
$call \g /dev/null
SELECT round(extract(epoch FROM clock_timestamp() - :'c0') * 1000), (bench.ticks() - :t0) * 10,
       (SELECT count(*) FROM sanse.event WHERE status = 'open'),
       (SELECT count(*) FROM sanse.event_step), bench.catch_up_md5();
ROLLBACK;
SQL
}
r14=""; r15=""; c14=""; c15=""
i=0
while [ $i -lt "$ROUNDS" ]; do
	i=$((i + 1))
	q -c "VACUUM sanse.event" -c "VACUUM sanse.event_step" -c "VACUUM sanse.resident" >/dev/null
	a=$(side 14); b=$(side 15)
	echo "  round $i: 1.4 $a; 1.5 $b" >&2
	r14="$r14 $(echo "$a" | cut -d'|' -f1)"; c14="$c14 $(echo "$a" | cut -d'|' -f2)"
	r15="$r15 $(echo "$b" | cut -d'|' -f1)"; c15="$c15 $(echo "$b" | cut -d'|' -f2)"
	events=$(echo "$b" | cut -d'|' -f3); steps=$(echo "$b" | cut -d'|' -f4)
	same=$([ "$(echo "$a" | cut -d'|' -f3-)" = "$(echo "$b" | cut -d'|' -f3-)" ] && echo identical || echo DIFFERENT)
done
w14=$(echo $r14 | median); w15=$(echo $r15 | median); p14=$(echo $c14 | median); p15=$(echo $c15 | median)
per() { awk -v ms="$1" -v n="$2" 'BEGIN { printf "%.0f", (n > 0 ? 1000 * ms / n : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }'; }

# bounded: sweep() back to back until no work is left, each call committed
q -c "VACUUM sanse.event" -c "VACUUM sanse.event_step" >/dev/null
q -c "SELECT sanse.sweep()" >/dev/null	# the district's own phases (history, screen) first
q -c "UPDATE sanse.resident SET registered_at = now() - interval '70 days' WHERE id % 20 = 0" >/dev/null
t0=$(date +%s.%N)
calls=0; longest=0
while :; do
	calls=$((calls + 1))
	q -c "SELECT sanse.sweep()" >/dev/null
	st=$(q -c "SELECT work_left, round(extract(epoch FROM last_sweep_took) * 1000) FROM sanse.sweep_status")
	ms=$(echo "$st" | cut -d'|' -f2); [ "$ms" -gt "$longest" ] && longest=$ms
	[ "$(echo "$st" | cut -d'|' -f1)" = "t" ] && [ $calls -lt 10000 ] || break
done
bounded_ms=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
bounded_events=$(q -c "SELECT count(*) FROM sanse.event WHERE status = 'open'")
verdict() { awk -v v="$1" 'BEGIN { print (v <= 50 ? "met" : "NOT met") }'; }

cat <<MD

## Catch-up sweeps (issue 22; test/bench/catchup.sh)

$N residents (the sweeps section's setup: the Q district's grid, blue residents with their five-for-one carers, a closed
event of long ago for every other one), every 20th registered 70 days before the sweep: $events windows long missed, each
opened at level 4 with its four steps ($steps steps). Each side in a transaction rolled back, the sides taking turns,
median of $ROUNDS rounds. 1.4: its row-by-row logic (\`open_overdue_event\` per resident, \`leader_for\` and \`carers_of\`
per row, then a step at a time), as \`bench.catch_up_1_4\`; 1.5: \`sweep_catch_up\` (batches of \`sweep_batch()\`, each
event opened at the level reached with its steps, leaders through the area hierarchy once a batch), every batch in one
call. CPU: the backend's own time (\`/proc/<pid>/stat\`), steadier than the wall time on a shared machine. Both sides
left $same events and steps (md5 over every open event's resident, level, assignee, times, carers and steps).

| side | wall (ms) | CPU (ms) | µs per opened event with its steps (wall) | (CPU) |
|---|---:|---:|---:|---:|
| 1.4, row by row | $w14 | $p14 | $(per "$w14" "$events") | $(per "$p14" "$events") |
| 1.5, set-based | $w15 | $p15 | $(per "$w15" "$events") | $(per "$p15" "$events") |

1.4 / 1.5: $(ratio "$w14" "$w15")× (wall), $(ratio "$p14" "$p15")× (CPU). Target (spec 11, issue 22): at most 50 µs per opened
event with its steps — wall: $(verdict "$(per "$w15" "$events")"), CPU: $(verdict "$(per "$p15" "$events")").

Bounded, as a sweeper back from a day down runs it: \`sanse.sweep()\` called back to back, each call its own transaction,
until \`sweep_status.work_left\` is false: $calls calls, $bounded_events events in $bounded_ms ms
($(per "$bounded_ms" "$bounded_events") µs per event, connections and commits included); the longest call $longest ms — the
longest a check-in at a resident of the catch-up can wait (\`sweep_budget()\` $(q -c "SELECT sanse.sweep_budget()"), then at most one
batch of $(q -c "SELECT sanse.sweep_batch()") events opened and one of open events escalated).
MD
