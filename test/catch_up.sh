#!/bin/sh
# Issue 22: a catch-up sweep never stops check-ins for more than a second.
# The sweeper was down: 10,000 residents of the Q district (scale 1 grid)
# missed their windows weeks ago.  sanse.sweep() is called back to back, each
# call its own transaction (as pg_cron runs it, or CALL sanse.catch_up()),
# until sweep_status says no work is left; meanwhile check-ins at residents
# of the catch-up run with lock_timeout = 1s and statement_timeout = 1s (the
# latter bounds the wait: check_in's own declaration sets lock_timeout to
# 5 s for its statements).  Every check-in must succeed, the catch-up must
# have taken several calls and still have had work left when the check-ins
# ran, and at the end every missed window has exactly one event, those of
# the residents checked in closed by their visits.  Prints TAP-like lines.
cd "$(dirname "$0")/.." || exit 2
db=sanse_catch_up
N=${SANSE_CATCH_UP_RESIDENTS:-10000}
fail=0
tmp=$(mktemp -d)
loop_pid=
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (got '$2', want '$3')"; fail=1; fi; }
cleanup() {
	[ -n "$loop_pid" ] && kill "$loop_pid" 2>/dev/null
	rm -rf "$tmp"
	dropdb --if-exists --force "$db" >/dev/null 2>&1
}
trap cleanup EXIT
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }

dropdb --if-exists --force "$db" >/dev/null 2>&1
createdb "$db" || { echo "not ok - createdb"; exit 1; }
q -v n="$N" >"$tmp/setup.out" 2>&1 <<'SQL' || { echo "not ok - district created"; cat "$tmp/setup.out"; exit 1; }
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
\i test/demo/generate.sql
SELECT count(*) FROM sanse_demo.generate(0.42, 1, now());
-- the catch-up: residents registered 40 days ago and never visited
INSERT INTO sanse.resident (area_id, name, factors, registered_at)
SELECT m.id, 'late ' || i, (ARRAY['{accident_risk}', '{partial_care,mobility_impaired}', '{self_care_difficulty}'])[1 + i % 3]::text[],
       now() - interval '40 days' - (i % 97) * interval '1 hour'
  FROM generate_series(0, :n - 1) i
  JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM sanse.area WHERE kind = 'micro_grid') m ON m.k = i % 2091;
SELECT sanse_demo.settle(1, NULL);
CREATE TABLE public.due AS
SELECT r.id, sanse.due_at(r.next_visit) AS due, sanse.door_token(r.id) AS token,
       (SELECT min(c.worker_id) FROM sanse.carer c WHERE c.resident_id = r.id) AS carer
  FROM sanse.resident r WHERE r.name LIKE 'late %' AND sanse.due_at(r.next_visit) <= now();
VACUUM ANALYZE;
SQL
due=$(q -c "SELECT count(*) FROM public.due")
check "the catch-up: $N residents' windows missed" "$due" "$N"
before=$(q -c "SELECT count(*) FROM sanse.event")

# the sweeper back: sweep() back to back, one transaction each, until no work is left
(
	i=0
	while [ $i -lt 500 ]; do
		i=$((i + 1))
		q -c "SELECT sanse.sweep()" >/dev/null 2>>"$tmp/loop.err" || echo "error" >>"$tmp/loop.err"
		q -c "SELECT work_left, extract(epoch FROM last_sweep_took) * 1000 FROM sanse.sweep_status" >"$tmp/status"
		cut -d'|' -f1 "$tmp/status" >"$tmp/left"
		cut -d'|' -f2 "$tmp/status" >>"$tmp/took"
		[ "$(cat "$tmp/left")" = "t" ] || break
	done
	echo "$i" >"$tmp/calls"
) &
loop_pid=$!

# check-ins at residents of the catch-up while it runs, each bounded to 1 s
k=0
ok_ins=0
while [ $k -lt 12 ] && [ ! -s "$tmp/calls" ]; do
	# the oldest windows still without an event: what the call running now
	# is opening (it takes the oldest first), their rows locked by it; none
	# left (the last call opened them all before it said so): done
	r=$(q -c "SELECT d.id FROM public.due d WHERE NOT EXISTS (SELECT 1 FROM sanse.event e WHERE e.resident_id = d.id)
	           ORDER BY d.due, d.id LIMIT 1 OFFSET (random() * 100)::int")
	[ -n "$r" ] || break
	k=$((k + 1))
	left=$(q -c "SELECT running_pid IS NOT NULL FROM sanse.sweep_status")
	if PGOPTIONS="-c lock_timeout=1s -c statement_timeout=1s" psql -X -q -t -A -d "$db" \
		-c "SELECT sanse.check_in(d.token, d.carer, now()) > 0, '$left' FROM public.due d WHERE d.id = $r" \
		>>"$tmp/checkins" 2>>"$tmp/checkin.err"; then
		ok_ins=$((ok_ins + 1))
		echo "$r" >>"$tmp/visited"
	fi
	sleep 0.3
done
wait "$loop_pid"
loop_pid=
calls=$(cat "$tmp/calls")
echo "# $calls sweep calls, the longest $(sort -n "$tmp/took" | tail -1 | cut -d. -f1) ms, median $(sort -n "$tmp/took" | awk '{ v[NR] = $1 } END { print int(v[int((NR + 1) / 2)]) }') ms; check-ins: $(tr '\n' ' ' <"$tmp/checkins")"
check "every check-in during the catch-up completed within 1 s ($k tried; $(cat "$tmp/checkin.err" 2>/dev/null | head -1))" "$ok_ins" "$k"
check "at least 3 check-ins ran while a sweep call was running" "$(grep -c '^t|t$' "$tmp/checkins")" \
	"$(grep -c '^t|t$' "$tmp/checkins" | awk '{ print ($1 >= 3 ? $1 : "fewer than 3") }')"
check "the catch-up took several bounded calls ($calls) and ended with no work left" \
	"$(awk -v c="$calls" 'BEGIN { print (c > 3 && c < 500) }')|$(q -c "SELECT work_left FROM sanse.sweep_status")" "1|f"
check "no sweep call failed" "$(cat "$tmp/loop.err" 2>/dev/null)" ""
check "every missed window has exactly one event" \
	"$(q -c "SELECT count(*), count(DISTINCT (e.resident_id, e.due_at)) FROM sanse.event e JOIN public.due d ON d.id = e.resident_id AND d.due = e.due_at")" \
	"$due|$due"
check "and no other event was opened" "$(q -c "SELECT count(*) FROM sanse.event") " "$((before + due)) "
visited=$(sort -u "$tmp/visited" | tr '\n' ',' | sed 's/,$//')
check "the residents checked in have their windows' events closed by the visits" \
	"$(q -c "SELECT count(*) FILTER (WHERE e.status = 'closed' AND e.visit_id IS NOT NULL) = count(*) FROM sanse.event e WHERE e.resident_id IN ($visited) AND e.kind = 'overdue'")" "t"
exit $fail
