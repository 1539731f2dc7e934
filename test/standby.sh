#!/bin/sh
# Issue 23, standby for BI (spec 11): the screen answers on a hot standby.
# Makes a primary and a streaming hot standby of it (pg_basebackup -R) with
# the binaries of the server the PG* environment names (test/replica/lib.sh:
# clusters of its own on free loopback ports from 5571, data in /tmp), loads
# the demo's district at 5 % over 15 days on the primary, and checks on the
# standby:
# - every screen view, coverage_history and the screen page's data
#   (test/demo/screen_data.sql) as an aggregate-only role, a care role and a
#   role with care on one town and aggregate on the district, each compared
#   row for row with the primary's answer (and not empty);
# - the caches answer read-only and hear the primary's edits through the WAL:
#   in one standby session a grant deleted on the primary hides every row
#   (fail closed), put back shows them again, a classification rule switched
#   off changes classify(); a door token reprinted on the standby is the
#   primary's (the secret's cache) and a standby issues none (25006);
# - sanse.sweep() there writes nothing and returns skipped, sweep_status says
#   why (standby, paused_because), and ten sweeps called there, each from a
#   new connection as a scheduler would, leave nothing in the server log;
# - a switchover: the primary (with the pg_cron sweep job) stopped, the
#   standby promoted, the old primary restarted as a standby of it; the
#   job's runs go on on the new primary and the old one's log stays quiet.
# Prints the standby's time for the screen views against the primary's
# (same queries, alternated, side by side; target at most 1.2x) as a "#"
# line.  TAP-like lines; exits non-zero on a failure.
cd "$(dirname "$0")/.." || exit 2
here=$(pwd)
rdb=sanse_standby
. test/replica/lib.sh
trap replica_cleanup EXIT
trap 'exit 2' INT TERM
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (got '$2', want '$3')"; fail=1; fi; }

replica_bindir
p1=$(replica_port "${SANSE_REPLICA_PORT:-5571}")
p2=$(replica_port $((p1 + 1)))
if ! replica_primary primary "$p1" "fsync = off" "shared_preload_libraries = 'pg_cron'" "cron.database_name = '$rdb'" \
	"cron.use_background_workers = on" "max_worker_processes = 16"; then
	echo "not ok - a primary from $bindir"
	exit 1
fi
as_postgres "$bindir/createdb" -h 127.0.0.1 -p "$p1" -U postgres "$rdb" || exit 1
echo "ok - a primary on 127.0.0.1:$p1 from $bindir"

# --- the district, published, and the roles BI logs in as -------------------
out=$rtmp/load.out
if ! rq "$p1" -v scale="${SANSE_STANDBY_SCALE:-0.05}" -v days="${SANSE_STANDBY_DAYS:-15}" -v loop="${SANSE_STANDBY_LOOP:-10}" >"$out" 2>&1 <<'SQL'; then
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
\i test/demo/generate.sql
SELECT * FROM sanse_demo.generate(0.42, :scale, date_trunc('hour', now()) - make_interval(days => :days + 1));
CALL sanse_demo.replay(date_trunc('hour', now()) - make_interval(days => :days + 1), :days, :loop);
-- a resident registered last, without a door token yet
INSERT INTO sanse.resident (area_id, name, factors)
SELECT id, 'Standby', '{accident_risk}' FROM sanse.area WHERE kind = 'micro_grid' ORDER BY id LIMIT 1;
SELECT sanse.publish_screen();
VACUUM ANALYZE;
DROP ROLE IF EXISTS standby_agg; DROP ROLE IF EXISTS standby_care; DROP ROLE IF EXISTS standby_mixed;
DROP ROLE IF EXISTS standby_towns;
CREATE ROLE standby_towns NOLOGIN;
CREATE ROLE standby_agg NOLOGIN;
CREATE ROLE standby_care NOLOGIN;
CREATE ROLE standby_mixed NOLOGIN;
INSERT INTO sanse.area_grant (role, path, access) VALUES
  ('standby_agg', 'q', 'aggregate'), ('standby_care', 'q', 'care'),
  ('standby_mixed', 'q', 'aggregate'), ('standby_mixed', 'q.t1', 'care'),
  ('standby_towns', 'q.t1', 'care'), ('standby_towns', 'q.t2', 'care');
-- the first door tokens: a standby reprints them
SELECT count(sanse.door_token(id)) FROM sanse.resident WHERE id <= 3;
SQL
	echo "not ok - the demo district loaded on the primary"
	sed 's/^/# /' "$out"
	exit 1
fi
echo "ok - the demo district loaded on the primary, its screen published, roles granted"

if ! replica_standby standby "$p2" "$p1" "hot_standby_feedback = on"; then
	echo "not ok - a streaming hot standby"
	exit 1
fi
check "a streaming hot standby on 127.0.0.1:$p2 (pg_basebackup -R)" \
	"$(rq "$p2" -c "SELECT pg_is_in_recovery()")/$(rq "$p1" -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" "t/1"
replica_caught_up "$p1" "$p2" || echo "# the standby did not catch up in 30 s"

# --- every screen view, on both, as each role ---------------------------------
# A view's rows as one md5 (columns that depend on the clock left out), and
# how many: equal on both servers, and not empty.
views_agg="coverage coverage_by_tier overdue_events grid_daily_report loop_metrics worker_checkin_rate coverage_history"
views_care="$views_agg open_events worker_load carer_gaps resident_profile"
digest() {	# port role view
	rq "$1" -c "SET ROLE $2" -c "SELECT count(*) || ':' || coalesce(md5(string_agg(r, '|' ORDER BY r)), '-')
	                              FROM (SELECT (to_jsonb(t) - 'age' - 'time_left')::text AS r FROM sanse.$3 t) s" 2>&1
}
for role in standby_agg standby_care standby_mixed; do
	case $role in standby_agg) views=$views_agg ;; *) views=$views_care ;; esac
	for v in $views; do
		a=$(digest "$p1" "$role" "$v")
		b=$(digest "$p2" "$role" "$v")
		case $a in
		0:* | *ERROR*) [ "$v" = carer_gaps ] || { echo "not ok - $v as $role on the primary: $a"; fail=1; continue; } ;;
		esac
		check "sanse.$v as $role: the standby answers as the primary (${a%%:*} rows)" "$b" "$a"
	done
done

# the screen page's data, as the page's aggregate-only role reads it
page() {	# port
	PGHOST=127.0.0.1 PGPORT=$1 PGUSER=postgres PGDATABASE=$rdb psql -X -q -t -A -v ON_ERROR_STOP=1 \
		-v root= -c "SET ROLE standby_agg" -f test/demo/screen_data.sql 2>&1 | md5sum
}
pa=$(page "$p1")
check "the screen page's data (screen_data.sql) as standby_agg: the standby's is the primary's" "$(page "$p2")" "$pa"

# --- caches: read-only loads, and the primary's edits heard through the WAL ---
# One standby session (as a BI tool's pooled connection) reads, the primary
# edits (\!), the session reads again.
cat >"$rtmp/edit.sh" <<EOF
#!/bin/sh
# an edit on the primary, then wait until the standby replayed it
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d $rdb "\$@"; }
q -p $p1 -c "\$1" >/dev/null
lsn=\$(q -p $p1 -c "SELECT pg_current_wal_lsn()")
i=0
while [ \$i -lt 300 ] && [ "\$(q -p $p2 -c "SELECT pg_last_wal_replay_lsn() >= '\$lsn'")" != t ]; do sleep 0.1; i=\$((i + 1)); done
EOF
# standby_towns holds care on two towns; the second grant goes and comes back
sess=$(rq "$p2" 2>&1 <<EOF
SET ROLE standby_towns;
SELECT 'before:' || count(*) FROM sanse.coverage;
SELECT 'classify:' || sanse.classify('{accident_risk}');
\\! sh $rtmp/edit.sh "DELETE FROM sanse.area_grant WHERE role = 'standby_towns' AND path = 'q.t2'; UPDATE sanse.classification_rule SET enabled = false WHERE all_of = '{accident_risk}'"
SELECT 'revoked:' || count(*) FROM sanse.coverage;
SELECT 'classify:' || coalesce(sanse.classify('{accident_risk}')::text, 'none');
\\! sh $rtmp/edit.sh "INSERT INTO sanse.area_grant (role, path, access) VALUES ('standby_towns', 'q.t2', 'care'); UPDATE sanse.classification_rule SET enabled = true WHERE all_of = '{accident_risk}'"
SELECT 'granted:' || count(*) FROM sanse.coverage;
SELECT 'classify:' || sanse.classify('{accident_risk}');
EOF
)
n12=$(rq "$p1" -c "SELECT count(*) FROM sanse.area WHERE path <@ 'q.t1' OR path <@ 'q.t2'")
n1=$(rq "$p1" -c "SELECT count(*) FROM sanse.area WHERE path <@ 'q.t1'")
check "one standby session: coverage with care on two towns, one town's grant deleted on the primary, then put back" \
	"$(echo "$sess" | grep -E '^(before|revoked|granted):' | tr '\n' ' ')" "before:$n12 revoked:$n1 granted:$n12 "
check "the same session: classify() follows a rule switched off and on on the primary" \
	"$(echo "$sess" | grep '^classify:' | tr '\n' ' ')" "classify:red classify:none classify:red "
check "a door token reprinted on the standby is the primary's (the secret's cache, read-only)" \
	"$(rq "$p2" -c "SELECT sanse.door_token(2)")" "$(rq "$p1" -c "SELECT sanse.door_token(2)")"
check "a standby issues no door token: 25006 with a hint" \
	"$(rq "$p2" -c "SELECT sanse.door_token(max(id)) FROM sanse.resident" 2>&1 | grep -c 'has no door token yet, and this server is a hot standby')" "1"

# --- the sweep on a standby ----------------------------------------------------
log_size() { stat -c %s "$rtmp/$1/server.log"; }
off=$(log_size standby)
before=$(rq "$p1" -c "SELECT count(*) || '/' || (SELECT count(*) FROM sanse.event_step) FROM sanse.event")
res=$(rq "$p2" -c "SELECT * FROM sanse.sweep()" 2>&1)
check "sanse.sweep() on the standby: nothing opened, nothing escalated, skipped, no error" \
	"$res" "$(printf 'NOTICE:  sanse.sweep: this server is a hot standby; nothing swept here\nHINT:  Sweeps run on the primary (see sanse.sweep_status).\n0|0|t')"
check "sweep_status on the standby: standby, and why" \
	"$(rq "$p2" -c "SELECT standby, paused_because LIKE 'this server is a hot standby%' FROM sanse.sweep_status")" "t|t"
check "sweep_status on the primary: not a standby, no reason" \
	"$(rq "$p1" -c "SELECT standby, paused_because IS NULL FROM sanse.sweep_status")" "f|t"
for i in 1 2 3 4 5 6 7 8 9; do
	rq "$p2" -c "SELECT * FROM sanse.sweep()" >/dev/null 2>&1
done
sleep 0.5
check "ten sweeps on the standby, each from a new connection: no line in its server log" \
	"$(tail -c +$((off + 1)) "$rtmp/standby/server.log" | grep -c .)" "0"
check "the standby's events and steps are the primary's (it swept nothing)" \
	"$(rq "$p2" -c "SELECT count(*) || '/' || (SELECT count(*) FROM sanse.event_step) FROM sanse.event")" "$before"

# --- the screen views' time on the standby against the primary -----------------
# The same queries on both, timed inside the server (a DO block: no
# connection or client in the time), best of 3 per view in each round, the
# servers taking turns (which goes first alternates); the median of the rounds.
ROUNDS=${SANSE_STANDBY_ROUNDS:-5}
screen_views="coverage coverage_by_tier overdue_events grid_daily_report loop_metrics worker_checkin_rate coverage_history"
timed() {	# port role view: its ms, best of 3
	rq "$1" -c "SET ROLE $2" -c "DO \$\$
DECLARE t0 timestamptz; best float8;
BEGIN
	FOR i IN 1..3 LOOP
		t0 := clock_timestamp();
		PERFORM count(*) FROM (SELECT * FROM sanse.$3) x;
		best := least(best, extract(epoch FROM clock_timestamp() - t0) * 1000);
	END LOOP;
	RAISE NOTICE 'time %', round(best::numeric, 3);
END \$\$" 2>&1 | sed -n 's/^NOTICE:  time //p'
}
# each view as each role: both servers one after the other (which goes
# first alternates), so that noise from the machine's neighbours falls on both
: >"$rtmp/times"
r=0
while [ $r -le "$ROUNDS" ]; do
	for role in standby_agg standby_care; do
		for v in $screen_views; do
			if [ $((r % 2)) -eq 1 ]; then order="$p1 $p2"; else order="$p2 $p1"; fi
			for p in $order; do
				side=primary
				[ "$p" = "$p2" ] && side=standby
				t=$(timed "$p" "$role" "$v")
				# round 0 warms both servers' caches up, unrecorded
				[ $r -gt 0 ] && echo "$role $side $v $t" >>"$rtmp/times"
			done
		done
	done
	r=$((r + 1))
done
# role view primary_ms standby_ms (medians), then the total of the medians
awk '{ k = $1 " " $3; v[k, $2, ++n[k, $2]] = $4; keys[k] = 1 }
     function med(k, s,   m, i, j, t, a) { m = n[k, s]; for (i = 1; i <= m; i++) a[i] = v[k, s, i]
       for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
       return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
     END { for (k in keys) printf "%s %.3f %.3f\n", k, med(k, "primary"), med(k, "standby") }' "$rtmp/times" |
	sort >"$rtmp/medians"
tp=$(awk '{ s += $3 } END { printf "%.1f", s }' "$rtmp/medians")
ts=$(awk '{ s += $4 } END { printf "%.1f", s }' "$rtmp/medians")
ratio=$(awk -v s="$ts" -v p="$tp" 'BEGIN { printf "%.2f", s / p }')
echo "# screen views (7 views as standby_agg and standby_care, best of 3, median of $ROUNDS rounds): primary $tp ms, standby $ts ms, standby/primary ${ratio}x (target at most 1.2x)"
worst=$(awk '$3 > 0 { printf "%s %s %.2f\n", $1, $2, $4 / $3 }' "$rtmp/medians" | sort -k3 -n | tail -1)
echo "# the view with the highest ratio: $worst"
if [ -n "$SANSE_STANDBY_RESULT" ]; then
	sed 's/^/view /' "$rtmp/medians" >>"$SANSE_STANDBY_RESULT"
	echo "screen $tp $ts $ratio $ROUNDS" >>"$SANSE_STANDBY_RESULT"
	rq "$p1" -c "SELECT 'district ' || (SELECT count(*) FROM sanse.resident) || ' ' || (SELECT count(*) FROM sanse.area) || ' ' || (SELECT count(*) FROM sanse.visit) || ' ' || (SELECT count(*) FROM sanse.event)" >>"$SANSE_STANDBY_RESULT"
fi

# --- a switchover: the pg_cron job finds itself on a standby -------------------
rq "$p1" -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_cron" -c "SELECT sanse.schedule_sweeps()" >/dev/null
replica_caught_up "$p1" "$p2"
replica_stop primary fast
replica_promote standby
check "the standby promoted" "$(rq "$p2" -c "SELECT pg_is_in_recovery()")" "f"
# the old primary follows the new one (a clean stop: it needs no pg_rewind)
as_postgres touch "$rtmp/primary/data/standby.signal"
echo "primary_conninfo = 'host=127.0.0.1 port=$p2 user=postgres application_name=primary'" >>"$rtmp/primary/data/postgresql.conf"
off=$(log_size primary)
replica_start primary || cat "$rtmp/primary/start.out"
check "the old primary runs as a standby of the new one" \
	"$(rq "$p1" -c "SELECT pg_is_in_recovery()")/$(rq "$p2" -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" "t/1"
# pg_cron runs the job on the new primary from its next minute on; on the old
# one (a standby now) it runs nothing and logs nothing
ran=
i=0
while [ $i -lt 75 ]; do
	ran=$(rq "$p2" -c "SELECT status FROM cron.job_run_details ORDER BY runid DESC LIMIT 1" 2>/dev/null)
	[ "$ran" = succeeded ] && break
	sleep 1
	i=$((i + 1))
done
check "the sweep job ran on the promoted server (cron.job_run_details)" "$ran" "succeeded"
sleep 1
check "the old primary, a standby with the job in cron.job: no ERROR or WARNING in its log over the job's minute" \
	"$(tail -c +$((off + 1)) "$rtmp/primary/server.log" | grep -cE 'ERROR|WARNING|FATAL')" "0"
check "sweep_status on the old primary says it is a standby" \
	"$(rq "$p1" -c "SELECT standby FROM sanse.sweep_status")" "t"

[ "$fail" -eq 0 ]
