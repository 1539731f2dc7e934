#!/bin/sh
# make bench, section "readings" (issue 21, spec 10): a gateway's COPY of
# readings into sanse.reading (each row checked against the cached devices,
# the devices' last times and the alarms' warnings written at the end of the
# statement) against a bare COPY of the same file into a plain table
# partitioned the same way (by day in sanse.timezone, the same index on
# (device_id, at)).  Target: sanse's rate at least 0.5 of the bare one.
#
#   sh test/bench/readings.sh [DB]   (DB: a database made afresh for it;
#                                     default sanse_bench_readings)
# Runs against the server the PG* variables name (make bench's, or your
# own: PGPORT=5530 sh test/bench/readings.sh).  Prints the section
# (markdown) on stdout, progress on stderr.  Every timed COPY is inside a
# transaction rolled back afterwards, so each round starts from the same
# state; the sides take turns in each round and the median round counts.
set -e
cd "$(dirname "$0")/../.."
db=${1:-sanse_bench_readings}
NDEV=${BENCH_READING_DEVICES:-2000}
PER=${BENCH_READING_PER_DEVICE:-100}
NALARM=${BENCH_READING_ALARMS:-20}
ROUNDS=${BENCH_READING_ROUNDS:-5}
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "target met" : "target NOT met") }'; }
dir=$(mktemp -d)
chmod 777 "$dir"	# the server writes and reads the file
trap 'rm -rf "$dir"' EXIT

echo "== readings: a district with $NDEV devices, $PER readings each, $NALARM alarms" >&2
dropdb --if-exists "$db" >/dev/null 2>&1
createdb "$db"
q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
CREATE SCHEMA bench;
-- a statement's wall time and the backend's CPU time for it (user + system,
-- from /proc/self/stat, in clock ticks of 10 ms): on a shared machine the CPU
-- time is what the statement cost, the wall time also what the neighbours took
CREATE FUNCTION bench.cpu_ticks() RETURNS bigint LANGUAGE sql AS \$\$
	SELECT f[12]::bigint + f[13]::bigint	-- utime and stime, fields 14 and 15 of the line (the array starts at field 3)
	  FROM (SELECT string_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ') AS f) s
\$\$;
CREATE FUNCTION bench.time_ms(query text, OUT wall_ms float8, OUT cpu_ms float8) LANGUAGE plpgsql AS \$\$
DECLARE
	t0 timestamptz;
	c0 bigint;
BEGIN
	t0 := clock_timestamp();
	c0 := bench.cpu_ticks();
	EXECUTE query;
	cpu_ms := (bench.cpu_ticks() - c0) * 10;
	wall_ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
END \$\$;
INSERT INTO sanse.area (path, kind, name) VALUES
  ('b', 'district', 'B'), ('b.t', 'town', 'T'), ('b.t.v', 'village', 'V'), ('b.t.v.tg', 'total_grid', 'TG'),
  ('b.t.v.tg.g', 'general_grid', 'G'), ('b.t.v.tg.g.m', 'micro_grid', 'M');
INSERT INTO sanse.worker (name, force, role, area_id)
SELECT 'leader', 'grid_officer', 'micro_grid_leader', id FROM sanse.area WHERE path = 'b.t.v.tg.g.m';
INSERT INTO sanse.resident (area_id, name, factors)
SELECT a.id, 'r' || i, '{sudden_illness,no_caregiver}' FROM sanse.area a, generate_series(1, $NDEV / 4) i WHERE a.path = 'b.t.v.tg.g.m';
-- four devices a home: water, door, power, smoke
INSERT INTO sanse.device (kind, resident_id, area_id, installed_at)
SELECT k.kind, r.id, r.area_id, now() - interval '3 days'
  FROM sanse.resident r CROSS JOIN unnest('{water_meter,door,power_meter,smoke}'::text[]) k(kind) ORDER BY r.id, k.kind;
SELECT count(sanse.reading_partition(d::date))
  FROM generate_series((now() AT TIME ZONE sanse.current_zone())::date - 1, (now() AT TIME ZONE sanse.current_zone())::date, interval '1 day') d;
-- the bare side: a plain table partitioned the same way, with the same index
CREATE TABLE bench.plain_reading (LIKE sanse.reading INCLUDING DEFAULTS) PARTITION BY RANGE (at);
DO \$\$
DECLARE
	d date;
BEGIN
	FOR d IN SELECT x::date FROM generate_series((now() AT TIME ZONE sanse.current_zone())::date - 1,
	                                             (now() AT TIME ZONE sanse.current_zone())::date, interval '1 day') x LOOP
		EXECUTE format('CREATE TABLE bench.%I PARTITION OF bench.plain_reading FOR VALUES FROM (pg_catalog.to_timestamp(%s)) TO (pg_catalog.to_timestamp(%s))',
		               'plain_' || to_char(d, 'YYYYMMDD'), extract(epoch FROM sanse.reading_day_start(d)), extract(epoch FROM sanse.reading_day_start(d + 1)));
		EXECUTE format('CREATE INDEX ON bench.%I (device_id, at)', 'plain_' || to_char(d, 'YYYYMMDD'));
	END LOOP;
END \$\$;
-- the gateway's batch: each device's last $PER minutes, in time order; a
-- few smoke alarms; meters read 0 now and then
COPY (SELECT d.id, date_trunc('minute', now()) - make_interval(mins => m), (d.id * 7 + m) % 5,
             d.kind = 'smoke' AND d.id % greatest($NDEV / greatest($NALARM, 1), 1) < 4 AND m = 1
        FROM sanse.device d CROSS JOIN generate_series($PER, 1, -1) m
       ORDER BY m DESC, d.id) TO '$dir/readings.tsv';
ANALYZE;
SQL
nrows=$(wc -l <"$dir/readings.tsv" | tr -d ' ')
nalarms=$(awk -F '\t' '$4 == "t"' "$dir/readings.tsv" | wc -l | tr -d ' ')
cols='(device_id, at, value, alarm)'

# one timed COPY in its own transaction, rolled back: prints "wall_ms cpu_ms" (and the warnings raised)
bare() {
	q -F ' ' -c "BEGIN" -c "SELECT round(wall_ms::numeric, 1), cpu_ms FROM bench.time_ms(\$\$COPY bench.plain_reading $cols FROM '$dir/readings.tsv'\$\$)" -c "ROLLBACK"
}
sanse() {
	q -F ' ' -c "BEGIN" \
	  -c "CREATE TEMP TABLE t ON COMMIT DROP AS SELECT round(wall_ms::numeric, 1) AS wall, cpu_ms AS cpu FROM bench.time_ms(\$\$COPY sanse.reading $cols FROM '$dir/readings.tsv'\$\$)" \
	  -c "SELECT t.wall, t.cpu, (SELECT count(*) FROM sanse.event WHERE kind = 'warning') FROM t" \
	  -c "ROLLBACK"
}
# once each, unmeasured (caches, the file in the page cache)
bare >/dev/null; sanse >/dev/null
runs_bare=; runs_sanse=; cpu_bare=; cpu_sanse=
i=0
while [ $i -lt "$ROUNDS" ]; do
	echo "== readings: round $((i + 1)) of $ROUNDS" >&2
	set -- $(bare); runs_bare="$runs_bare $1"; cpu_bare="$cpu_bare $2"
	set -- $(sanse); runs_sanse="$runs_sanse $1"; cpu_sanse="$cpu_sanse $2"; warnings=$3
	i=$((i + 1))
done
mb=$(echo "$runs_bare" | median); ms=$(echo "$runs_sanse" | median)
cb=$(echo "$cpu_bare" | median); cs=$(echo "$cpu_sanse" | median)
r=$(ratio "$mb" "$ms"); rc=$(ratio "$cb" "$cs")
cat <<MD

## Readings: a gateway's COPY through sanse against a bare COPY (issue 21, spec 10)

$NDEV devices (a water meter, a door contact, a power meter and a smoke detector in each of $((NDEV / 4)) red homes),
one batch of $nrows readings (each device's last $PER minutes, over two local days' partitions; $nalarms smoke alarms,
which raised $warnings warnings: one per home whose detector alarmed). sanse's side is \`COPY sanse.reading … FROM\`
(each row checked against the per-backend device cache, the devices' last times and the alarms' warnings written at
the end of the statement); the bare side is \`COPY\` of the same file into a plain table partitioned the same way (by
day in \`sanse.timezone\`) with the same index on \`(device_id, at)\` in each day. Each run is a transaction rolled back; median
of $ROUNDS rounds, the sides taking turns. The rate ratio is bare time / sanse time, in wall time and in the
backend's CPU time (user + system, \`/proc/self/stat\`): on a shared machine the CPU time is what the COPY cost, the
wall time also what the neighbours took (load average $(cut -d ' ' -f 1-3 /proc/loadavg) at the end of the run).

| | bare COPY | COPY into sanse.reading | rows/s bare | rows/s sanse | sanse / bare rate | target ≥ 0.5 |
|---|---:|---:|---:|---:|---:|---|
| wall time (ms) | $mb | $ms | $(awk -v n="$nrows" -v t="$mb" 'BEGIN { printf "%.0f", n / t * 1000 }') | $(awk -v n="$nrows" -v t="$ms" 'BEGIN { printf "%.0f", n / t * 1000 }') | $r | $(verdict "$r" 0.5) |
| CPU time (ms) | $cb | $cs | $(awk -v n="$nrows" -v t="$cb" 'BEGIN { printf "%.0f", n / t * 1000 }') | $(awk -v n="$nrows" -v t="$cs" 'BEGIN { printf "%.0f", n / t * 1000 }') | $rc | $(verdict "$rc" 0.5) |

What decides it (perf, \`perf record -g\` on the backend during sanse's COPY, inclusive shares): the row trigger turns
PostgreSQL's multi-row COPY into row-at-a-time inserts into the partitions (a BEFORE ROW trigger on a partition does),
and the index on \`(device_id, at)\` is most of the rest (\`ExecInsertIndexTuples\` 53 %, \`heap_insert\` 10 %, the
COPY's parsing 10 %). The first version missed the target (0.46): its guard asked \`get_partition_parent()\` for every
row, a catalog scan that was 23 % of the time (\`reading_trigger_guard\` 25 %); the partitions checked are now
remembered for the transaction. After that \`reading_check\` is 12 % (the device cache's hash lookup 2.6 %, one
\`heap_deform_tuple\` instead of four \`heap_getattr\`), the end-of-statement flush (the devices' last times, the
warnings) 5 %.
MD
