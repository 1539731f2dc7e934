#!/bin/sh
# Issue 18, item 7: one town cannot stop every town.  A login of town 1 with
# the README recipe's `care` grant holds LOCK TABLE sanse.resident IN ACCESS
# EXCLUSIVE MODE in an open transaction.  Town 2's check-in, its closed-loop
# call and the district's sweep must give up with 55P03 within sanse's lock
# bound (5 s a lock wait), not wait for the holder; the sweep finishes its
# other phases, and sweep_status and the audit log name the login that held
# the lock.  Every call runs under statement_timeout = 20 s, so code that
# waits fails with 57014 instead of hanging.  Then the login row-locks its
# own residents: town 2's check-in is not held up at all, and the sweep skips
# the locked row and opens town 2's events without waiting.  Prints TAP-like
# lines.
cd "$(dirname "$0")/.." || exit 2
db=sanse_locks
holder=sanse_locks_town1
other=sanse_locks_town2
pw=sanse-locks-pw
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (got '$2', want '$3')"; fail=1; fi; }
tmp=$(mktemp -d)
hold_pid=
drop_all() {
	dropdb --if-exists --force "$db" >/dev/null 2>&1
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $holder" -c "DROP ROLE IF EXISTS $other" >/dev/null 2>&1
}
cleanup() {
	[ -n "$hold_pid" ] && kill "$hold_pid" 2>/dev/null
	rm -rf "$tmp"
	drop_all
}
trap cleanup EXIT
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
# the SQLSTATE (or "ok") of one statement run by a login, under statement_timeout
# (the superuser, $PGUSER, logs in with the environment's password: under
# pg_virtualenv that is not the test logins' one)
state_as() {
	who=$1; shift
	pass=$pw; [ "$who" = "$PGUSER" ] && pass=$PGPASSWORD
	PGUSER=$who PGPASSWORD=$pass PGOPTIONS="-c statement_timeout=20s -c client_min_messages=warning" \
		psql -X -q -t -A -v VERBOSITY=verbose -d "$db" -c "$1" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	st=$(sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\): .*/\1/p' "$tmp/err" | head -1)
	# a login that failed is not "ok"
	[ -z "$st" ] && [ $rc -ne 0 ] && st="psql exit $rc: $(head -1 "$tmp/err")"
	echo "${st:-ok}"
}

drop_all
createdb "$db" || { echo "not ok - createdb"; exit 1; }
q >"$tmp/setup.out" 2>&1 <<SQL || { echo "not ok - district created"; cat "$tmp/setup.out"; exit 1; }
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
SET search_path = sanse, public;
INSERT INTO area (path, kind, name) VALUES
  ('lk', 'district', 'LK'),
  ('lk.t1', 'town', 'T1'), ('lk.t1.v', 'village', 'V'), ('lk.t1.v.tg', 'total_grid', 'TG'),
  ('lk.t1.v.tg.g', 'general_grid', 'G'), ('lk.t1.v.tg.g.m', 'micro_grid', 'M'),
  ('lk.t2', 'town', 'T2'), ('lk.t2.v', 'village', 'V'), ('lk.t2.v.tg', 'total_grid', 'TG'),
  ('lk.t2.v.tg.g', 'general_grid', 'G'), ('lk.t2.v.tg.g.m', 'micro_grid', 'M');
INSERT INTO worker (name, force, role, area_id)
SELECT 'carer ' || subpath(a.path, 1, 1)::text, 'volunteer', 'member', a.id FROM area a WHERE a.kind = 'micro_grid';
INSERT INTO worker (name, force, role, area_id)
SELECT 'leader ' || subpath(a.path, 1, 1)::text, 'grid_officer', 'micro_grid_leader', a.id FROM area a WHERE a.kind = 'micro_grid';
-- red residents registered 3 days ago: due a day ago, no event yet
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT a.id, 'in ' || subpath(a.path, 1, 1)::text, '{accident_risk}', now() - interval '3 days'
  FROM area a WHERE a.kind = 'micro_grid';
INSERT INTO carer (resident_id, worker_id)
SELECT r.id, w.id FROM resident r JOIN area a ON a.id = r.area_id JOIN worker w ON w.name = 'carer ' || subpath(a.path, 1, 1)::text;
-- and one more in town 2, registered 4 days ago: due 2 days ago
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT a.id, 'in t2 too', '{accident_risk}', now() - interval '4 days' FROM area a WHERE a.path = 'lk.t2.v.tg.g.m';
INSERT INTO carer (resident_id, worker_id)
SELECT r.id, w.id FROM resident r, worker w WHERE r.name = 'in t2 too' AND w.name = 'carer t2';
CREATE TABLE public.tokens AS SELECT r.name, door_token(r.id) AS token FROM resident r;
GRANT SELECT ON public.tokens TO PUBLIC;
-- the README's recipe: a role per town, its rows from a grant row; town 2's
-- app may raise events
CREATE ROLE $holder LOGIN PASSWORD '$pw';
CREATE ROLE $other LOGIN PASSWORD '$pw';
INSERT INTO area_grant (role, path, access) VALUES ('$holder', 'lk.t1', 'care'), ('$other', 'lk.t2', 'care');
GRANT EXECUTE ON FUNCTION raise_event(text, bigint, text, text, timestamptz, bigint) TO $other;
SQL

rid2=$(q -c "SELECT id FROM sanse.resident WHERE name = 'in t2'")

# town 1's login takes the lock and keeps its transaction open
check "town 1's care role may lock sanse.resident (what the recipe grants allows it)" \
	"$(q -c "SELECT has_table_privilege('$holder', 'sanse.resident', 'UPDATE')")" "t"
mkfifo "$tmp/hold"
PGUSER=$holder PGPASSWORD=$pw psql -X -q -d "$db" <"$tmp/hold" >"$tmp/hold.out" 2>&1 &
hold_pid=$!
exec 3>"$tmp/hold"
echo "BEGIN; LOCK TABLE sanse.resident IN ACCESS EXCLUSIVE MODE; SELECT 'holding';" >&3
n=0
until [ "$(q -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                  WHERE l.relation = 'sanse.resident'::regclass AND l.mode = 'AccessExclusiveLock'
                    AND l.granted AND a.usename = '$holder'")" = 1 ]; do
	n=$((n + 1))
	[ $n -gt 100 ] && { echo "not ok - the holder never got its lock"; cat "$tmp/hold.out"; exit 1; }
	sleep 0.1
done
echo "ok - town 1's login holds ACCESS EXCLUSIVE on sanse.resident"

# town 2's check-in: gives up with 55P03
check "town 2's check-in gives up with 55P03 (not 57014 after waiting 20 s)" \
	"$(state_as $other "SELECT sanse.check_in(t.token, w.id) FROM public.tokens t, sanse.worker w
	                    WHERE t.name = 'in t2' AND w.name = 'carer t2'")" "55P03"
# town 2's closed loop: gives up with 55P03
check "town 2's raise_event gives up with 55P03" \
	"$(state_as $other "SELECT sanse.raise_event('request', $rid2, 'needs groceries')")" "55P03"

# the sweep: each phase that needs the table gives up with 55P03 (a WARNING),
# the sweep itself ends and says who held the lock
check "the sweep returns, its overdue phase given up" \
	"$(state_as "$PGUSER" "SELECT overdue_opened, skipped FROM sanse.sweep()")" "ok"
check "the sweep's output is its row" "$(cat "$tmp/out")" "0|f"
check "the sweep warned with 55P03, naming the holder" \
	"$(grep -c "^WARNING:  55P03: .*$holder" "$tmp/err" | awk '{print ($1 > 0) ? "yes" : "no"}')" "yes"
check "sweep_status names the login that held the lock, its mode and table" \
	"$(q -c "SELECT lock_timeouts > 0, last_lock_holder, last_lock_mode, last_lock_relation FROM sanse.sweep_status")" \
	"t|$holder|AccessExclusiveLock|sanse.resident"
check "the overdue phase is among the phases given up" \
	"$(q -c "SELECT count(*) FROM sanse.sweep_lock_timeout WHERE phase = 'overdue events' AND holder = '$holder'")" "1"
check "the audit log has a lock_timeout row naming the holder" \
	"$(q -c "SELECT count(*) > 0 FROM sanse.audit_log WHERE act = 'lock_timeout' AND detail LIKE '%$holder%AccessExclusiveLock%sanse.resident%'")" "t"
check "nothing was opened while the lock was held" "$(q -c "SELECT count(*) FROM sanse.event")" "0"

# the holder lets go of the table
echo "COMMIT;" >&3
holding() {
	n=0
	until [ "$(q -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	                  WHERE l.relation = 'sanse.resident'::regclass AND l.mode = '$1'
	                    AND l.granted AND a.usename = '$holder'")" = "$2" ]; do
		n=$((n + 1))
		[ $n -gt 100 ] && { echo "not ok - the holder's $1 never became $2"; cat "$tmp/hold.out"; exit 1; }
		sleep 0.1
	done
}
holding AccessExclusiveLock 0

# row locks: town 1's login locks its own residents' rows (all it sees) and
# keeps its transaction open
echo "BEGIN; SELECT count(*) FROM (SELECT id FROM sanse.resident FOR UPDATE) x;" >&3
holding RowShareLock 1
check "town 1's login row-locks its own resident only" "$(grep -c '^ *1$' "$tmp/hold.out")" "1"
check "town 2's check-in is not held up by town 1's rows" \
	"$(state_as $other "SELECT sanse.check_in(t.token, w.id) > 0 FROM public.tokens t, sanse.worker w
	                    WHERE t.name = 'in t2' AND w.name = 'carer t2'")|$(cat "$tmp/out")" "ok|t"
before=$(q -c "SELECT lock_timeouts FROM sanse.sweep_status")
check "the sweep skips town 1's locked row and opens town 2's other overdue resident's event" \
	"$(state_as "$PGUSER" "SELECT overdue_opened, skipped FROM sanse.sweep()")|$(cat "$tmp/out")" "ok|1|f"
check "the sweep did not wait for town 1's rows: no phase gave up" \
	"$(q -c "SELECT lock_timeouts FROM sanse.sweep_status")" "$before"
check "town 2's other resident has its event, town 1's none yet" \
	"$(q -c "SELECT string_agg(r.name, ',' ORDER BY r.name) FROM sanse.event e JOIN sanse.resident r ON r.id = e.resident_id WHERE e.status = 'open'")" \
	"in t2 too"

# the holder lets go: the next sweep opens town 1's event (town 2's late
# check-in opened and closed its resident's own)
echo "COMMIT;" >&3
exec 3>&-
wait "$hold_pid"
hold_pid=
check "after the locks, the sweep opens town 1's event" \
	"$(state_as "$PGUSER" "SELECT overdue_opened FROM sanse.sweep()")|$(cat "$tmp/out")" "ok|1"
check "each resident has one overdue event, town 2's visited one closed by its visit" \
	"$(q -c "SELECT string_agg(r.name || ':' || e.status, ',' ORDER BY r.name) FROM sanse.event e JOIN sanse.resident r ON r.id = e.resident_id")" \
	"in t1:open,in t2:closed,in t2 too:open"
exit $fail
