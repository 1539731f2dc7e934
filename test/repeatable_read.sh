#!/bin/sh
# Issue 9: sanse under REPEATABLE READ.  The database's default isolation is
# repeatable read; for ~15 s several clients check in while a sweep runs every
# second, on a district where windows fall due during the run and events
# escalate every 3 seconds, so the sweeps always have work.  Every sweep call
# must succeed (a phase left to the next sweep is a WARNING, counted); check-ins
# may fail only with 40001 (counted).  Then, after one more sweep under READ
# COMMITTED, the pinned invariants must hold.
# Prints TAP-like lines.
cd "$(dirname "$0")/.." || exit 2
db=sanse_repeatable_read
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (got '$2', want '$3')"; fail=1; fi; }
tmp=$(mktemp -d)
pids=
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
seconds=${SANSE_RR_SECONDS:-15}
clients=4

dropdb --if-exists "$db" >/dev/null 2>&1
createdb "$db" || exit 1
# 40 red residents overdue since yesterday, 60 whose first window falls due
# during the run (one every 0.25 s), 20 not due for two days; each with a
# volunteer carer; two leaders may check in anywhere.  Red events climb a
# level every 3 seconds.
q >"$tmp/setup.out" 2>&1 <<SQL || { echo "not ok - district created"; cat "$tmp/setup.out"; exit 1; }
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
ALTER DATABASE $db SET default_transaction_isolation = 'repeatable read';
SET search_path = sanse, public;
UPDATE tier_policy SET escalate_after = interval '3 seconds' WHERE tier = 'red';
INSERT INTO area (path, kind, name) VALUES
  ('rr', 'district', 'RR'), ('rr.t', 'town', 'T'), ('rr.t.v', 'village', 'V'),
  ('rr.t.v.tg', 'total_grid', 'TG'), ('rr.t.v.tg.g', 'general_grid', 'G'), ('rr.t.v.tg.g.m', 'micro_grid', 'M');
INSERT INTO worker (name, force, role, area_id)
SELECT 'vol ' || i, 'volunteer', 'member', a.id FROM generate_series(1, 8) i, area a WHERE a.kind = 'micro_grid';
INSERT INTO worker (name, force, role, area_id)
SELECT v.name, 'grid_officer', v.role, a.id
  FROM (VALUES ('micro leader', 'micro_grid_leader', 'micro_grid'), ('general leader', 'general_grid_leader', 'general_grid'),
               ('total leader', 'total_grid_leader', 'total_grid'), ('task force', 'task_force', 'district')) v(name, role, kind)
  JOIN area a ON a.kind = v.kind;
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT a.id, 'r' || i, '{accident_risk}',
       CASE WHEN i <= 40 THEN now() - interval '3 days'
            WHEN i <= 100 THEN now() - interval '2 days' + (i - 40) * interval '250 ms' + interval '2 s'
            ELSE now() END
  FROM generate_series(1, 120) i, area a WHERE a.kind = 'micro_grid';
INSERT INTO carer (resident_id, worker_id)
SELECT r.id, (SELECT w.id FROM worker w WHERE w.name = 'vol ' || (1 + r.id % 8)) FROM resident r;
CREATE TABLE public.load_tok (i int PRIMARY KEY, rid bigint, token text, worker bigint);
INSERT INTO public.load_tok
SELECT row_number() OVER (), r.id, door_token(r.id), w FROM resident r,
       LATERAL (SELECT c.worker_id FROM carer c WHERE c.resident_id = r.id
                UNION ALL SELECT w.id FROM worker w WHERE w.role = 'micro_grid_leader') x(w);
SQL
check "sessions of the database default to repeatable read" "$(q -c "SHOW transaction_isolation")" "repeatable read"
# a check-in goes, one time in three, to a resident whose window fell due at
# least 4 s ago (a late visit: the sweeps opened its event and escalated it
# once, the check-in closes it), otherwise to one of the 20 not due
pick="SELECT sanse.check_in(t.token, t.worker) FROM load_tok t WHERE t.i = coalesce(
  (SELECT l.i FROM load_tok l JOIN sanse.resident r ON r.id = l.rid
    WHERE random() < 0.33 AND sanse.due_at(r.next_visit) <= now() - interval '4 s' ORDER BY random() LIMIT 1),
  (SELECT l.i FROM load_tok l WHERE l.rid > 100 ORDER BY random() LIMIT 1));"

rm -f "$tmp/stop"
i=1
while [ $i -le $clients ]; do
	{
		echo "\\set VERBOSITY verbose"
		while [ ! -f "$tmp/stop" ]; do
			echo "$pick"
		done
	} | psql -X -q -t -A -d "$db" >"$tmp/load.$i.out" 2>"$tmp/load.$i.err" &
	pids="$pids $!"
	i=$((i + 1))
done
# a sweep every second, in repeatable read
{
	echo "\\set VERBOSITY verbose"
	echo "SELECT 'isolation', current_setting('transaction_isolation');"
	s=0
	while [ $s -lt "$seconds" ]; do
		echo "SELECT 'sweep', * FROM sanse.sweep();"
		echo "SELECT pg_sleep(1);"
		s=$((s + 1))
	done
} | psql -X -q -t -A -d "$db" >"$tmp/sweep.out" 2>"$tmp/sweep.err"
touch "$tmp/stop"
wait

sweeps=$(grep -c '^sweep|' "$tmp/sweep.out")
check "the sweeps ran in repeatable read" "$(grep '^isolation|' "$tmp/sweep.out")" "isolation|repeatable read"
check "every one of the $seconds sweep calls succeeded" "$sweeps / $(grep -c 'ERROR:' "$tmp/sweep.err") errors" "$seconds / 0 errors"
grep 'ERROR:' -A2 "$tmp/sweep.err" | head -n 6 | sed 's/^/#   /'
warnings=$(grep -c 'WARNING:' "$tmp/sweep.err")
echo "# $warnings WARNINGs from the sweeps (a phase left to the next sweep):"
grep 'WARNING:' "$tmp/sweep.err" | sed 's/[0-9][0-9]*/N/g' | sort | uniq -c | sed 's/^/#   /'
check "no sweep was skipped (only one sweeper)" "$(grep -c '^sweep|.*|t$' "$tmp/sweep.out")" "0"
opened=$(awk -F'|' '$1 == "sweep" { s += $2 } END { print s + 0 }' "$tmp/sweep.out")
steps=$(awk -F'|' '$1 == "sweep" { s += $3 } END { print s + 0 }' "$tmp/sweep.out")
echo "# the sweeps opened $opened events and applied $steps escalation steps"
check "the sweeps had work (events opened and escalated)" "$([ "$opened" -gt 0 ] && [ "$steps" -gt 0 ] && echo yes)" "yes"
ok_n=$(cat "$tmp"/load.*.out | grep -c '^[0-9][0-9]*$')
ser=$(cat "$tmp"/load.*.err | grep -c 'ERROR: *40001')
other=$(cat "$tmp"/load.*.err | grep 'ERROR:' | grep -vc 'ERROR: *40001')
echo "# $ok_n check-ins recorded by $clients clients; $ser failed with 40001"
check "check-ins kept succeeding" "$([ "$ok_n" -gt 100 ] && echo yes)" "yes"
check "check-ins failed only with 40001" "$other" "0"
cat "$tmp"/load.*.err | grep 'ERROR:' | grep -v 'ERROR: *40001' | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/#   /'

# one more sweep under READ COMMITTED, and the invariants as of its time
q >"$tmp/final.out" 2>&1 <<'SQL' || { echo "not ok - final sweep under read committed"; cat "$tmp/final.out"; fail=1; }
SET search_path = sanse, public;
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT 'final', * FROM sanse.sweep();
-- exactly one overdue event per (resident, due_at)
SELECT 'dup_events', count(*) FROM (SELECT resident_id, due_at FROM sanse.event WHERE kind = 'overdue'
                                     GROUP BY 1, 2 HAVING count(*) > 1) d;
-- the window invariant
SELECT 'window', count(*) FROM sanse.resident r
 WHERE r.active AND r.tier IS NOT NULL
   AND r.next_visit IS DISTINCT FROM sanse.window_after(r.tier, coalesce(r.last_visit_at, r.registered_at));
-- every active resident whose current window is due has its event
SELECT 'due_without_event', count(*) FROM sanse.resident r
 WHERE r.active AND r.tier IS NOT NULL AND sanse.due_at(r.next_visit) <= now()
   AND NOT EXISTS (SELECT 1 FROM sanse.event e WHERE e.kind = 'overdue' AND e.resident_id = r.id
                      AND e.due_at = sanse.due_at(r.next_visit));
-- and so does every first window (from registration) that passed with no visit before it
SELECT 'first_missed_without_event', count(*) FROM sanse.resident r
  CROSS JOIN LATERAL (SELECT sanse.due_at(sanse.window_after(r.tier, r.registered_at)) AS due) w
 WHERE r.active AND r.tier IS NOT NULL AND w.due <= now()
   AND NOT EXISTS (SELECT 1 FROM sanse.visit v WHERE v.resident_id = r.id AND v.at < w.due)
   AND NOT EXISTS (SELECT 1 FROM sanse.event e WHERE e.kind = 'overdue' AND e.resident_id = r.id AND e.due_at = w.due);
-- no event for a window a visit met (red: rolling 2 days, so the window due D opened at D - 2 days)
SELECT 'event_for_met_window', count(*) FROM sanse.event e
 WHERE e.kind = 'overdue' AND EXISTS (SELECT 1 FROM sanse.visit v WHERE v.resident_id = e.resident_id
                                        AND v.at > e.due_at - interval '2 days' AND v.at < e.due_at);
-- an open event is at the level its schedule reached (a step every 3 s), with one step per level
SELECT 'open_level', count(*) FROM sanse.event e
 WHERE e.kind = 'overdue' AND e.status <> 'closed'
   AND e.level <> least(4, 1 + floor(extract(epoch FROM now() - e.due_at) / 3))::int;
SELECT 'steps', count(*) FROM sanse.event e
 WHERE e.kind = 'overdue' AND e.level <> (SELECT count(*) FROM sanse.event_step s WHERE s.event_id = e.id);
-- every visit tallied
SELECT 'tally', (SELECT coalesce(sum(visits), 0) FROM sanse.worker_tally) - (SELECT count(*) FROM sanse.visit);
SELECT 'events', count(*), count(*) FILTER (WHERE status <> 'closed') FROM sanse.event WHERE kind = 'overdue';
COMMIT;
SQL
val() { awk -F'|' -v k="$1" '$1 == k { print $2 }' "$tmp/final.out"; }
check "the final sweep under read committed ran" "$(grep -c '^final|[0-9]*|[0-9]*|f$' "$tmp/final.out")" "1"
echo "# $(awk -F'|' '$1 == "events" { print $2 " overdue events, " $3 " open" }' "$tmp/final.out"), $(q -c "SELECT count(*) FROM sanse.visit") visits"
check "exactly one overdue event per (resident, due_at)" "$(val dup_events)" "0"
check "the window invariant holds for every active resident" "$(val window)" "0"
check "every active resident whose window is due has its event" "$(val due_without_event)" "0"
check "every first window missed without a visit has its event" "$(val first_missed_without_event)" "0"
check "no overdue event for a window a visit met" "$(val event_for_met_window)" "0"
check "every open event is at the level its schedule reached" "$(val open_level)" "0"
check "every event has one step per level" "$(val steps)" "0"
check "every visit is tallied (sum(worker_tally.visits) - count(visit))" "$(val tally)" "0"
dropdb "$db"
exit $fail
