#!/bin/sh
# Issue 23, failover without loss (spec 11): a primary with a synchronous
# standby (synchronous_standby_names names it, synchronous_commit on) is
# killed with kill -9 under check-in, closed-loop and sweep load; the standby
# is promoted with core streaming replication's pg_ctl promote.  Clusters of
# its own (test/replica/lib.sh: the binaries of the server the PG*
# environment names, free loopback ports from 5575, data in /tmp, fsync on).
#
# The load clients connect with libpq's multi-host string (both servers,
# target_session_attrs=read-write), as an app would, and record what the
# server acknowledged (the call returned): check-ins (visit id, token,
# worker, time), raised warnings (event id), arrivals, and after each
# acknowledged sweep every escalation step then visible on the primary
# (visible there means committed and acknowledged by the synchronous
# standby: PostgreSQL waits for the standby before it shows a commit).  A
# call that failed is retried with the same arguments (a check-in with the
# same token, worker and time returns the same visit) until it is
# acknowledged or the load ends.  After the promotion the test counts:
# every acknowledged check-in, event, arrival and step is on the new primary;
# check-ins succeed again with the door tokens issued before (and a forged one
# is still refused); a sweep there goes on where the last one stopped: every
# warning's steps are exactly those its clock gives, none twice, and a second
# sweep takes none.  Prints, as "#" lines, the acknowledged check-ins lost
# (target 0) and the seconds from the kill until check-ins succeed again.
# Runs alone (run_all.sh): it measures time.  TAP-like lines.
cd "$(dirname "$0")/.." || exit 2
rdb=sanse_failover
. test/replica/lib.sh
trap 'stop_load; replica_cleanup' EXIT
trap 'exit 2' INT TERM
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (got '$2', want '$3')"; fail=1; fi; }
now_ns() { date +%s%N; }
load_pids=
stop_load() { for pid in $load_pids; do kill "$pid" 2>/dev/null; done; load_pids=; }

replica_bindir
p1=$(replica_port "${SANSE_FAILOVER_PORT:-5575}")
p2=$(replica_port $((p1 + 1)))
if ! replica_primary primary "$p1"; then
	echo "not ok - a primary from $bindir"
	exit 1
fi
as_postgres "$bindir/createdb" -h 127.0.0.1 -p "$p1" -U postgres "$rdb" || exit 1

# --- a district (the demo's generator at 5 %), swept, every door token issued --
out=$rtmp/load.out
if ! rq "$p1" >"$out" 2>&1 <<'SQL'; then
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
\i test/demo/generate.sql
SELECT * FROM sanse_demo.generate(0.42, 0.05, now() - interval '3 days');
SELECT * FROM sanse.sweep();
SQL
	echo "not ok - the district loaded on the primary"
	sed 's/^/# /' "$out"
	exit 1
fi
# one carer and the door token of each resident: what the phones hold
rq "$p1" -F ' ' -c "SELECT sanse.door_token(r.id), min(c.worker_id), r.id FROM sanse.resident r
                     JOIN sanse.carer c ON c.resident_id = r.id GROUP BY r.id ORDER BY r.id" >"$rtmp/doors"
n_doors=$(wc -l <"$rtmp/doors")
echo "ok - a primary on 127.0.0.1:$p1 from $bindir: the district loaded and swept, $n_doors door tokens issued"

if ! replica_standby standby "$p2" "$p1"; then
	echo "not ok - a streaming standby"
	exit 1
fi
rq "$p1" -c "ALTER SYSTEM SET synchronous_standby_names = 'standby'" -c "SELECT pg_reload_conf()" >/dev/null
i=0
while [ $i -lt 100 ] && [ "$(rq "$p1" -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'")" != sync ]; do
	sleep 0.1
	i=$((i + 1))
done
check "a synchronous standby on 127.0.0.1:$p2 (synchronous_standby_names, synchronous_commit)" \
	"$(rq "$p1" -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'")/$(rq "$p1" -c "SHOW synchronous_commit")" "sync/on"

# --- the load ------------------------------------------------------------------
conn="host=127.0.0.1,127.0.0.1 port=$p1,$p2 user=postgres dbname=$rdb target_session_attrs=read-write connect_timeout=2"
lq() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$conn" "$@" 2>>"$rtmp/load.err"; }
deadline_file=$rtmp/stop
# a check-in client: one door after another, each call retried as it was
checkins() {	# $1 client number, $2 ack file
	i=$1
	while [ ! -f "$deadline_file" ]; do
		line=$(sed -n "$((i % n_doors + 1))p" "$rtmp/doors")
		token=${line%% *}
		rest=${line#* }
		worker=${rest%% *}
		at=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
		while [ ! -f "$deadline_file" ]; do
			id=$(lq -c "SELECT sanse.check_in('$token', $worker, '$at', '{ask_health,check_gas}')")
			if [ -n "$id" ]; then
				echo "$id $worker $at $(now_ns)" >>"$2"
				break
			fi
			sleep 0.05
		done
		i=$((i + 2))
	done
}
# a loop client: warnings dated 14 min 40 s back (their first step falls due
# 20 s into the load), every other one then arrived at with the door token
warnings() {	# $1 ack file for events, $2 for arrivals
	i=7
	while [ ! -f "$deadline_file" ]; do
		line=$(sed -n "$((i % n_doors + 1))p" "$rtmp/doors")
		token=${line%% *}
		rest=${line#* }
		worker=${rest%% *}
		resident=${rest#* }
		at=$(date -u -d "@$(($(date +%s) - 880))" +%Y-%m-%dT%H:%M:%SZ)
		ev=
		while [ -z "$ev" ] && [ ! -f "$deadline_file" ]; do
			ev=$(lq -c "SELECT sanse.raise_event('warning', $resident, 'failover test', 'grid', '$at')")
			[ -n "$ev" ] && echo "$ev $(now_ns)" >>"$1" || sleep 0.05
		done
		if [ -n "$ev" ] && [ $((i % 2)) -eq 1 ]; then
			arrived=
			tries=0
			while [ -z "$arrived" ] && [ ! -f "$deadline_file" ] && [ $tries -lt 100 ]; do
				arrived=$(lq -c "SELECT sanse.arrive($ev, $worker, '$token')" -c "SELECT 'arrived'")
				if [ -n "$arrived" ]; then
					echo "$ev $worker $(now_ns)" >>"$2"
				elif [ "$(lq -c "SELECT arrived_at IS NOT NULL FROM sanse.event WHERE id = $ev")" = t ]; then
					# it committed, but its answer was lost with the primary:
					# there, yet not acknowledged (a retry would be the wrong stage)
					break
				else
					sleep 0.05
				fi
				tries=$((tries + 1))
			done
		fi
		i=$((i + 1))
	done
}
# a sweep client: a sweep, then every step visible on the primary
sweeps() {	# $1 ack file for sweeps, $2 the last acknowledged steps
	while [ ! -f "$deadline_file" ]; do
		if lq -c "SELECT * FROM sanse.sweep()" \
			-c "COPY (SELECT event_id, level, at FROM sanse.event_step ORDER BY 1, 2, 3) TO STDOUT" >"$2.tmp"; then
			grep -v '|' "$2.tmp" >"$2"
			echo "$(now_ns)" >>"$1"
		fi
		sleep 0.3
	done
}
: >"$rtmp/ck1"
: >"$rtmp/ck2"
: >"$rtmp/ev"
: >"$rtmp/arr"
: >"$rtmp/sw"
checkins 0 "$rtmp/ck1" &
load_pids="$load_pids $!"
checkins 1 "$rtmp/ck2" &
load_pids="$load_pids $!"
warnings "$rtmp/ev" "$rtmp/arr" &
load_pids="$load_pids $!"
sweeps "$rtmp/sw" "$rtmp/steps" &
load_pids="$load_pids $!"

# --- kill -9 the primary under load, promote the standby ------------------------
sleep "${SANSE_FAILOVER_LOAD:-25}"
pm=$(head -1 "$rtmp/primary/data/postmaster.pid")
kids=$(ps -o pid= --ppid "$pm")
t_kill=$(now_ns)
kill -9 "$pm" $kids 2>/dev/null	# (a backend may have ended since ps)
# the orchestrator's part: the primary is gone (no answer), promote
while as_postgres "$bindir/pg_isready" -q -h 127.0.0.1 -p "$p1" -t 1; do sleep 0.1; done
t_down=$(now_ns)
replica_promote standby
t_promoted=$(now_ns)
check "the standby promoted (pg_ctl promote)" "$(rq "$p2" -c "SELECT pg_is_in_recovery()")" "f"
sleep "${SANSE_FAILOVER_AFTER:-12}"
touch "$deadline_file"
wait
load_pids=

# --- what was acknowledged, against what is there -------------------------------
# before the kill; after the primary stopped answering (so from the new one)
acked_before() { awk -v t="$t_kill" -v c="$2" '$c < t' "$1" | wc -l; }
acked_after() { awk -v t="$t_down" -v c="$2" '$c >= t' "$1" | wc -l; }
cat "$rtmp/ck1" "$rtmp/ck2" >"$rtmp/ck"
n_ck=$(wc -l <"$rtmp/ck")
n_ck_before=$(acked_before "$rtmp/ck" 4)
n_ck_after=$(acked_after "$rtmp/ck" 4)
echo "# acknowledged: $n_ck check-ins ($n_ck_before before the kill, $n_ck_after after the primary stopped answering), $(wc -l <"$rtmp/ev") warnings raised, $(wc -l <"$rtmp/arr") arrivals, $(wc -l <"$rtmp/sw") sweeps ($(acked_after "$rtmp/sw" 1) after), $(wc -l <"$rtmp/steps") steps seen by the last sweep before the kill"
check "check-ins were acknowledged before the kill and after the promotion" \
	"$([ "$n_ck_before" -gt 0 ] && [ "$n_ck_after" -gt 0 ] && echo both)" "both"
check "sweeps were acknowledged before the kill and after the promotion" \
	"$([ "$(acked_before "$rtmp/sw" 1)" -gt 0 ] && [ "$(acked_after "$rtmp/sw" 1)" -gt 0 ] && echo both)" "both"
lost=$(rq "$p2" <<SQL
CREATE TEMP TABLE ack_ck (id bigint, worker bigint, at timestamptz, t bigint);
\copy ack_ck FROM '$rtmp/ck' (DELIMITER ' ')
SELECT count(*) FROM ack_ck a
 WHERE NOT EXISTS (SELECT FROM sanse.visit v WHERE v.id = a.id AND v.worker_id = a.worker AND v.at = a.at);
SQL
)
check "every acknowledged check-in is on the promoted server ($n_ck; same id, worker and time)" "$lost" "0"
echo "# acknowledged check-ins lost: $lost of $n_ck"
check "every acknowledged warning is there" \
	"$(rq "$p2" <<SQL
CREATE TEMP TABLE ack_ev (id bigint, t bigint);
\copy ack_ev FROM '$rtmp/ev' (DELIMITER ' ')
SELECT count(*) FROM ack_ev a WHERE NOT EXISTS (SELECT FROM sanse.event e WHERE e.id = a.id AND e.kind = 'warning');
SQL
)" "0"
check "every acknowledged arrival is there (arrived, by that worker)" \
	"$(rq "$p2" <<SQL
CREATE TEMP TABLE ack_arr (id bigint, worker bigint, t bigint);
\copy ack_arr FROM '$rtmp/arr' (DELIMITER ' ')
SELECT count(*) FROM ack_arr a
 WHERE NOT EXISTS (SELECT FROM sanse.event e WHERE e.id = a.id AND e.arrived_at IS NOT NULL AND e.arrived_by = a.worker);
SQL
)" "0"
check "every escalation step the last acknowledged sweep saw is there ($(wc -l <"$rtmp/steps"))" \
	"$(rq "$p2" <<SQL
CREATE TEMP TABLE ack_step (event_id bigint, level smallint, at timestamptz);
\copy ack_step FROM '$rtmp/steps'
SELECT count(*) FROM ack_step a
 WHERE NOT EXISTS (SELECT FROM sanse.event_step s WHERE (s.event_id, s.level, s.at) = (a.event_id, a.level, a.at));
SQL
)" "0"

# --- the door tokens, and the sweeps, on the promoted server ---------------------
# the first check-in acknowledged once the old primary no longer answered
first_after=$(awk -v t="$t_down" '$4 >= t { print $4 }' "$rtmp/ck" | sort -n | head -1)
secs=$(awk -v a="$t_kill" -v b="$first_after" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
echo "# seconds from the kill until check-ins succeed again: $secs (the primary seen down after $(awk -v a="$t_kill" -v b="$t_down" 'BEGIN { printf "%.1f", (b - a) / 1e9 }') s, promoted after $(awk -v a="$t_kill" -v b="$t_promoted" 'BEGIN { printf "%.1f", (b - a) / 1e9 }') s)"
[ -n "$SANSE_STANDBY_RESULT" ] && echo "failover $lost $n_ck $secs" >>"$SANSE_STANDBY_RESULT"
line=$(sed -n 1p "$rtmp/doors")
check "a door token issued before the failover checks in on the promoted server" \
	"$(rq "$p2" -c "SELECT sanse.check_in('${line%% *}', $(echo "$line" | cut -d' ' -f2), now()) > 0")" "t"
check "a forged door token is still refused (28000)" \
	"$(rq "$p2" -c "SELECT sanse.check_in('AAAA${line#????}', $(echo "$line" | cut -d' ' -f2), now())" 2>&1 | grep -c 'ERROR')" "1"
rq "$p2" -c "SELECT now()" >/dev/null
T=$(rq "$p2" -c "SELECT now()")
check "a sweep on the promoted server" "$(rq "$p2" -c "SELECT skipped FROM sanse.sweep('$T')")" "f"
# every warning of the load: its level-1 step at its call, and the level-2
# step at call + 15 minutes if it was not arrived at by then and that time
# has come, nothing else
check "every warning's steps are what its clock gives, none twice" \
	"$(rq "$p2" -c "SET search_path = sanse, public" -c "
WITH ev AS (
	SELECT e.id, e.called_at, sanse.zone_add(e.called_at, p.arrive_within) AS s2, e.arrived_at
	  FROM sanse.event e JOIN sanse.loop_policy p ON p.kind = e.kind AND p.tier IS NOT DISTINCT FROM e.tier
	 WHERE e.kind = 'warning' AND e.detail = 'failover test'),
want AS (
	SELECT id, 1 AS level, called_at AS at FROM ev
	UNION ALL
	SELECT id, 2, s2 FROM ev WHERE s2 <= '$T' AND (arrived_at IS NULL OR arrived_at >= s2)),
have AS (
	SELECT s.event_id AS id, s.level, s.at FROM sanse.event_step s JOIN ev ON ev.id = s.event_id)
SELECT (SELECT count(*) FROM ev) > 0, (SELECT count(*) FROM (SELECT * FROM want EXCEPT ALL SELECT * FROM have) x),
       (SELECT count(*) FROM (SELECT * FROM have EXCEPT ALL SELECT * FROM want) y)")" "t|0|0"
check "no overdue event has a level twice" \
	"$(rq "$p2" -c "SELECT count(*) FROM (SELECT s.event_id, s.level FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id
	                                    WHERE e.kind = 'overdue' GROUP BY 1, 2 HAVING count(*) > 1) d")" "0"
check "a second sweep at the same time takes no step" \
	"$(rq "$p2" -c "SELECT overdue_opened || '/' || escalations FROM sanse.sweep('$T')")" "0/0"
check "sweep_status on the promoted server: not a standby" "$(rq "$p2" -c "SELECT standby FROM sanse.sweep_status")" "f"
[ -s "$rtmp/load.err" ] && echo "# the load's errors (the failover's refused connections and read-only standby, expected): $(sort "$rtmp/load.err" | uniq -c | sort -rn | head -3 | tr '\n' ';')"

[ "$fail" -eq 0 ]
