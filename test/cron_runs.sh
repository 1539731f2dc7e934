#!/bin/sh
# pg_cron really runs sanse.sweep(): schedule it in the cron database, wait
# for the next minute's run, and check it succeeded and opened the overdue
# event of a resident whose window has passed.  Prints TAP-like lines.
db=${SANSE_CRON_DB:-contrib_regression}
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (got '$2', want '$3')"; fail=1; fi; }

q <<'SQL' || exit 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
DROP EXTENSION IF EXISTS sanse CASCADE;
CREATE EXTENSION sanse CASCADE;
INSERT INTO sanse.area (path, kind, name) VALUES
  ('c', 'district', 'C'), ('c.t', 'town', 'T'), ('c.t.v', 'village', 'V'),
  ('c.t.v.tg', 'total_grid', 'TG'), ('c.t.v.tg.g', 'general_grid', 'G'), ('c.t.v.tg.g.m', 'micro_grid', 'M');
INSERT INTO sanse.resident (area_id, name, factors, registered_at)
  SELECT id, 'Wang', '{accident_risk}', now() - interval '3 days' FROM sanse.area WHERE kind = 'micro_grid';
SELECT sanse.schedule_sweeps('* * * * *');
SQL

check "the job is in cron.job" "$(q -c "SELECT command FROM cron.job WHERE jobname = 'sanse-sweep:$db'")" "SELECT sanse.sweep()"

status=""
i=0
while [ $i -lt 95 ]; do
	status=$(q -c "SELECT d.status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	                WHERE j.jobname = 'sanse-sweep:$db' AND d.status IN ('succeeded', 'failed')
	                ORDER BY d.runid DESC LIMIT 1")
	[ -n "$status" ] && break
	sleep 2
	i=$((i + 2))
done
check "pg_cron ran sanse.sweep() within 95 s" "$status" "succeeded"
check "the run opened the overdue event" "$(q -c "SELECT count(*) FROM sanse.event WHERE kind = 'overdue'")" "1"

q -c "SELECT sanse.unschedule_sweeps()" >/dev/null
q -c "SET client_min_messages = warning; DROP EXTENSION sanse CASCADE; DROP EXTENSION pg_cron" >/dev/null
exit $fail
