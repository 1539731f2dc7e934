#!/bin/sh
# pg_cron really runs sanse.sweep(), as the README documents it, in two
# databases at once without collisions:
#  - a sweep operator that is not a superuser (a LOGIN member of the README's
#    sanse_sweeper role, with USAGE on schema cron) calls
#    sanse.schedule_sweeps('* * * * *') in the cron database; the job is
#    named sanse-sweep:<database> (sanse.sweep_job_name()), runs as that
#    operator, succeeds (sanse.sweep_job(), called by the operator, says so)
#    and opens the overdue event of a resident whose window has passed;
#  - sanse is also installed in a second database without pg_cron, where
#    schedule_sweeps raises 55000 with the exact cron.schedule_in_database
#    call in its hint; a superuser runs the README's call for it in the cron
#    database; both jobs exist side by side, both runs succeed, each in its
#    own database, and each database's overdue resident got its event;
#  - unschedule_sweeps() in the cron database drops only that database's job.
# Both jobs are scheduled first and waited for together (one pg_cron minute).
# Runs in the cluster named by the PG* variables (pg_virtualenv) as a
# superuser, with pg_cron preloaded for the cron database.  Prints TAP-like
# "ok - ..." / "not ok - ..." lines; exits non-zero on any failure.  Drops
# the jobs, the second database and the roles it created at the end.
cd "$(dirname "$0")/.." || exit 2
db=${SANSE_CRON_DB:-contrib_regression}
dbb=${SANSE_CRON_DB_B:-sanse_cron_b}
op=sanse_cron_operator
oppw=sanse-cron-operator-pw
wait_max=${SANSE_CRON_WAIT:-130}
fail=0

q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
qb() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$dbb" "$@"; }
# the operator logs in as itself (password authentication over PGHOST)
qop() { PGUSER=$op PGPASSWORD=$oppw psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
check() {
	if [ "$2" = "$3" ]; then echo "ok - $1"
	else echo "not ok - $1 (got '$2', want '$3')"; fail=1; fi
}
# $2 contains $3 (and is not empty)
check_has() {
	case "$2" in
	*"$3"*) [ -n "$3" ] && { echo "ok - $1"; return; } ;;
	esac
	echo "not ok - $1 (got '$2', want it to contain '$3')"; fail=1
}

created_sweeper=0
created_cron=0
created_db=0
cleanup() {
	q -c "SELECT cron.unschedule(jobid) FROM cron.job
	       WHERE jobname IN ('sanse-sweep:$db', 'sanse-sweep:$dbb')" >/dev/null 2>&1
	dropdb --if-exists --force "$dbb" >/dev/null 2>&1
	q >/dev/null 2>&1 <<SQL
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS sanse CASCADE;
$( [ $created_cron = 1 ] && echo 'DROP EXTENSION IF EXISTS pg_cron;' )
DROP OWNED BY $op;
DROP ROLE IF EXISTS $op;
SQL
	if [ $created_sweeper = 1 ]; then
		q -c "DROP OWNED BY sanse_sweeper" -c "DROP ROLE IF EXISTS sanse_sweeper" >/dev/null 2>&1
	fi
	[ $created_db = 1 ] && dropdb --if-exists --force "$db" >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# run alone (not after make installcheck), the cron database may not exist yet:
# create it and give pg_cron's launcher a moment to connect to it
if [ -z "$(psql -X -q -t -A -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
	createdb "$db" || { echo "not ok - creating $db"; exit 1; }
	created_db=1
	sleep 2
fi

# The README's lines, so the test runs what a DBA would paste.
# (the role is in the recipe's once-per-cluster block, the grant in its per-database one)
# Since issue 19 the README is a guide and the recipe is in doc/protection.md:
# the lines are read from README.md and doc/*.md (the same line in both counts once).
docs="README.md $(ls doc/*.md 2>/dev/null | tr '\n' ' ')"
readme_sweeper=$(grep -hE '^CREATE ROLE sanse_sweeper NOLOGIN;|^GRANT EXECUTE ON FUNCTION sanse\.sweep\(timestamptz\) TO sanse_sweeper;' $docs |
	sed 's/[[:space:]]*--.*$//' | sort -u)
readme_cron_grant=$(grep -ho 'GRANT USAGE ON SCHEMA cron TO sanse_sweeper;' $docs | head -n 1)
readme_in_db=$(grep -h "^SELECT cron.schedule_in_database('sanse-sweep:your_sanse_db'" $docs | head -n 1)
check "README: the sanse_sweeper recipe (CREATE ROLE, GRANT EXECUTE on sweep)" \
	"$(printf '%s\n' "$readme_sweeper" | grep -c '^CREATE ROLE sanse_sweeper NOLOGIN;$\|^GRANT EXECUTE ON FUNCTION sanse.sweep(timestamptz) TO sanse_sweeper;$')" "2"
check "README: GRANT USAGE ON SCHEMA cron TO sanse_sweeper" "$readme_cron_grant" "GRANT USAGE ON SCHEMA cron TO sanse_sweeper;"
check "README: the schedule_in_database call for another database" "$readme_in_db" \
	"SELECT cron.schedule_in_database('sanse-sweep:your_sanse_db', '* * * * *', 'SELECT sanse.sweep()', 'your_sanse_db');"
in_dbb=$(printf '%s\n' "$readme_in_db" | sed "s/your_sanse_db/$dbb/g")

# A resident registered 3 days ago whose first window has long passed.
district="
INSERT INTO sanse.area (path, kind, name) VALUES
  ('c', 'district', 'C'), ('c.t', 'town', 'T'), ('c.t.v', 'village', 'V'),
  ('c.t.v.tg', 'total_grid', 'TG'), ('c.t.v.tg.g', 'general_grid', 'G'), ('c.t.v.tg.g.m', 'micro_grid', 'M');
INSERT INTO sanse.resident (area_id, name, factors, registered_at)
  SELECT id, 'Wang', '{accident_risk}', now() - interval '3 days' FROM sanse.area WHERE kind = 'micro_grid';"

[ "$(q -c "SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'")" = 0 ] && created_cron=1
[ "$(q -c "SELECT count(*) FROM pg_roles WHERE rolname = 'sanse_sweeper'")" = 0 ] && created_sweeper=1

# --- the cron database: sanse, the README's sweep operator, a login member ---
q <<SQL || { echo "not ok - setting up $db"; exit 1; }
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
DROP EXTENSION IF EXISTS sanse CASCADE;
CREATE EXTENSION sanse CASCADE;
$district
-- a warning raised 16 minutes ago: its first arrival step (15 minutes) has lapsed
SELECT sanse.raise_event('warning', r.id, 'fall sensor', 'grid', now() - interval '16 minutes')
  FROM sanse.resident r WHERE r.name = 'Wang';
$( [ $created_sweeper = 1 ] && printf '%s\n' "$readme_sweeper" \
   || echo 'GRANT EXECUTE ON FUNCTION sanse.sweep(timestamptz) TO sanse_sweeper;' )
$readme_cron_grant
DROP ROLE IF EXISTS $op;
CREATE ROLE $op LOGIN PASSWORD '$oppw' IN ROLE sanse_sweeper;
SQL

# --- the second database: sanse without pg_cron ---
dropdb --if-exists --force "$dbb" >/dev/null 2>&1
createdb "$dbb" || { echo "not ok - creating $dbb"; exit 1; }
qb <<SQL || { echo "not ok - setting up $dbb"; exit 1; }
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
$district
SQL

check "the operator logs in as itself, is no superuser, and is a member of sanse_sweeper" \
	"$(qop -c "SELECT current_user, rolsuper, pg_has_role('sanse_sweeper', 'MEMBER')
	             FROM pg_roles WHERE rolname = current_user")" "$op|f|t"
check "sweep_job_name() is sanse-sweep:<database>" "$(qop -c "SELECT sanse.sweep_job_name()")" "sanse-sweep:$db"
check "sweep_job_name() in $dbb" "$(qb -c "SELECT sanse.sweep_job_name()")" "sanse-sweep:$dbb"

# schedule_sweeps where pg_cron is not: 55000, the hint is the README's call
err=$(qb <<'SQL'
CREATE FUNCTION pg_temp.try_schedule() RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; h text;
BEGIN
	PERFORM sanse.schedule_sweeps('* * * * *');
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, h = PG_EXCEPTION_HINT;
	RETURN st || '|' || h;
END
$$;
SELECT pg_temp.try_schedule();
SQL
)
check "schedule_sweeps in $dbb (no pg_cron) raises 55000" "${err%%|*}" "55000"
check_has "its hint is the README's schedule_in_database call for $dbb" "$err" "$in_dbb"

# --- schedule both, then wait for one run of each ---
jobid=$(qop -c "SELECT sanse.schedule_sweeps('* * * * *')")
check "the operator's schedule_sweeps returns the job id" \
	"$(q -c "SELECT jobid FROM cron.job WHERE jobname = 'sanse-sweep:$db'")" "${jobid:-none}"
q -c "$in_dbb" >/dev/null || echo "# the README's schedule_in_database call for $dbb failed"
scheduled=$(date +%s)

check "cron.job: both jobs side by side, each for its own database" \
	"$(q -c "SELECT string_agg(format('%s %s %s %s %s', jobname, database, username = '$op', schedule, command), ', ' ORDER BY jobname)
	           FROM cron.job WHERE jobname LIKE 'sanse-sweep%'")" \
	"sanse-sweep:$db $db t * * * * * SELECT sanse.sweep(), sanse-sweep:$dbb $dbb f * * * * * SELECT sanse.sweep()"
check "the operator sees its job through sweep_job()" \
	"$(qop -c "SELECT jobid, jobname, username, active FROM sanse.sweep_job()")" "$jobid|sanse-sweep:$db|$op|t"

last_runs="SELECT string_agg(format('%s %s %s %s', j.jobname, d.database, d.username = '$op', d.status), ', ' ORDER BY j.jobname)
             FROM cron.job j
             JOIN LATERAL (SELECT r.* FROM cron.job_run_details r WHERE r.jobid = j.jobid
                            ORDER BY r.runid DESC LIMIT 1) d ON true
            WHERE j.jobname IN ('sanse-sweep:$db', 'sanse-sweep:$dbb') AND d.status IN ('succeeded', 'failed')"
runs=""
while :; do
	n=$(q -c "SELECT count(DISTINCT j.jobid) FROM cron.job j JOIN cron.job_run_details d USING (jobid)
	           WHERE j.jobname IN ('sanse-sweep:$db', 'sanse-sweep:$dbb') AND d.status IN ('succeeded', 'failed')")
	[ "$n" = 2 ] && break
	[ $(($(date +%s) - scheduled)) -ge "$wait_max" ] && break
	sleep 2
done
runs=$(q -c "$last_runs")
echo "# waited $(($(date +%s) - scheduled)) s for the runs"
check "pg_cron ran both jobs, each in its database, the operator's as the operator, both succeeded" "$runs" \
	"sanse-sweep:$db $db t succeeded, sanse-sweep:$dbb $dbb f succeeded"
q -c "SELECT format('# %s: %s: %s', j.jobname, d.status, d.return_message)
        FROM cron.job j JOIN cron.job_run_details d USING (jobid)
       WHERE j.jobname LIKE 'sanse-sweep%' AND d.status <> 'succeeded'"

check "sweep_job(), called by the operator, reports the run succeeded" \
	"$(qop -c "SELECT jobname, last_status, last_start IS NOT NULL AND last_end >= last_start FROM sanse.sweep_job()")" \
	"sanse-sweep:$db|succeeded|t"
check "the run opened the overdue event in $db" \
	"$(q -c "SELECT count(*) FROM sanse.event e JOIN sanse.resident r ON r.id = e.resident_id
	          WHERE e.kind = 'overdue' AND r.name = 'Wang'")" "1"
check "the minute's run stepped the lapsed 15-minute warning clock, at its logical time" \
	"$(q -c "SELECT level, level_since = called_at + interval '15 minutes', next_step_at = called_at + interval '30 minutes'
	          FROM sanse.event WHERE kind = 'warning'")" "2|t|t"
check "the run opened the overdue event in $dbb" \
	"$(qb -c "SELECT count(*) FROM sanse.event e JOIN sanse.resident r ON r.id = e.resident_id
	           WHERE e.kind = 'overdue' AND r.name = 'Wang'")" "1"

# --- unscheduling touches only this database's job ---
check "the operator's unschedule_sweeps in $db drops its job" "$(qop -c "SELECT sanse.unschedule_sweeps()")" "t"
check "a superuser's unschedule_sweeps in $db then finds no job of this database (false)" \
	"$(q -c "SELECT sanse.unschedule_sweeps()")" "f"
check "only $dbb's job remains" \
	"$(q -c "SELECT string_agg(jobname || ' ' || database, ', ') FROM cron.job WHERE jobname LIKE 'sanse-sweep%'")" \
	"sanse-sweep:$dbb $dbb"
check "sweep_job() in $db is now empty" "$(qop -c "SELECT count(*) FROM sanse.sweep_job()")" "0"

exit $fail
