#!/bin/sh
# Issue 9, "Upgrades that lose nothing": ALTER EXTENSION sanse UPDATE while
# check-ins keep coming.
#  (a) 1.1 -> 1.2 under a background load of check-ins (several psql clients);
#  (b) 1.0 -> 1.2 the README's way (one transaction that LOCKs the tables
#      first) under the same load;
#  (c) deterministic: one session holds the update open, a check-in (from a
#      session that already checked in under the old version) waits behind it,
#      then the update commits — from 1.1 with a plain ALTER EXTENSION, and
#      from 1.0 with the README's recipe.
# Each time: the update succeeds (never 40P01), a check-in fails only with a
# retryable serialization failure (40001, counted), and afterwards every
# visit is tallied: sum(worker_tally.visits) = count(visit).
# Prints TAP-like lines.
cd "$(dirname "$0")/.." || exit 2
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (got '$2', want '$3')"; fail=1; fi; }
tmp=$(mktemp -d)
pids=
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
clients=4
load_seconds=${SANSE_LOAD_SECONDS:-2}

# fresh database $1 with sanse at version $2 and a small district: 60 red
# residents registered three days ago (so their windows are missed and
# check-ins close events), each with a volunteer carer; two leaders of the
# micro grid may check in anywhere.  public.load_tok lists (token, worker)
# pairs that may check in.
setup() {
	dropdb --if-exists "$1" >/dev/null 2>&1
	createdb "$1" || return 1
	psql -X -q -v ON_ERROR_STOP=1 -d "$1" >"$tmp/setup.out" 2>&1 <<SQL
SET client_min_messages = warning;
CREATE EXTENSION sanse VERSION '$2' CASCADE;
SET search_path = sanse, public;
INSERT INTO area (path, kind, name) VALUES
  ('ul', 'district', 'UL'), ('ul.t', 'town', 'T'), ('ul.t.v', 'village', 'V'),
  ('ul.t.v.tg', 'total_grid', 'TG'), ('ul.t.v.tg.g', 'general_grid', 'G'), ('ul.t.v.tg.g.m', 'micro_grid', 'M');
INSERT INTO worker (name, force, role, area_id)
SELECT 'vol ' || i, 'volunteer', 'member', a.id FROM generate_series(1, 8) i, area a WHERE a.kind = 'micro_grid';
INSERT INTO worker (name, force, role, area_id)
SELECT 'leader ' || i, 'grid_officer', 'micro_grid_leader', a.id FROM generate_series(1, 2) i, area a WHERE a.kind = 'micro_grid';
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT a.id, 'r' || i, '{accident_risk}', now() - interval '3 days' FROM generate_series(1, 60) i, area a WHERE a.kind = 'micro_grid';
INSERT INTO carer (resident_id, worker_id)
SELECT r.id, (SELECT w.id FROM worker w WHERE w.name = 'vol ' || (1 + r.id % 8)) FROM resident r;
SELECT sweep();
CREATE TABLE public.load_tok (i int PRIMARY KEY, token text, worker bigint);
INSERT INTO public.load_tok
SELECT row_number() OVER (), door_token(r.id), w FROM resident r,
       LATERAL (SELECT c.worker_id FROM carer c WHERE c.resident_id = r.id
                UNION ALL SELECT w.id FROM worker w WHERE w.role = 'micro_grid_leader') x(w);
SQL
}

# one load client on database $1 until $tmp/stop exists; errors (by SQLSTATE)
# go to $tmp/load.<client>.err, successes print a visit id
load_client() {
	n=$(psql -X -q -t -A -d "$1" -c "SELECT count(*) FROM load_tok")
	{
		echo "\\set VERBOSITY verbose"
		echo "SET application_name = 'sanse_load';"
		while [ ! -f "$tmp/stop" ]; do
			echo "SELECT sanse.check_in(token, worker) FROM load_tok WHERE i = (SELECT 1 + floor(random() * $n)::int);"
		done
	} | psql -X -q -t -A -d "$1" >"$tmp/load.$2.out" 2>"$tmp/load.$2.err"
}

# the update under load: $1 database, $2 label, $3 the update's SQL
under_load() {
	rm -f "$tmp/stop" "$tmp"/load.*
	i=1
	lpids=
	while [ $i -le $clients ]; do
		load_client "$1" $i &
		lpids="$lpids $!"
		i=$((i + 1))
	done
	pids="$pids $lpids"
	sleep 1
	before=$(psql -X -q -t -A -d "$1" -c "SELECT count(*) FROM sanse.visit")
	psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$1" -c '\set VERBOSITY verbose' -c "$3" >"$tmp/update.out" 2>&1
	urc=$?
	sleep "$load_seconds"
	touch "$tmp/stop"
	for p in $lpids; do wait "$p"; done
	after=$(psql -X -q -t -A -d "$1" -c "SELECT count(*) FROM sanse.visit")
	check "$2: the update succeeds under load" "$urc" "0"
	[ $urc -ne 0 ] && sed 's/^/#   /' "$tmp/update.out" | head -n 10 && relnames "$1" "$tmp/update.out"
	check "$2: no deadlock (40P01) in the update" "$(grep -c '40P01\|deadlock' "$tmp/update.out")" "0"
	check "$2: extension at $want" "$(psql -X -q -t -A -d "$1" -c "SELECT extversion FROM pg_extension WHERE extname = 'sanse'")" "$want"
	ok_n=$(cat "$tmp"/load.*.out | grep -c '^[0-9][0-9]*$')
	cat "$tmp"/load.*.err | grep -o 'ERROR: *[0-9A-Z]\{5\}' | awk '{ print $2 }' | sort | uniq -c | awk '{ print $2 ":" $1 }' | tr '\n' ' ' >"$tmp/codes"
	other=$(cat "$tmp"/load.*.err | grep 'ERROR:' | grep -v 'ERROR: *40001' | grep -vc 'ERROR: *40P01')
	deadlocks=$(cat "$tmp"/load.*.err | grep -c 'ERROR: *40P01')
	echo "# $2: $ok_n check-ins recorded by $clients clients ($before visits when the update started, $after at the end); errors by SQLSTATE: $(cat "$tmp/codes")"
	cat "$tmp"/load.*.out | grep '^[0-9][0-9]*$' | sort -n >"$tmp/ids"
	# two clients whose transactions start in the same microsecond send the
	# same (token, worker, now()): the second gets the first visit's id back
	echo "# $2: $(uniq -d "$tmp/ids" | wc -l | tr -d ' ') visit ids returned twice (same token, worker and now())"
	check "$2: every visit id a check-in returned is stored" \
		"$(psql -X -q -t -A -d "$1" -c "CREATE TEMP TABLE got (id bigint)" -c "\\copy got FROM '$tmp/ids'" -c "SELECT count(*) FROM got WHERE id NOT IN (SELECT id FROM sanse.visit)")" "0"
	check "$2: the load kept checking in after the update" "$([ "$after" -gt "$before" ] && [ "$ok_n" -gt 50 ] && echo yes)" "yes"
	check "$2: check-ins failed only with a retryable error (class 40)" "$other" "0"
	[ "$other" != 0 ] && cat "$tmp"/load.*.err | grep 'ERROR:' | grep -v 'ERROR: *40001' | grep -v 'ERROR: *40P01' | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/#   /'
	# README: the update "waits for check-ins in flight instead of deadlocking with them"
	check "$2: no check-in was a deadlock victim (40P01)" "$deadlocks" "0"
	if [ "$deadlocks" != 0 ]; then
		cat "$tmp"/load.*.err | grep -A3 'ERROR: *40P01' | head -n 4 | sed 's/^/#   /'
		cat "$tmp"/load.*.err >"$tmp/load.all"
		relnames "$1" "$tmp/load.all"
	fi
	tally "$1" "$2"
}

tally() {
	check "$2: every visit is tallied (sum(worker_tally.visits) = count(visit))" \
		"$(psql -X -q -t -A -d "$1" -c "SELECT coalesce((SELECT sum(visits) FROM sanse.worker_tally), 0) || ' = ' || (SELECT count(*) FROM sanse.visit)")" \
		"$(psql -X -q -t -A -d "$1" -c "SELECT count(*) || ' = ' || count(*) FROM sanse.visit")"
	check "$2: every visit is tallied for its worker and month" \
		"$(psql -X -q -t -A -d "$1" -c "SELECT count(*) FROM (
		     SELECT worker_id, sanse.month_of(at) m, count(*) n FROM sanse.visit GROUP BY 1, 2) v
		     FULL JOIN (SELECT worker_id, month, visits FROM sanse.worker_tally WHERE visits <> 0) t
		       ON t.worker_id = v.worker_id AND t.month = v.m
		    WHERE t.visits IS DISTINCT FROM v.n")" "0"
}

# name the relations of a deadlock report (file $2) in database $1
relnames() {
	for oid in $(grep -o 'relation [0-9]* of database' "$2" | awk '{ print $2 }' | sort -u); do
		echo "#   relation $oid is $(psql -X -q -t -A -d "$1" -c "SELECT $oid::regclass")"
	done
}

recipe="BEGIN;
LOCK TABLE sanse.door_token, sanse.resident, sanse.visit, sanse.event, sanse.event_step IN ACCESS EXCLUSIVE MODE;
ALTER EXTENSION sanse UPDATE;
COMMIT;"

# the version ALTER EXTENSION sanse UPDATE reaches
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" sanse.control)
# (a) 1.1 -> 1.2 under load
db=sanse_upgrade_load
setup $db 1.1 || { echo "not ok - (a) 1.1 district"; cat "$tmp/setup.out"; exit 1; }
want=1.2
under_load $db "(a) 1.1 -> 1.2" "ALTER EXTENSION sanse UPDATE TO '1.2'"
dropdb $db

# (b) 1.0 -> 1.2 with the README's recipe, under load
setup $db 1.0 || { echo "not ok - (b) 1.0 district"; cat "$tmp/setup.out"; exit 1; }
want=$current
under_load $db "(b) 1.0 -> $current (README recipe)" "$recipe"
dropdb $db

# (c) deterministic: the update held open, a check-in waiting behind it
blocked() {
	label=$1; from=$2; update=$3
	setup $db "$from" || { echo "not ok - $label district"; cat "$tmp/setup.out"; return; }
	tok=$(psql -X -q -t -A -d $db -c "SELECT token || ' ' || worker FROM load_tok WHERE i = 1")
	t=${tok% *}; w=${tok#* }
	# B: one check-in under the old version (its plans are made), then wait
	# until the update holds its locks, then a second check-in that blocks
	psql -X -q -t -A -d $db >"$tmp/b.out" 2>&1 <<SQL &
SET application_name = 'sanse_b';
SELECT 'first', sanse.check_in('$t', $w);
DO \$\$BEGIN
	FOR i IN 1 .. 600 LOOP
		PERFORM pg_stat_clear_snapshot();
		EXIT WHEN EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		                   WHERE a.application_name = 'sanse_a' AND l.relation = 'sanse.resident'::regclass
		                     AND l.mode = 'AccessExclusiveLock' AND l.granted);
		PERFORM pg_sleep(0.05);
	END LOOP;
END\$\$;
SELECT 'second', sanse.check_in('$t', $w, now());
SQL
	bpid=$!
	pids="$pids $bpid"
	for i in $(seq 1 100); do grep -q '^first|' "$tmp/b.out" && break; sleep 0.1; done
	# A: the update, held open until B waits on a lock, then COMMIT
	psql -X -q -t -A -v ON_ERROR_STOP=1 -d $db >"$tmp/a.out" 2>&1 <<SQL &
SET application_name = 'sanse_a';
$update
DO \$\$
DECLARE seen boolean := false;
BEGIN
	FOR i IN 1 .. 600 LOOP
		PERFORM pg_stat_clear_snapshot();
		SELECT true INTO seen FROM pg_stat_activity WHERE application_name = 'sanse_b' AND wait_event_type = 'Lock';
		EXIT WHEN seen;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RAISE NOTICE 'check-in seen waiting: %', coalesce(seen, false);
END\$\$;
COMMIT;
SQL
	apid=$!
	pids="$pids $apid"
	wait $apid
	arc=$?
	wait $bpid
	check "$label: the update commits" "$arc" "0"
	[ $arc -ne 0 ] && sed 's/^/#   /' "$tmp/a.out" | head -n 10
	check "$label: the check-in was seen waiting behind the update" "$(grep -o 'check-in seen waiting: [a-z]*' "$tmp/a.out")" "check-in seen waiting: t"
	check "$label: the first check-in (old version) was recorded" "$(grep -c '^first|[0-9][0-9]*$' "$tmp/b.out")" "1"
	check "$label: the blocked check-in finished with a visit id" "$(grep -c '^second|[0-9][0-9]*$' "$tmp/b.out")" "1"
	grep -q '^second|[0-9]' "$tmp/b.out" || sed 's/^/#   /' "$tmp/b.out" | head -n 10
	check "$label: extension at $want" "$(psql -X -q -t -A -d $db -c "SELECT extversion FROM pg_extension WHERE extname = 'sanse'")" "$want"
	vid=$(sed -n 's/^second|//p' "$tmp/b.out")
	check "$label: the blocked check-in's visit is stored" "$(psql -X -q -t -A -d $db -c "SELECT count(*) FROM sanse.visit WHERE id = ${vid:-0}")" "1"
	tally $db "$label"
	dropdb $db
}
want=1.2
blocked "(c) 1.1 -> 1.2 held open" 1.1 "BEGIN;
ALTER EXTENSION sanse UPDATE TO '1.2';"
want=$current
blocked "(c) 1.0 -> $current recipe held open" 1.0 "BEGIN;
LOCK TABLE sanse.door_token, sanse.resident, sanse.visit, sanse.event, sanse.event_step IN ACCESS EXCLUSIVE MODE;
ALTER EXTENSION sanse UPDATE;"
exit $fail
