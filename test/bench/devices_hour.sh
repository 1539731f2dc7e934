#!/bin/sh
# make bench, section "an hour of devices" (issue 21, spec 10): 26,000
# devices (6,500 red homes, each a smoke detector, an SOS button, a water
# meter and a door contact) report every minute for an hour of logical time
# (the hour before the server clock, replayed as fast as it goes), a few
# alarms among them, some water meters going quiet during the hour, and a
# sweep (sanse.sweep) after every minute's readings.  Each minute's readings
# are one multi-row INSERT through sanse's write path, committed; then the
# sweep, committed.  Reported: readings per second sustained (all readings
# over the wall time of the whole replay, sweeps included), no error,
# every alarm's warning present when its minute's INSERT committed (raised
# in that transaction, at the reading's own time), every quiet warning
# raised by the first sweep at or after its logical time.  Then the cost of
# sanse.sweep_devices with 0 %, 1 % and 10 % of the devices due (their last
# reading moved back, in a transaction rolled back), side by side in
# rounds, the median round counting.
#
#   sh test/bench/devices_hour.sh     (its own database sanse_bench_devices)
#   BENCH_DEVICE_HOMES=650 BENCH_DEVICE_MINUTES=10 sh test/bench/devices_hour.sh   (to try it)
# Prints the section (markdown) on stdout, progress on stderr.
set -e
cd "$(dirname "$0")/../.."
db=sanse_bench_devices
HOMES=${BENCH_DEVICE_HOMES:-6500}
MINUTES=${BENCH_DEVICE_MINUTES:-60}
ROUNDS=${BENCH_DEVICE_ROUNDS:-5}
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "== devices: $HOMES red homes, 4 devices each, $MINUTES minutes" >&2
dropdb --if-exists "$db" >/dev/null
createdb "$db"
q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
CREATE SCHEMA bench;
SET search_path = sanse, public;
INSERT INTO area (path, kind, name) VALUES ('b', 'district', 'B'), ('b.t', 'town', 'BT'), ('b.t.v', 'village', 'BV'),
  ('b.t.v.tg', 'total_grid', 'BTG'), ('b.t.v.tg.g', 'general_grid', 'BG');
INSERT INTO area (path, kind, name) SELECT ('b.t.v.tg.g.m' || i)::ltree, 'micro_grid', 'BM' || i FROM generate_series(1, 100) i;
INSERT INTO worker (name, force, role, area_id) SELECT 'lead ' || a.name, 'grid_officer', 'micro_grid_leader', a.id
  FROM area a WHERE a.kind = 'micro_grid';
-- the hour: [t0, t0 + MINUTES) ends a minute before the clock
CREATE TABLE bench.clock AS SELECT date_trunc('minute', now()) - interval '1 minute' * ($MINUTES + 1) AS t0;
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT (SELECT id FROM area WHERE path = ('b.t.v.tg.g.m' || (1 + i % 100))::ltree), 'home ' || i, '{accident_risk}', t0 - interval '2 days'
  FROM bench.clock, generate_series(1, $HOMES) i;
DO \$\$ BEGIN PERFORM sanse.reading_partition(d::date) FROM bench.clock,
                     generate_series((t0 AT TIME ZONE sanse.current_zone())::date - 2, (now() AT TIME ZONE sanse.current_zone())::date + 1, '1 day') d; END \$\$;
-- one meter in 100 goes quiet during the hour: installed 12 hours (the red
-- quiet_for) before a minute of the hour and never used since
INSERT INTO device (kind, resident_id, area_id, report_every, installed_at)
SELECT k, r.id, r.area_id, '1 minute',
       CASE WHEN k = 'water_meter' AND r.id % 100 = 7
            THEN c.t0 + interval '1 minute' * (1 + (r.id / 100) % ($MINUTES - 1)) - interval '12 hours'
            ELSE c.t0 - interval '2 minutes' END
  FROM resident r, bench.clock c, unnest(ARRAY['smoke', 'sos', 'water_meter', 'door']) k
 ORDER BY r.id, k;
CREATE TABLE bench.quiet AS
SELECT d.id, d.installed_at + interval '12 hours' AS due FROM device d WHERE d.kind = 'water_meter' AND d.resident_id % 100 = 7;
-- a reading of every device the minute before the hour; the meters going
-- quiet have reported 0 every minute since they were installed
INSERT INTO reading (device_id, at, value)
SELECT d.id, c.t0 - interval '1 minute', CASE WHEN d.kind IN ('smoke', 'sos') THEN NULL ELSE 1 END
  FROM device d CROSS JOIN bench.clock c WHERE d.id NOT IN (SELECT id FROM bench.quiet);
INSERT INTO reading (device_id, at, value)
SELECT q.id, t, 0
  FROM bench.quiet q CROSS JOIN bench.clock c
 CROSS JOIN LATERAL generate_series(q.due - interval '12 hours', c.t0 - interval '1 minute', '1 minute') t;
-- the alarms: a smoke detector's alarm at minutes 7, 19, 31, 43, 55
CREATE TABLE bench.alarm AS
SELECT d.id, c.t0 + interval '1 minute' * m AS at
  FROM bench.clock c, unnest(ARRAY[7, 19, 31, 43, 55]) WITH ORDINALITY a(m, n)
  JOIN device d ON d.kind = 'smoke' AND d.resident_id = (SELECT min(id) FROM resident) + n * 97
 WHERE m < $MINUTES;
CREATE TABLE bench.minute (m int, inserted_ms float8, swept_ms float8, alarms_after_insert bigint, quiet_after_sweep bigint);
CREATE TABLE bench.seen (event_id bigint PRIMARY KEY, seen_at_sweep timestamptz);
ANALYZE;
-- the replay: each minute's readings, committed, then the sweep, committed
CREATE PROCEDURE bench.replay(minutes int) LANGUAGE plpgsql AS \$\$
DECLARE
	t0 timestamptz := (SELECT c.t0 FROM bench.clock c);
	t timestamptz;
	c0 timestamptz;
	c1 timestamptz;
	c2 timestamptz;
	alarms bigint;
BEGIN
	FOR m IN 0 .. minutes - 1 LOOP
		t := t0 + interval '1 minute' * m;
		c0 := clock_timestamp();
		INSERT INTO sanse.reading (device_id, at, value, alarm)
		SELECT d.id, t, CASE WHEN d.kind IN ('smoke', 'sos') THEN NULL WHEN q.id IS NOT NULL THEN 0 ELSE 1 END,
		       a.id IS NOT NULL
		  FROM sanse.device d LEFT JOIN bench.quiet q ON q.id = d.id LEFT JOIN bench.alarm a ON a.id = d.id AND a.at = t;
		COMMIT;
		c1 := clock_timestamp();
		SELECT count(*) INTO alarms FROM sanse.event e WHERE e.rule = 'alarm';
		PERFORM sanse.sweep(t);
		COMMIT;
		c2 := clock_timestamp();
		INSERT INTO bench.seen SELECT e.id, t FROM sanse.event e WHERE e.rule = 'quiet' ON CONFLICT DO NOTHING;
		INSERT INTO bench.minute VALUES (m, 1000 * extract(epoch FROM c1 - c0), 1000 * extract(epoch FROM c2 - c1), alarms,
		                                 (SELECT count(*) FROM bench.seen));
		COMMIT;
	END LOOP;
END
\$\$;
SQL
ndev=$(q -c "SELECT count(*) FROM sanse.device")
echo "== devices: replaying $MINUTES minutes of $ndev devices" >&2
start=$(date +%s.%N)
q -c "CALL bench.replay($MINUTES)" >/dev/null
wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
readings=$(q -c "SELECT count(*) FROM sanse.reading")
per_s=$(q -c "SELECT round(($ndev * $MINUTES) / $wall)")
ingest_s=$(q -c "SELECT round(($ndev * $MINUTES) / (sum(inserted_ms) / 1000)) FROM bench.minute")
insert_ms=$(q -c "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY inserted_ms)) FROM bench.minute")
sweep_ms=$(q -c "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY swept_ms)) || ' / ' || round(max(swept_ms)) FROM bench.minute")
# every alarm's warning exists once its minute's INSERT committed, dated at the reading
alarms_want=$(q -c "SELECT count(*) FROM bench.alarm")
alarms_ok=$(q -c "SELECT count(*) FROM bench.alarm a JOIN sanse.event e ON e.device_id = a.id AND e.rule = 'alarm' AND e.called_at = a.at")
alarms_in_tx=$(q -c "SELECT bool_and(n.alarms_after_insert >= (SELECT count(*) FROM bench.alarm a, bench.clock c WHERE a.at <= c.t0 + interval '1 minute' * n.m))
                       FROM bench.minute n")
# every quiet warning raised by the first sweep at or after its logical time
quiet_want=$(q -c "SELECT count(*) FROM bench.quiet WHERE due < (SELECT t0 FROM bench.clock) + interval '1 minute' * $MINUTES")
quiet_ok=$(q -c "SELECT count(*) FROM bench.quiet q JOIN sanse.event e ON e.device_id = q.id AND e.rule = 'quiet' AND e.called_at = q.due
                  JOIN bench.seen s ON s.event_id = e.id WHERE s.seen_at_sweep = q.due")
quiet_late=$(q -c "SELECT coalesce(max(s.seen_at_sweep - e.called_at), '0')::text FROM sanse.event e JOIN bench.seen s ON s.event_id = e.id")
errors=$(q -c "SELECT count(*) FROM sanse.sweep_lock_timeout")

echo "== devices: the sweep's cost with 0 %, 1 % and 10 % of the devices due" >&2
q >/dev/null <<'SQL'
-- the cost of one sweep_devices with a share of the devices due: their
-- readings of the last 10 minutes taken away (silent after 3), rolled back
CREATE FUNCTION bench.sweep_cost(share float8) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	c0 timestamptz;
	ms float8;
	t timestamptz := (SELECT max(d.last_reading_at) FROM sanse.device d) + interval '30 seconds';
BEGIN
	BEGIN
		-- their last 10 minutes of readings never came
		DELETE FROM sanse.reading r WHERE r.device_id % 1000 < share * 1000 AND r.at > t - interval '10 minutes';
		UPDATE sanse.device d SET last_reading_at = (SELECT max(r.at) FROM sanse.reading r WHERE r.device_id = d.id),
		                          last_active_at = (SELECT max(r.at) FROM sanse.reading r WHERE r.device_id = d.id AND r.value > 0)
		 WHERE d.id % 1000 < share * 1000;
		ANALYZE sanse.device;
		c0 := clock_timestamp();
		PERFORM sanse.sweep_devices(t);
		ms := 1000 * extract(epoch FROM clock_timestamp() - c0);
		RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'undo';
	EXCEPTION WHEN raise_exception THEN
		RETURN ms;
	END;
END
$$;
SQL
r0=''; r1=''; r10=''
i=0
while [ $i -lt "$ROUNDS" ]; do
	r0="$r0 $(q -c "SELECT round(bench.sweep_cost(0)::numeric, 2)")"
	r1="$r1 $(q -c "SELECT round(bench.sweep_cost(0.01)::numeric, 2)")"
	r10="$r10 $(q -c "SELECT round(bench.sweep_cost(0.10)::numeric, 2)")"
	i=$((i + 1))
done
m0=$(echo "$r0" | median); m1=$(echo "$r1" | median); m10=$(echo "$r10" | median)
due1=$(q -c "SELECT count(*) FROM sanse.device WHERE id % 1000 < 10")
due10=$(q -c "SELECT count(*) FROM sanse.device WHERE id % 1000 < 100")

cat <<MD

## An hour of devices (issue 21, spec 10)

\`test/bench/devices_hour.sh\`: $ndev devices ($HOMES red homes: a smoke detector, an SOS button, a water meter
and a door contact each) report every minute for $MINUTES minutes of logical time, replayed as fast as it
goes: each minute's $ndev readings one multi-row \`INSERT\` through sanse's write path, committed, then
\`sanse.sweep(at)\`, committed.  $alarms_want alarms among them; one water meter in 100 goes quiet during
the hour (12 hours without use, red).

| measure | result |
|---|---|
| readings written | $((ndev * MINUTES)) in $wall s |
| readings per second sustained (sweeps included) | $per_s |
| readings per second while inserting | $ingest_s (a minute's INSERT: median $insert_ms ms) |
| sweep every minute, median / max | $sweep_ms ms |
| errors (and sweep phases given up) | 0 ($errors) |
| alarms whose warning was raised at the reading's time | $alarms_ok of $alarms_want |
| every alarm's warning there when its INSERT committed (raised in that transaction) | $alarms_in_tx |
| quiet warnings raised by the sweep at their logical time | $quiet_ok of $quiet_want (latest after its logical time: $quiet_late) |

\`sanse.sweep_devices\` alone with a share of the devices due (their readings of the last 10 minutes taken away: silent),
median of $ROUNDS rounds, the shares taking turns; its cost follows the devices due, not all $ndev:

| devices due | sweep_devices | ratio to 1 % |
|---|---|---|
| 0 | $m0 ms | |
| 1 % ($due1) | $m1 ms | 1.00 |
| 10 % ($due10) | $m10 ms | $(ratio "$m10" "$m1") |
MD
