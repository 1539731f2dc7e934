#!/bin/sh
# The demo's generator, replay and screen, small: a 5 % district over 15
# days, then the invariants the replay must keep.  Prints TAP-like lines.
cd "$(dirname "$0")/.." || exit 2
db=sanse_demo_smoke
dropdb --if-exists "$db" >/dev/null 2>&1
createdb "$db" || exit 1
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
qs() { PGOPTIONS="-c search_path=sanse,public" q "$@"; }
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (got '$2', want '$3')"; fail=1; fi; }

q >/dev/null 2>&1 <<'SQL' || { echo "not ok - generate and replay"; exit 1; }
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
\i test/demo/generate.sql
SELECT * FROM sanse_demo.generate(0.42, 0.05, date_trunc('hour', now()) - interval '16 days');
CALL sanse_demo.replay(date_trunc('hour', now()) - interval '16 days', 15);
SQL
echo "ok - generate and replay"
check "tiers in the paper's proportions (28 : 506 : 1836 at 5 %)" \
	"$(q -c "SELECT string_agg(n::text, ':' ORDER BY t DESC) FROM (SELECT tier t, count(*) n FROM sanse.resident GROUP BY tier) s")" "1:25:92"
check "every resident has a complete five-for-one" "$(q -c "SELECT count(*) FROM sanse.carer_gaps")" "0"
check "the replay went through check_in" "$(q -c "SELECT count(*) > 50 FROM sanse.visit")" "t"
check "the window invariant holds for every resident" \
	"$(qs -c "SELECT count(*) FROM sanse.resident WHERE active AND tier IS NOT NULL AND next_visit IS DISTINCT FROM sanse.window_after(tier, coalesce(last_visit_at, registered_at))")" "0"
check "one overdue event per missed window" \
	"$(q -c "SELECT count(*) = count(DISTINCT (resident_id, due_at)) FROM sanse.event")" "t"
check "every late visit's window has its event" \
	"$(q -c "SELECT count(*) FROM sanse.visit v WHERE 'late' = ANY (v.flags) AND NOT EXISTS (SELECT 1 FROM sanse.event e WHERE e.visit_id = v.id)")" "0"
check "every event has one step per level reached" \
	"$(q -c "SELECT count(*) FROM sanse.event e WHERE (SELECT count(*) FROM sanse.event_step s WHERE s.event_id = e.id AND s.level <= e.level) <> e.level")" "0"
tally="SELECT worker_id, month, windows_met, windows_missed, visits, flagged_visits, checklist_items FROM sanse.worker_tally
        WHERE (windows_met, windows_missed, visits) <> (0, 0, 0) ORDER BY 1, 2"
running=$(q -c "$tally")
q -c "SELECT sanse.rebuild_worker_month()" >/dev/null
check "the tally kept by check-ins and sweeps equals a recount from visits and events" "$(q -c "$tally")" "$running"
check "the supervisor's screen runs" "$(psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f test/demo/screen.sql >/dev/null 2>&1 && echo yes)" "yes"
dropdb "$db"
exit $fail
