#!/bin/sh
# make city-demo (doc/city.md): three districts of different sizes (the
# demo's district at CITY_SCALES, default 10, 20 and 40 % of the paper,
# CITY_DAYS days replayed, default 10), each a throw-away cluster of its own
# with the city's two logins and its publication; the city database reading
# them (sanse, postgres_fdw, city_add_district, CREATE SUBSCRIPTION); the
# city screen printed, with a hot standby of the largest district for its
# BI; then one district stopped and the screen printed
# again, that district's last day marked with its date.
# The city is the cluster named by PG* variables if PGHOST or PGPORT is set
# (database sanse_city, dropped and recreated), otherwise a throw-away
# pg_virtualenv cluster; the districts are made with the binaries of the
# server sanse was installed for (SANSE_PG_BIN, or pg_config --bindir),
# under /tmp, on free loopback ports from CITY_PORT_BASE (default 5581), and
# removed at the end.
set -e
cd "$(dirname "$0")/../.."
if [ -z "$SANSE_CITY_INSIDE" ] && [ -z "$PGHOST" ] && [ -z "$PGPORT" ]; then
	SANSE_CITY_INSIDE=1 exec pg_virtualenv -t sh "$0"
fi
SCALES=${CITY_SCALES:-0.1 0.2 0.4}
DAYS=${CITY_DAYS:-10}
db=${SANSE_CITY_DB:-sanse_city}
. test/city/clusters.sh
trap 'city_drop_db "$db"; city_cleanup' EXIT
q() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }

set -- $SCALES
i=0
for name in east west north; do
	i=$((i + 1))
	eval "scale=\${$i}"
	# a password made here, never written to a file: the district's logins
	# get it, the city's user mapping and subscription keep it
	pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	began=$(date +%s)
	city_district "$name" "$scale" "$DAYS" "$pw"
	eval "pw_$name=$pw"
	echo "district $name: $(cq "$name" -d care -c "SELECT count(*) FROM sanse.resident") residents ($scale of the paper), $DAYS days replayed, port $(cat "$CITY_TMP/$name/port"), $(($(date +%s) - began)) s"
done
# a hot standby of the largest district for its BI (doc/standby.md): the
# same screen there, and a sweep that writes nothing
city_standby north
cov="SELECT sum(residents) || ' residents, ' || sum(overdue_now) || ' overdue now' FROM sanse.coverage WHERE kind = 'district'"
on_primary=$(cq north -d care -c "$cov")
on_standby=$(cq north_standby -d care -c "$cov")
echo "district north's BI standby (port $(cat "$CITY_TMP/north_standby/port"), streaming): coverage there $on_standby; on the primary $on_primary"
echo "a sweep on the standby: $(cq north_standby -d care -c "SELECT CASE WHEN skipped THEN 'skipped, nothing written' ELSE 'ran' END FROM sanse.sweep()" 2>/dev/null); sweep_status: $(cq north_standby -d care -c "SELECT paused_because FROM sanse.sweep_status")"
[ "$on_primary" = "$on_standby" ] || { echo "the standby's coverage differs from the primary's" >&2; exit 1; }

city_drop_db "$db"
createdb "$db"
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
CREATE EXTENSION postgres_fdw;
SQL
for name in east west north; do
	eval "pw=\$pw_$name"
	q -v name="$name" -v port="$(cat "$CITY_TMP/$name/port")" -v pw="$pw" >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT sanse.city_add_district(:'name', '127.0.0.1', :port, 'care', 'sanse_city_reader', :'pw');
\set conninfo 'host=127.0.0.1 port=' :port ' dbname=care user=sanse_city_repl password=' :pw
SELECT format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION sanse_city', 'sanse_city_' || :'name', :'conninfo') \gexec
SQL
done
# the subscriptions' first copy
n=0
until [ "$(q -t -A -c "SELECT count(DISTINCT district) FROM sanse.city_day")" = 3 ] || [ $n -ge 60 ]; do sleep 0.5; n=$((n + 1)); done

screen() {
	q -P pager=off -P null=- <<'SQL'
SELECT district, state, to_char(as_of, 'MM-DD HH24:MI') AS as_of, residents, coverage_rate AS coverage,
       overdue_open, overdue_open_min AS open_min, loop_raised, response_rate AS response, checkin_rate_shown AS checkin, carers_hidden || '/' || carers AS hidden_carers,
       last_day, last_day_residents AS day_residents, last_day_coverage_rate AS day_coverage
  FROM sanse.city_screen;
SELECT district, missing, to_char(missing_since, 'YYYY-MM-DD HH24:MI:SS') AS missing_since FROM sanse.city_screen WHERE missing IS NOT NULL;
SQL
}
echo
echo "== The city screen (sanse.city_screen), read from the city database =="
screen
echo "(a hidden small cell or a sum with a hidden part is '-'; as_of is the district's publication)"
echo
city_stop west
echo "== The city screen with district west stopped =="
screen
