#!/bin/sh
# The demo's generator, replay and screen, small: a 5 % district over 15
# days (the closed loop ten times as busy, so every path is taken), then the
# invariants the replay must keep.  Prints TAP-like lines.
cd "$(dirname "$0")/.." || exit 2
db=sanse_demo_smoke
dropdb --if-exists "$db" >/dev/null 2>&1
createdb "$db" || exit 1
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
qs() { PGOPTIONS="-c search_path=sanse,public" q "$@"; }
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (got '$2', want '$3')"; fail=1; fi; }

out=$(mktemp)
# what make demo prints of the district and the replay (run_demo.sh shows
# their notices) is kept and checked below
q >"$out" 2>&1 <<'SQL' || { echo "not ok - generate and replay"; sed 's/^/# /' "$out"; rm -f "$out"; exit 1; }
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
\i test/demo/generate.sql
RESET client_min_messages;
SELECT * FROM sanse_demo.generate(0.42, 0.05, date_trunc('hour', now()) - interval '16 days');
CALL sanse_demo.replay(date_trunc('hour', now()) - interval '16 days', 15, 10);
SQL
echo "ok - generate and replay"
# issue 18: the department staff count printed blank; 15 "replay day" notices
check "the district's printout gives the department staff count as a number" \
	"$(sed -n 's/^department staff|\([0-9][0-9]*\)$/number/p' "$out")" "number"
check "the printed department staff count is the number of workers with a department" \
	"$(sed -n 's/^department staff|//p' "$out")" "$(q -c "SELECT count(*) FROM sanse.worker WHERE department IS NOT NULL")"
check "the replay of 15 days prints at most two progress notices (one every 10 days, and the end)" \
	"$(grep -c 'NOTICE' "$out" | awk '{ print ($1 <= 2) ? "at most 2" : $1 " notices" }')" "at most 2"
rm -f "$out"
check "tiers in the paper's proportions (28 : 506 : 1836 at 5 %)" \
	"$(q -c "SELECT string_agg(n::text, ':' ORDER BY t DESC) FROM (SELECT tier t, count(*) n FROM sanse.resident GROUP BY tier) s")" "1:25:92"
check "every resident has a complete five-for-one" "$(q -c "SELECT count(*) FROM sanse.carer_gaps")" "0"
check "the replay went through check_in" "$(q -c "SELECT count(*) > 50 FROM sanse.visit")" "t"
check "the window invariant holds for every resident" \
	"$(qs -c "SELECT count(*) FROM sanse.resident WHERE active AND tier IS NOT NULL AND next_visit IS DISTINCT FROM sanse.window_after(tier, coalesce(last_visit_at, registered_at))")" "0"
check "one overdue event per missed window" \
	"$(q -c "SELECT count(*) = count(DISTINCT (resident_id, due_at)) FROM sanse.event WHERE kind = 'overdue'")" "t"
check "every late visit's window has its event" \
	"$(q -c "SELECT count(*) FROM sanse.visit v WHERE 'late' = ANY (v.flags) AND NOT EXISTS (SELECT 1 FROM sanse.event e WHERE e.visit_id = v.id)")" "0"
check "every overdue event has one step per level reached" \
	"$(q -c "SELECT count(*) FROM sanse.event e WHERE e.kind = 'overdue' AND (SELECT count(*) FROM sanse.event_step s WHERE s.event_id = e.id AND s.level <= e.level) <> e.level")" "0"
check "every loop event has a step for each level from its scale's to its own" \
	"$(q -c "SELECT count(*) FROM sanse.event e WHERE e.kind <> 'overdue' AND (SELECT count(DISTINCT s.level) FROM sanse.event_step s WHERE s.event_id = e.id) <> e.level - sanse.scale_level(e.scale) + 1")" "0"
check "the loop raised warnings, findings, requests and tasks, and whistled" \
	"$(q -c "SELECT string_agg(DISTINCT kind, ',') || ':' || bool_or(parent_id IS NOT NULL) FROM sanse.event WHERE kind <> 'overdue'")" "finding,request,task,warning:true"
dl="FROM sanse.loop_metrics m JOIN sanse.area a ON a.id = m.area_id AND a.kind = 'district'"
check "loop_metrics: the district raised events" "$(q -c "SELECT sum(raised) > 0 $dl")" "t"
check "loop_metrics: the district's response rate is between 0.5 and 1" \
	"$(q -c "SELECT sum(answered_in_time) / sum(raised) BETWEEN 0.5 AND 1 $dl")" "t"
check "loop_metrics: some events were reopened, most closed" \
	"$(q -c "SELECT sum(reopened) > 0 AND sum(closed) > sum(raised) / 2 AND sum(closed) <= sum(handled) AND sum(handled) <= sum(raised) $dl")" "t"
check "loop_metrics: the district row equals the sum over its towns, each month and kind" \
	"$(q -c "WITH d AS (SELECT m.month, m.kind, m.raised, m.answered_in_time, m.handled, m.closed, m.reopened, m.confirmed_solved, m.still_open $dl),
	              t AS (SELECT m.month, m.kind, sum(m.raised) raised, sum(m.answered_in_time) answered_in_time, sum(m.handled) handled,
	                           sum(m.closed) closed, sum(m.reopened) reopened, sum(m.confirmed_solved) confirmed_solved, sum(m.still_open) still_open
	                      FROM sanse.loop_metrics m JOIN sanse.area a ON a.id = m.area_id AND a.kind = 'town' GROUP BY 1, 2)
	         SELECT (SELECT count(*) FROM d) > 0 AND NOT EXISTS (SELECT * FROM d EXCEPT SELECT * FROM t) AND NOT EXISTS (SELECT * FROM t EXCEPT SELECT * FROM d)")" "t"
check "loop_metrics still open = the loop events on the open_events board" \
	"$(q -c "SELECT (SELECT sum(still_open) $dl) = (SELECT count(*) FROM sanse.open_events WHERE kind <> 'overdue')")" "t"
check "worker_load counts every open event with an assignee once" \
	"$(q -c "SELECT (SELECT sum(open_overdue + open_loop) FROM sanse.worker_load) = (SELECT count(*) FROM sanse.event e JOIN sanse.worker w ON w.id = e.assignee_id AND w.active WHERE e.status <> 'closed')")" "t"
check "every closed loop event was called (or reopened), arrived at, handled, fed back and closed, in time order" \
	"$(q -c "SELECT count(*) FROM sanse.event e,
	           LATERAL (SELECT array_agg(stage ORDER BY at, id) AS stages
	                      FROM (SELECT t.stage, t.at, t.id FROM sanse.event_transition t
	                             WHERE t.event_id = e.id AND t.stage <> 'whistled' ORDER BY t.at DESC, t.id DESC LIMIT 5) l) x
	          WHERE e.kind <> 'overdue' AND e.status = 'closed'
	            AND x.stages IS DISTINCT FROM ARRAY[CASE WHEN e.reopened > 0 THEN 'reopened' ELSE 'called' END, 'arrived', 'handled', 'fed_back', 'closed']")" "0"
check "no event was handled before the departments it whistled for" \
	"$(q -c "SELECT count(*) FROM sanse.event p JOIN sanse.event c ON c.parent_id = p.id
	          WHERE p.handled_at IS NOT NULL AND (c.handled_at IS NULL OR c.handled_at > p.handled_at) AND c.reopened = 0")" "0"
tally="SELECT worker_id, month, windows_met, windows_missed, visits, flagged_visits, checklist_items FROM sanse.worker_tally
        WHERE (windows_met, windows_missed, visits) <> (0, 0, 0) ORDER BY 1, 2"
running=$(q -c "$tally")
q -c "SELECT sanse.rebuild_worker_month()" >/dev/null
check "the tally kept by check-ins and sweeps equals a recount from visits and events" "$(q -c "$tally")" "$running"
check "the supervisor's screen runs" "$(psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f test/demo/screen.sql >/dev/null 2>&1 && echo yes)" "yes"
dropdb "$db"
exit $fail
