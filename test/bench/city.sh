#!/bin/sh
# make bench, the city section (issue 23, doc/city.md): three districts of
# different sizes on throw-away clusters (test/city/clusters.sh), a city
# database in the cluster of the PG* variables reading them; the city screen
# over the three against the sum of reading each district alone, side by
# side.  "Alone" is the very query the city sends a district (the five
# screen reads of sanse.city_live_sql, aggregates included), run in that
# district by the city's aggregate-only login, so the difference is what
# the city adds: postgres_fdw, the pivot, the replicated last day.  The
# same screen is also read with async_capable off (the districts one after
# another).  Prints a markdown section (appended to RESULTS.md by
# run_bench.sh); progress on stderr.
set -e
cd "$(dirname "$0")/../.."
SCALES=${BENCH_CITY_SCALES:-0.25 0.5 1}
DAYS=${BENCH_CITY_DAYS:-10}
ROUNDS=${BENCH_CITY_ROUNDS:-7}
REPS=${BENCH_CITY_REPS:-20}
db=sanse_bench_city
. test/city/clusters.sh
trap 'city_drop_db "$db"; city_cleanup' EXIT
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
PW=b$$x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')

set -- $SCALES
i=0
for name in east west north; do
	i=$((i + 1))
	eval "scale=\${$i}"
	echo "== city bench: district $name at $scale of the paper, $DAYS days" >&2
	city_district "$name" "$scale" "$DAYS" "$PW"
done
city_drop_db "$db"
createdb "$db"
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
CREATE EXTENSION postgres_fdw;
SQL
for name in east west north; do
	q -v name="$name" -v port="$(cat "$CITY_TMP/$name/port")" -v pw="$PW" >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT sanse.city_add_district(:'name', '127.0.0.1', :port, 'care', 'sanse_city_reader', :'pw');
\set conninfo 'host=127.0.0.1 port=' :port ' dbname=care user=sanse_city_repl password=' :pw
SELECT format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION sanse_city', 'sanse_city_' || :'name', :'conninfo') \gexec
SQL
done
n=0
until [ "$(q -c "SELECT count(DISTINCT district) FROM sanse.city_day")" = 3 ] || [ $n -ge 60 ]; do sleep 0.5; n=$((n + 1)); done
test "$(q -c "SELECT count(*) FROM sanse.city_screen WHERE state = 'live' AND missing IS NULL")" = 3

# ms per read, REPS reads in one session after two unmeasured ones
# (connections kept and caches warm, as a BI tool keeps them); a read of a
# district alone runs the five statements one after another, as
# postgres_fdw sends them to it
TIMER="CREATE FUNCTION pg_temp.ms(sql text, n int) RETURNS numeric LANGUAGE plpgsql AS \$f\$
DECLARE t0 timestamptz; a text;
BEGIN
	FOR i IN 1..n + 2 LOOP
		IF i = 3 THEN t0 := clock_timestamp(); END IF;
		FOREACH a IN ARRAY regexp_split_to_array(sql, '\\n\\s*UNION ALL') LOOP EXECUTE a; END LOOP;
	END LOOP;
	RETURN round((extract(epoch FROM clock_timestamp() - t0) * 1000 / n)::numeric, 1);
END \$f\$;"
month=$(q -c "SELECT sanse.month_of(now())")
city_ms() {	# async on or off
	for name in east west north; do q -c "ALTER SERVER sanse_city_$name OPTIONS (SET async_capable '$1')"; done
	q -c "SET client_min_messages = warning" -c "$TIMER" -c "SELECT pg_temp.ms('SELECT * FROM sanse.city_screen', $REPS)"
}
alone_ms() {	# NAME: the city's query for that district, run there by the city's login
	sql=$(q -c "SELECT replace(sanse.city_live_sql(ARRAY['$1'], '$month'), 'sanse_city_$1.', 'sanse.')")
	PGPASSWORD=$PW psql -X -q -t -A -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$(cat "$CITY_TMP/$1/port") dbname=care user=sanse_city_reader" \
		-v sql="$sql" -v reps="$REPS" <<SQL
$TIMER
SELECT pg_temp.ms(:'sql', :reps);
SQL
}
: >"$CITY_TMP/rounds"
r=0
while [ $r -lt "$ROUNDS" ]; do
	r=$((r + 1))
	echo "== city bench: round $r of $ROUNDS" >&2
	c=$(city_ms true); s=$(city_ms false)
	e=$(alone_ms east); w=$(alone_ms west); n=$(alone_ms north)
	echo "$c $s $e $w $n" >>"$CITY_TMP/rounds"
done
for name in east west north; do q -c "ALTER SERVER sanse_city_$name OPTIONS (SET async_capable 'true')"; done
sizes=$(q -c "SELECT string_agg(format('%s %s', district, last_day_residents), ', ' ORDER BY last_day_residents) FROM sanse.city_screen")
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$1" '{ print $c }' "$CITY_TMP/rounds" | median; }
sumcol() { awk '{ print $3 + $4 + $5 }' "$CITY_TMP/rounds" | median; }
C=$(col 1); S=$(col 2); E=$(col 3); W=$(col 4); N=$(col 5); SUM=$(sumcol)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
RC=$(ratio "$C" "$SUM"); RS=$(ratio "$S" "$SUM")
met=$(awk -v r="$RC" 'BEGIN { print (r <= 1.5) ? "met" : "NOT met" }')
cat <<MD

## The city screen over three districts (issue 23; test/bench/city.sh)

Three districts on throw-away clusters of the same machine (the demo's district at $SCALES of the
paper, $DAYS days replayed; residents: $sizes), a city database reading them through postgres_fdw
as their aggregate-only login. One read of \`SELECT * FROM sanse.city_screen\` (the five screen
reads of every district, aggregates pushed down, one asynchronous Append; the pivot; the last day
received by replication) against reading each district alone: the same five reads (the statements
of the city's query for that district, \`sanse.city_live_sql\`, one after another, as postgres_fdw
sends them) run in the district by the same login, summed over the three. Milliseconds per read,
$REPS reads in one session each after two unmeasured ones (connections kept, caches warm), median
of $ROUNDS interleaved rounds. The districts and the city share the machine's cores.

| read | ms |
|---|---:|
| east alone | $E |
| west alone | $W |
| north alone | $N |
| sum of the three alone (median of the rounds' sums) | $SUM |
| city screen, async foreign scans (as installed) | $C |
| city screen, async_capable off (one district after another) | $S |

City screen / sum alone: **$RC** with async scans, $RS without. Target: at most 1.5× — $met.
MD
