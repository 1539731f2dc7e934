#!/bin/sh
# The city screen (issue 23, doc/city.md) on clusters of its own: three
# districts of different sizes (the demo's district at 2, 4 and 8 % of the
# paper, six days replayed), each with the city's two logins and its
# publication, and a city database with sanse and postgres_fdw reading them
# (city_add_district, CREATE SUBSCRIPTION).  Compares the city's numbers
# with each district's own, read there directly as the same aggregate-only
# login; checks that small cells stay hidden, that the city's BI role sees
# no credential; then the faults: a district stopped (its last day marked,
# missing since the last read that answered), wrong credentials, a district
# hanging on a lock, a subscription that fell behind.  Prints TAP-like
# lines.  Clusters are made with SANSE_PG_BIN (default: pg_config --bindir)
# under /tmp and removed.
cd "$(dirname "$0")/.." || exit 2
. test/city/clusters.sh
trap city_cleanup EXIT
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (got '$2', want '$3')"; fail=1; fi; }
PASS_EAST=e-$$-east; PASS_WEST=w-$$-west; PASS_NORTH=n-$$-north

for d in "east 0.02 $PASS_EAST" "west 0.04 $PASS_WEST" "north 0.08 $PASS_NORTH"; do
	set -- $d
	city_district "$1" "$2" 6 "$3" || { echo "not ok - district $1 built"; exit 1; }
done
echo "ok - three districts built (2, 4 and 8 % of the paper, six days)"
city_start city >/dev/null || { echo "not ok - the city's cluster"; exit 1; }
cq city -d postgres -c "CREATE DATABASE city"
port() { cat "$CITY_TMP/$1/port"; }
add_district() {	# NAME PASSWORD: the recipe of doc/city.md, city side
	cq city -d city -v name="$1" -v port="$(port "$1")" -v pw="$2" >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT sanse.city_add_district(:'name', '127.0.0.1', :port, 'care', 'sanse_city_reader', :'pw');
\set conninfo 'host=127.0.0.1 port=' :port ' dbname=care user=sanse_city_repl password=' :pw
SELECT format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION sanse_city', 'sanse_city_' || :'name', :'conninfo') \gexec
SQL
}
cq city -d city >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
CREATE EXTENSION postgres_fdw;
CREATE ROLE city_bi LOGIN;
GRANT SELECT ON sanse.city_screen TO city_bi;
GRANT EXECUTE ON FUNCTION sanse.city_screen_rows() TO city_bi;
SQL
add_district east "$PASS_EAST" && add_district west "$PASS_WEST" && add_district north "$PASS_NORTH"
check "three districts added (foreign servers, subscriptions)" \
	"$(cq city -d city -c "SELECT count(*) FROM sanse.city_district d JOIN pg_foreign_server s ON s.srvname = 'sanse_city_' || d.name JOIN pg_subscription u ON u.subname = s.srvname")" "3"

# the days each district published, received by the city
wait_days() {	# DISTRICT: until the city has the district's last published day (30 s)
	want=$(cq "$1" -d care -c "SELECT max(day) FROM sanse.city_day")
	i=0
	while [ "$(cq city -d city -c "SELECT max(day) FROM sanse.city_day WHERE district = '$1'")" != "$want" ] && [ $i -lt 60 ]; do
		sleep 0.5; i=$((i + 1))
	done
}
for n in east west north; do wait_days $n; done

# a district's own numbers, read there directly as the city's login
as_reader() {	# NAME SQL
	PGPASSWORD=$(eval "echo \$PASS_$(echo "$1" | tr a-z A-Z)") psql -X -q -t -A -v ON_ERROR_STOP=1 \
		"host=127.0.0.1 port=$(port "$1") dbname=care user=sanse_city_reader" -c "$2"
}
own_row() {	# NAME: residents|overdue_now|coverage_rate|overdue_open|as_of|last_day, as the district's reader
	as_reader "$1" "SELECT c.residents, c.overdue_now, c.coverage_rate,
	       (SELECT CASE WHEN bool_and(o.still_open IS NOT NULL) IS NOT FALSE THEN coalesce(sum(o.still_open), 0) END
	          FROM sanse.overdue_events o WHERE o.path = c.path),
	       s.published_at, s.last_day
	  FROM sanse.coverage c, sanse.screen_as_of s WHERE c.kind = 'district'"
}
city_row() {	# NAME: the same columns of the city screen
	cq city -d city -c "SELECT residents, overdue_now, coverage_rate, overdue_open, as_of, h.last_day
	  FROM sanse.city_screen s, LATERAL (SELECT max(day) AS last_day FROM sanse.city_day c WHERE c.district = s.district) h
	 WHERE s.district = '$1'"
}
own_checkin() {	# NAME: the month's check-in rate over the carers shown, carers, carers hidden
	as_reader "$1" "SELECT round(sum(windows_met) FILTER (WHERE checkin_rate IS NOT NULL)::numeric
	                            / sum(windows_due) FILTER (WHERE checkin_rate IS NOT NULL), 4),
	                       count(*), count(*) FILTER (WHERE checkin_rate IS NULL)
	                  FROM sanse.worker_checkin_rate WHERE month = date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai')::date"
}
own_loop() {	# NAME: the month's loop events raised and response rate at the root (NULL if any cell hidden)
	as_reader "$1" "SELECT CASE WHEN bool_and(raised IS NOT NULL AND answered_in_time IS NOT NULL) IS NOT FALSE THEN coalesce(sum(raised), 0) END,
	                       CASE WHEN bool_and(raised IS NOT NULL AND answered_in_time IS NOT NULL) AND sum(raised) > 0
	                            THEN round(sum(answered_in_time)::numeric / sum(raised), 4) END
	                  FROM sanse.loop_metrics WHERE path = 'q' AND month = date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai')::date"
}
for n in east west north; do
	check "$n: the city's coverage, overdue and as-of are the district's own (read there as the same login)" \
		"$(city_row $n)" "$(own_row $n)"
	check "$n: the city's check-in rate over the carers shown, carers and carers hidden are the district's" \
		"$(cq city -d city -c "SELECT checkin_rate_shown, carers, carers_hidden FROM sanse.city_screen WHERE district = '$n'")" "$(own_checkin $n)"
	check "$n: the city's loop events of the month and response rate are the district's" \
		"$(cq city -d city -c "SELECT loop_raised, response_rate FROM sanse.city_screen WHERE district = '$n'")" "$(own_loop $n)"
	check "$n: every day the city received is the district's coverage_history as its reader sees it" \
		"$(cq city -d city -c "SELECT md5(string_agg(concat_ws(',', day, residents, red, yellow, blue, overdue, windows_met, events_opened, events_closed, open_level_1, open_level_2, open_level_3, open_level_4, loop_raised, loop_answered_in_time, coverage_rate, response_rate), ';' ORDER BY day)) FROM sanse.city_day WHERE district = '$n'")" \
		"$(as_reader $n "SELECT md5(string_agg(concat_ws(',', day, residents, red, yellow, blue, overdue, windows_met, events_opened, events_closed, open_level_1, open_level_2, open_level_3, open_level_4, loop_raised, loop_answered_in_time, coverage_rate, response_rate), ';' ORDER BY day)) FROM sanse.coverage_history WHERE path = 'q'")"
	check "$n: overdue_open_min is the sum of the months the district shows" \
		"$(cq city -d city -c "SELECT overdue_open_min FROM sanse.city_screen WHERE district = '$n'")" \
		"$(as_reader $n "SELECT coalesce(sum(still_open), 0) FROM sanse.overdue_events WHERE kind = 'district'")"
	check "$n: live, nothing missing" "$(cq city -d city -c "SELECT state, coalesce(missing, '-') FROM sanse.city_screen WHERE district = '$n'")" "live|-"
done
check "the sizes differ: residents east < west < north" \
	"$(cq city -d city -c "SELECT string_agg(district, '<' ORDER BY (SELECT max(c.residents) FROM sanse.city_day c WHERE c.district = s.district)) FROM sanse.city_screen s")" "east<west<north"

# small cells: what the district's owner counts from 1 to min_cell - 1 is never a number in the city
small_shown() {	# NAME: cells of the city's copy of the days, and of the live row, that are small in the district
	exact=$(cq "$1" -d care -c "SELECT string_agg(format('(%L::date,%s,%s,%s,%s,%s,%s)', d.day, d.red, d.yellow, d.overdue, d.open_level_1, d.loop_raised, d.events_opened), ',')
	                             FROM sanse.area_day d JOIN sanse.area a ON a.id = d.area_id WHERE a.path = 'q'")
	cq city -d city -c "WITH e(day, red, yellow, overdue, l1, raised, opened) AS (VALUES $exact)
	  SELECT count(*) FILTER (WHERE e.red BETWEEN 1 AND 4 AND c.red IS NOT NULL)
	       + count(*) FILTER (WHERE e.yellow BETWEEN 1 AND 4 AND c.yellow IS NOT NULL)
	       + count(*) FILTER (WHERE e.overdue BETWEEN 1 AND 4 AND c.overdue IS NOT NULL)
	       + count(*) FILTER (WHERE e.l1 BETWEEN 1 AND 4 AND c.open_level_1 IS NOT NULL)
	       + count(*) FILTER (WHERE e.raised BETWEEN 1 AND 4 AND c.loop_raised IS NOT NULL)
	       + count(*) FILTER (WHERE e.opened BETWEEN 1 AND 4 AND c.events_opened IS NOT NULL)
	       || '/' || count(*) FILTER (WHERE e.red BETWEEN 1 AND 4 OR e.yellow BETWEEN 1 AND 4 OR e.overdue BETWEEN 1 AND 4
	                                   OR e.l1 BETWEEN 1 AND 4 OR e.raised BETWEEN 1 AND 4 OR e.opened BETWEEN 1 AND 4)
	    FROM e JOIN sanse.city_day c ON c.district = '$1' AND c.day = e.day"
}
for n in east west north; do
	got=$(small_shown $n)
	check "$n: no small cell of the district's days is a number in the city (shown/days with a small cell: $got)" "${got%%/*}" "0"
done
check "east has small cells to hide (the test tries something)" "$(small_shown east | awk -F/ '{ print ($2 > 0) }')" "1"
# the live row: east publishes its screen now; in that transaction the owner counts overdue residents exactly
live_exact=$(cq east -d care -c "BEGIN" -c "SELECT count(*) >= 0 FROM (SELECT sanse.publish_screen()) p" \
	-c "SELECT overdue_now FROM sanse.coverage_all WHERE path = 'q'" -c "COMMIT" | tail -1)
live_city=$(cq city -d city -c "SELECT coalesce(overdue_now::text, 'hidden') FROM sanse.city_screen WHERE district = 'east'")
check "east: the live overdue count in the city is hidden if small in the district, else the exact count or hidden (owner: $live_exact, city: $live_city)" \
	"$(echo "$live_exact $live_city" | awk '{ print (($1 >= 1 && $1 <= 4) ? $2 == "hidden" : ($2 == $1 || $2 == "hidden")) ? "right" : "wrong" }')" "right"

# the pushdown and the parallel districts, as EXPLAIN shows them
plan=$(cq city -d city -c "EXPLAIN (VERBOSE, COSTS OFF) $(cq city -d city -c "SELECT sanse.city_live_sql(ARRAY['east','west','north'], sanse.month_of(now()))")")
check "every foreign scan of the city's query is asynchronous (15: five per district)" \
	"$(echo "$plan" | grep -c 'Async Foreign Scan')" "15"
check "the aggregates run in the districts (9 remote GROUP BY or sum)" \
	"$(echo "$plan" | grep 'Remote SQL' | grep -c 'sum(')" "9"

# credentials: the city's BI role reads the screen, never a password
check "the city's BI role reads the city screen" "$(cq city -d city -U city_bi -c "SELECT count(*) FROM sanse.city_screen" 2>&1)" "3"
check "the city's BI role sees no user mapping's options" \
	"$(cq city -d city -U city_bi -c "SELECT count(*) FILTER (WHERE umoptions IS NOT NULL) || '/' || count(*) FROM pg_user_mappings" 2>&1)" "0/3"
check "the city's BI role cannot read the subscriptions' connection strings" \
	"$(cq city -d city -U city_bi -c "SELECT subconninfo FROM pg_subscription" 2>&1 | grep -c 'permission denied')" "1"
check "the city's BI role cannot read a district's foreign tables" \
	"$(cq city -d city -U city_bi -c "SELECT * FROM sanse_city_east.coverage" 2>&1 | grep -c 'permission denied')" "1"
check "the city's BI role cannot add a district" \
	"$(cq city -d city -U city_bi -c "SELECT sanse.city_add_district('x', 'h', 1, 'd', 'u', 'p')" 2>&1 | grep -c 'permission denied')" "1"
check "no password of a district in the city's log" "$(grep -c -e "$PASS_EAST" -e "$PASS_WEST" -e "$PASS_NORTH" "$CITY_TMP/city/log")" "0"

# fault 1: a district down
before=$(cq city -d city -c "SELECT now()")
north_before=$(cq city -d city -c "SELECT residents, coverage_rate FROM sanse.city_screen WHERE district = 'north'")
east_last=$(cq east -d care -c "SELECT max(day) FROM sanse.published_history_day")
city_stop east
row=$(cq city -d city -c "SELECT state, residents IS NULL AND coverage_rate IS NULL AND overdue_open IS NULL AND checkin_rate_shown IS NULL AND as_of IS NULL,
                                 last_day, last_day_residents, missing LIKE 'live screen: the district does not answer%', missing_since <= now() AND missing_since >= '$before'
                            FROM sanse.city_screen WHERE district = 'east'" 2>&1)
check "east stopped: the screen answers, east is down with no current number, its last day marked with its date, missing since the last read that answered" \
	"$row" "down|t|$east_last|$(cq city -d city -c "SELECT residents FROM sanse.city_day WHERE district = 'east' AND day = '$east_last'")|t|t"
check "east stopped: north is still live with the same numbers" \
	"$(cq city -d city -c "SELECT residents, coverage_rate FROM sanse.city_screen WHERE district = 'north' AND state = 'live'")" "$north_before"
since1=$(cq city -d city -c "SELECT missing_since FROM sanse.city_screen WHERE district = 'east'")
sleep 1
check "east stopped: missing since stays the time of the last read that answered" \
	"$(cq city -d city -c "SELECT missing_since FROM sanse.city_screen WHERE district = 'east'")" "$since1"
city_restart east
check "east back: live again, nothing missing" \
	"$(cq city -d city -c "SELECT state, coalesce(missing, '-') FROM sanse.city_screen WHERE district = 'east'")" "live|-"

# fault 2: wrong credentials
cq city -d city -c "ALTER USER MAPPING FOR CURRENT_USER SERVER sanse_city_west OPTIONS (SET password 'not-the-password')"
check "west with a wrong password: down, said so, no current number, its last day still shown" \
	"$(cq city -d city -c "SELECT state, missing, residents IS NULL, last_day IS NOT NULL FROM sanse.city_screen WHERE district = 'west'")" \
	"down|live screen: the district refused the city's login (wrong credentials)|t|t"
check "west with a wrong password: east and north are live" \
	"$(cq city -d city -c "SELECT string_agg(district || '=' || state, ',' ORDER BY district) FROM sanse.city_screen")" "east=live,north=live,west=down"
echo "ALTER USER MAPPING FOR CURRENT_USER SERVER sanse_city_west OPTIONS (SET password :'pw');" | cq city -d city -v pw="$PASS_WEST"
check "west with its password again: live" "$(cq city -d city -c "SELECT state FROM sanse.city_screen WHERE district = 'west'")" "live"

# fault 3: a district that hangs (a lock held on what its screen reads)
cq west -d care -c "BEGIN" -c "LOCK TABLE sanse.published_coverage IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
locker=$!
sleep 1
t0=$(date +%s)
row=$(cq city -d city -c "SELECT district || '=' || state, missing FROM sanse.city_screen ORDER BY district" | tr '\n' ';')
t=$(($(date +%s) - t0))
check "west hanging on a lock: down after the district's statement_timeout, said so; the others live" "$row" \
	"east=live|;north=live|;west=down|live screen: the district's screen failed (57014: canceling statement due to statement timeout);"
check "west hanging: the screen answered within twice the district's statement_timeout of 10 s and a margin ($t s)" \
	"$(test "$t" -le 30 && echo yes)" "yes"
cq west -d care -c "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(120)') t" >/dev/null
wait $locker 2>/dev/null
check "west free again: live" "$(cq city -d city -c "SELECT state FROM sanse.city_screen WHERE district = 'west'")" "live"

# fault 4: a subscription that fell behind (disabled while north records a day)
cq city -d city -c "ALTER SUBSCRIPTION sanse_city_north DISABLE"
sleep 1
old=$(cq city -d city -c "SELECT max(day) || '|' || max(published_at) FROM sanse.city_day WHERE district = 'north'")
cq north -d care -c "SELECT count(*) >= 0 FROM sanse.sweep()" >/dev/null
new=$(cq north -d care -c "SELECT max(day) FROM sanse.published_history_day")
check "north recorded a day the city has not received" "$(test "$new" \> "${old%%|*}" && echo yes)" "yes"
check "north behind: live, the missing days said, missing since the publication of the last day received" \
	"$(cq city -d city -c "SELECT state, missing, last_day, missing_since FROM sanse.city_screen WHERE district = 'north'")" \
	"live|daily history: the city has up to ${old%%|*}, the district has recorded up to $new|${old%%|*}|${old#*|}"
cq city -d city -c "ALTER SUBSCRIPTION sanse_city_north ENABLE"
wait_days north
check "north caught up: nothing missing, the new day received" \
	"$(cq city -d city -c "SELECT coalesce(missing, '-'), last_day FROM sanse.city_screen WHERE district = 'north'")" "-|$new"

# a district dropped leaves the others
cq city -d city -c "SET client_min_messages = warning" -c "DROP SUBSCRIPTION sanse_city_east" -c "SELECT sanse.city_drop_district('east')" >/dev/null
check "city_drop_district: east gone (server, schema, rows), the others live" \
	"$(cq city -d city -c "SELECT (SELECT count(*) FROM pg_foreign_server WHERE srvname = 'sanse_city_east') + (SELECT count(*) FROM pg_namespace WHERE nspname = 'sanse_city_east') + (SELECT count(*) FROM sanse.city_day WHERE district = 'east'), string_agg(district || '=' || state, ',' ORDER BY district) FROM sanse.city_screen")" \
	"0|north=live,west=live"
exit $fail
