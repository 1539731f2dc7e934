-- pgTAP: quiet and silent devices (spec 10, issue 21): the spans derived by
-- kind and tier, quiet warnings and silent tasks raised by the sweep at the
-- logical time their span ended (whatever the timing of sweeps), repeats,
-- cancellation by a late reading, the index the sweep reads, and the
-- partitions of readings the sweep keeps.  Expected times are worked out
-- by hand from the README's defaults (water meter: quiet 12 hours in a red
-- home, 24 hours in a yellow one; door 24 hours red; silent after
-- 3 x report_every; warnings arrive within 15 minutes, tasks within a day).
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
SET LOCAL sanse.max_backdate = '10 years';
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(42);

INSERT INTO resident (area_id, name, factors, registered_at)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'red one', '{accident_risk}', '2024-01-01 00:00+08'),
       (pg_temp.area_id('d.t.v.tg.g.m2'), 'yellow one', '{partial_care,mobility_impaired}', '2024-01-01 00:00+08'),
       (pg_temp.area_id('d.t.v.tg.g.m1'), 'red two', '{accident_risk}', '2024-01-01 00:00+08');
SELECT results_eq($$SELECT name, tier::text FROM resident ORDER BY name$$,
                  $$VALUES ('red one'::text, 'red'::text), ('red two', 'red'), ('yellow one', 'yellow')$$,
                  'fixture: two red homes, one yellow');
DO $$ BEGIN PERFORM sanse.reading_partition(d::date) FROM generate_series('2024-05-05'::date, '2024-05-12', '1 day') d; END $$;
CREATE TEMP TABLE devname (name text PRIMARY KEY, id bigint);

-- A reading as a gateway sends it (the write path keeps the device's last
-- reading and last use).
CREATE FUNCTION pg_temp.send(d bigint, t timestamptz, v float8) RETURNS void LANGUAGE sql AS $$
	INSERT INTO sanse.reading (device_id, at, value) VALUES (d, t, v);
$$;
CREATE FUNCTION pg_temp.dev(n text) RETURNS bigint LANGUAGE sql STABLE AS $$
	SELECT d.id FROM sanse.device d JOIN pg_temp.devname x ON x.id = d.id WHERE x.name = n
$$;
WITH d AS (
	INSERT INTO device (kind, resident_id, area_id, report_every, installed_at)
	VALUES ('water_meter', pg_temp.resident_id('red one'), pg_temp.area_id('d.t.v.tg.g.m1'), '10 minutes', '2024-05-06 00:00Z'),
	       ('water_meter', pg_temp.resident_id('yellow one'), pg_temp.area_id('d.t.v.tg.g.m2'), '10 minutes', '2024-05-06 00:00Z'),
	       ('door', pg_temp.resident_id('red one'), pg_temp.area_id('d.t.v.tg.g.m1'), '1 hour', '2024-05-06 00:00Z'),
	       ('smoke', NULL, pg_temp.area_id('d.t.v.tg.g.m2'), '1 hour', '2024-05-06 00:00Z'),
	       ('water_meter', pg_temp.resident_id('red two'), pg_temp.area_id('d.t.v.tg.g.m1'), '10 minutes', '2024-05-06 00:00Z')
	RETURNING id, kind, resident_id)
INSERT INTO devname SELECT v.n, d.id FROM d, (VALUES ('wm red', 'water_meter', 'red one'), ('wm yellow', 'water_meter', 'yellow one'),
                                                    ('door red', 'door', 'red one'), ('smoke corridor', 'smoke', NULL),
                                                    ('wm red two', 'water_meter', 'red two')) v(n, k, r)
 WHERE d.kind = v.k AND d.resident_id IS NOT DISTINCT FROM pg_temp.resident_id(v.r);

-- 1. the spans, by kind and tier
SELECT results_eq($$SELECT x.name, d.quiet_for, d.silent_for FROM device d JOIN devname x ON x.id = d.id ORDER BY x.name$$,
                  $$VALUES ('door red'::text, '24 hours'::interval, '3 hours'::interval), ('smoke corridor', NULL, '3 hours'),
                           ('wm red', '12 hours', '30 minutes'), ('wm red two', '12 hours', '30 minutes'), ('wm yellow', '24 hours', '30 minutes')$$,
                  'quiet_for by kind and tier (a corridor''s smoke detector: none), silent after 3 x report_every');
UPDATE device SET quiet_for = '1 minute', silent_for = NULL WHERE id = pg_temp.dev('wm red');
SELECT results_eq($$SELECT quiet_for, silent_for FROM device WHERE id = pg_temp.dev('wm red')$$,
                  $$VALUES ('12 hours'::interval, '30 minutes'::interval)$$, 'a client cannot set the derived spans');
UPDATE resident SET tier_override = 'yellow', override_reason = 'test' WHERE name = 'red two';
SELECT is((SELECT quiet_for FROM device WHERE id = pg_temp.dev('wm red two')), '24 hours'::interval,
          'a tier change re-derives quiet_for');
UPDATE device_rule SET quiet_for = '6 hours' WHERE kind = 'water_meter' AND rule = 'quiet' AND tier = 'yellow';
SELECT is((SELECT quiet_for FROM device WHERE id = pg_temp.dev('wm yellow')), '6 hours'::interval,
          'a rule change re-derives quiet_for');
UPDATE device_rule SET quiet_for = '24 hours' WHERE kind = 'water_meter' AND rule = 'quiet' AND tier = 'yellow';
UPDATE resident SET tier_override = NULL, override_reason = NULL WHERE name = 'red two';
UPDATE device SET active = false WHERE id = pg_temp.dev('wm red two');

-- 2. every device reports; the red water meter is used at 01:00 and then
-- not until 14:00 (span ends 13:00); the yellow one is used every hour.
SELECT pg_temp.send(pg_temp.dev('wm red'), t, CASE WHEN t = '2024-05-06 01:00Z' THEN 3 ELSE 0 END)
  FROM generate_series('2024-05-06 00:00Z'::timestamptz, '2024-05-06 13:50Z', '10 minutes') t;
SELECT pg_temp.send(pg_temp.dev('wm yellow'), t, CASE WHEN extract(minute FROM t) = 0 THEN 1 ELSE 0 END)
  FROM generate_series('2024-05-06 00:00Z'::timestamptz, '2024-05-06 13:50Z', '10 minutes') t;
SELECT pg_temp.send(pg_temp.dev('door red'), t, 1)
  FROM generate_series('2024-05-06 00:00Z'::timestamptz, '2024-05-06 13:00Z', '1 hour') t;
SELECT pg_temp.send(pg_temp.dev('smoke corridor'), t, NULL)
  FROM generate_series('2024-05-06 00:00Z'::timestamptz, '2024-05-06 13:00Z', '1 hour') t;

SELECT is(sweep_devices('2024-05-06 12:59Z'), 0, 'nothing ends by 12:59');
SELECT is(sweep_devices('2024-05-06 13:00Z'), 1, 'the red water meter''s span ends at 13:00');
SELECT results_eq($$SELECT kind, status, resident_id, device_id, device_kind, rule, called_at, due_at, next_step_at, level,
                           assignee_id, repeats FROM event WHERE device_id IS NOT NULL$$,
                  $$SELECT 'warning'::text, 'called'::text, pg_temp.resident_id('red one'), pg_temp.dev('wm red'), 'water_meter'::text,
                           'quiet'::text, '2024-05-06 13:00Z'::timestamptz, '2024-05-06 13:00Z'::timestamptz,
                           '2024-05-06 13:15Z'::timestamptz, 1::smallint, pg_temp.worker_id('lead m1'), 0$$,
                  'a quiet warning about the resident at T + quiet_for, its arrival clock from there, for the micro-grid leader');
SELECT is(sweep_devices('2024-05-06 13:30Z'), 0, 'a second sweep raises nothing more');

-- 3. use after the warning's logical time does not cancel it
SELECT pg_temp.send(pg_temp.dev('wm red'), '2024-05-06 14:00Z', 2);
SELECT is(sweep_devices('2024-05-06 14:01Z'), 0, 'use after 13:00 raises nothing');
SELECT is((SELECT status FROM event WHERE rule = 'quiet'), 'called', 'and does not cancel the warning');

-- 4. the meter reports nothing after 14:00 (its last reading): silent at
-- 14:30; the yellow meter's last reading was 13:50: silent at 14:20
SELECT is(sweep_devices('2024-05-06 14:30Z'), 2, 'silent at last reading + 3 x report_every (two meters)');
SELECT results_eq($$SELECT kind, status, resident_id, rule, called_at, scale, level, assignee_id, next_step_at
                      FROM event WHERE device_id = pg_temp.dev('wm red') AND rule = 'silent'$$,
                  $$SELECT 'task'::text, 'called'::text, pg_temp.resident_id('red one'), 'silent'::text,
                           '2024-05-06 14:30Z'::timestamptz, 'grid'::text, 1::smallint, pg_temp.worker_id('lead m1'),
                           '2024-05-07 14:30Z'::timestamptz$$,
                  'a silent device is a task naming the device and its resident, for the micro-grid leader (tasks: a day to arrive)');
SELECT is((SELECT count(*) FROM event WHERE kind = 'warning' AND rule = 'silent'), 0::bigint, 'never a warning about the person');
SELECT pg_temp.send(pg_temp.dev('wm red'), '2024-05-06 15:00Z', 0);
SELECT is(sweep_devices('2024-05-06 15:05Z'), 0, 'a later reading raises nothing');
SELECT is((SELECT status FROM event WHERE device_id = pg_temp.dev('wm red') AND rule = 'silent'), 'called', 'and does not close the task');

-- 5. by 16:00 the red meter is silent again (15:00 + 30 min: counted on its
-- open task), and the door and the corridor's smoke detector (13:00 + 3 h)
SELECT is(sweep_devices('2024-05-06 16:00Z'), 3, 'by 16:00: the red meter again, the door, the corridor''s smoke detector');
SELECT results_eq($$SELECT count(*), sum(repeats) FROM event WHERE device_id = pg_temp.dev('wm red') AND rule = 'silent'$$,
                  $$VALUES (1::bigint, 1::bigint)$$, 'the silent meter''s second span is a repeat on its open task');
SELECT results_eq($$SELECT resident_id, area_id, kind FROM event WHERE device_id = pg_temp.dev('smoke corridor')$$,
                  $$SELECT NULL::bigint, pg_temp.area_id('d.t.v.tg.g.m2'), 'task'::text$$,
                  'a device without a resident: a task about its area');

-- 6. a late reading dated before T + quiet_for cancels the warning while
-- nobody has arrived: closed, a transition 'cancelled', counted apart
SELECT pg_temp.send(pg_temp.dev('wm red'), '2024-05-06 12:40Z', 1);
SELECT is(sweep_devices('2024-05-06 16:10Z'), 0, 'the sweep after the late reading raises nothing new (12:40 + 12 h is ahead)');
SELECT results_eq($$SELECT e.status, e.resolved_at, t.stage, t.at FROM event e JOIN event_transition t ON t.event_id = e.id
                     WHERE e.rule = 'quiet' AND t.stage <> 'called'$$,
                  $$VALUES ('closed'::text, '2024-05-06 16:10Z'::timestamptz, 'cancelled'::text, '2024-05-06 16:10Z'::timestamptz)$$,
                  'the quiet warning a late reading disproved is cancelled at the sweep that found it');
SELECT results_eq($$SELECT raised, answered_in_time, closed, still_open, cancelled FROM loop_metrics_all
                     WHERE path = 'd' AND kind = 'warning'$$,
                  $$VALUES (1::bigint, 0::bigint, 1::bigint, 0::bigint, 1::bigint)$$,
                  'loop_metrics counts it in cancelled, never as answered');
SELECT results_eq($$SELECT raised, answered_in_time, closed, still_open, cancelled FROM loop_metrics_subtree
                     WHERE path = 'd' AND kind = 'warning'$$,
                  $$VALUES (1::bigint, 0::bigint, 1::bigint, 0::bigint, 1::bigint)$$,
                  'so does loop_metrics_subtree, which the screen view reads');
SELECT is((SELECT disproved_at FROM device_span WHERE rule = 'quiet' AND ends_at = '2024-05-06 13:00Z'),
          '2024-05-06 16:10Z'::timestamptz, 'its span is disproved');

-- 7. the red meter is used at 16:20 and then not for 12 hours: a new
-- warning at 04:20.  (From here the meter and the door report once a day,
-- so their silent spans stay out of the way; the door is used at 04:00;
-- the yellow home leaves the programme.)
UPDATE device SET report_every = '1 day' WHERE id IN (pg_temp.dev('wm red'), pg_temp.dev('door red'));
SELECT pg_temp.send(pg_temp.dev('wm red'), '2024-05-06 16:20Z', 1);
SELECT pg_temp.send(pg_temp.dev('door red'), '2024-05-07 04:00Z', 1);
SELECT forget_resident(pg_temp.resident_id('yellow one'), 'moved away');
SELECT is(sweep_devices('2024-05-07 04:19Z'), 0, 'nothing by 04:19');
SELECT is(sweep_devices('2024-05-07 04:20Z'), 1, 'the next quiet span ends at 04:20: a new warning (the last one was cancelled)');

-- 8. repeats: another quiet span of the same home's water meter while the
-- warning is open is counted on it
SELECT pg_temp.send(pg_temp.dev('wm red'), '2024-05-07 05:00Z', 1);
SELECT is(sweep_devices('2024-05-07 17:00Z'), 1, 'a second span (05:00 to 17:00) while the warning is open');
SELECT results_eq($$SELECT count(*), sum(repeats) FROM event WHERE rule = 'quiet' AND status <> 'closed'$$,
                  $$VALUES (1::bigint, 1::bigint)$$, 'counted on the open warning (repeats), not raised twice');
SELECT is((SELECT count(*) FROM event WHERE device_id = pg_temp.dev('wm yellow') AND rule = 'quiet'), 0::bigint,
          'no quiet warning about a forgotten resident (the yellow meter''s span ended at 13:00)');

-- 9. sweeps that stopped: the door, used at 04:00, is used again only at
-- 10:00 the next day (its span ended at 04:00); the readings reach the
-- server before any sweep, and the sweep that comes at 12:00 still raises
-- the warning at 04:00, its clock stepping at 04:15, 04:30, 04:45
SELECT pg_temp.send(pg_temp.dev('door red'), '2024-05-08 10:00Z', 1);
SELECT pg_temp.send(pg_temp.dev('door red'), '2024-05-08 11:00Z', 1);
SELECT is((SELECT count(*) FROM device_span WHERE device_id = pg_temp.dev('door red') AND rule = 'quiet' AND event_id IS NULL),
          1::bigint, 'the write path recorded the span its reading closed');
SELECT is(sweep_devices('2024-05-08 12:00Z'), 1, 'the late sweep raises it');
SELECT results_eq($$SELECT called_at, anchor_at, level FROM event WHERE device_id = pg_temp.dev('door red') AND rule = 'quiet'$$,
                  $$VALUES ('2024-05-08 04:00Z'::timestamptz, '2024-05-07 04:00Z'::timestamptz, 1::smallint)$$,
                  'at the logical time its span ended');
SELECT ok(sweep_escalations('2024-05-08 12:00Z') > 0, 'the clocks run');
SELECT results_eq($$SELECT s.level, s.at, s.assignee_id FROM event_step s JOIN event e ON e.id = s.event_id
                     WHERE e.device_id = pg_temp.dev('door red') AND e.rule = 'quiet' ORDER BY s.at$$,
                  $$VALUES (1::smallint, '2024-05-08 04:00Z'::timestamptz, pg_temp.worker_id('lead m1')),
                           (2::smallint, '2024-05-08 04:15Z', pg_temp.worker_id('lead g')),
                           (3::smallint, '2024-05-08 04:30Z', pg_temp.worker_id('lead tg')),
                           (4::smallint, '2024-05-08 04:45Z', pg_temp.worker_id('task force'))$$,
                  'its arrival clock ran from its logical time, not from the sweep');

-- 10. once somebody has arrived, a late reading cancels nothing
INSERT INTO worker (name, force, role, area_id) VALUES ('c1', 'volunteer', 'member', pg_temp.area_id('d.t.v.tg.g.m1'));
INSERT INTO carer (resident_id, worker_id) VALUES (pg_temp.resident_id('red one'), pg_temp.worker_id('c1'));
SELECT lives_ok(format($$SELECT arrive(%s, %s, %L, '2024-05-08 12:10Z')$$,
                       (SELECT id FROM event WHERE device_id = pg_temp.dev('door red') AND rule = 'quiet'),
                       pg_temp.worker_id('c1'), pg_temp.token('red one')), 'the carer arrives at the door''s warning');
SELECT pg_temp.send(pg_temp.dev('door red'), '2024-05-07 20:00Z', 1);
SELECT is(sweep_devices('2024-05-08 12:20Z'), 0, 'the late reading raises nothing');
SELECT is((SELECT status FROM event WHERE device_id = pg_temp.dev('door red') AND rule = 'quiet'), 'arrived',
          'and does not cancel a warning somebody arrived at');

-- 11. the sweep reads the due indexes, never all devices
INSERT INTO device (kind, area_id, report_every, installed_at)
SELECT 'door', pg_temp.area_id('d.t.v.tg.g2.m3'), '1 day', now() FROM generate_series(1, 3000);
ANALYZE device;
CREATE TEMP TABLE scans AS SELECT pg_stat_get_xact_numscans('sanse.device'::regclass) AS seq_before,
                                  pg_stat_get_xact_numscans('sanse.device_next_due'::regclass) AS due_before;
DO $$ BEGIN PERFORM sanse.sweep_devices('2024-05-09 12:05Z'); END $$;
SELECT results_eq($$SELECT pg_stat_get_xact_numscans('sanse.device'::regclass) - seq_before,
                           pg_stat_get_xact_numscans('sanse.device_next_due'::regclass) > due_before FROM scans$$,
                  $$VALUES (0::bigint, true)$$,
                  'sweep_devices reads device_next_due, never device sequentially');

-- 12. partitions: made ahead, dropped after sanse.reading_retention
SET LOCAL sanse.reading_retention = '2 days';
SELECT is(reading_partitions_keep('2024-05-12 00:30+08'), 5, 'the days that ended more than 2 days ago (5 to 9 May) are dropped');
SELECT is(ARRAY(SELECT c.relname::text FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
                 WHERE h.inhparent = 'sanse.reading'::regclass ORDER BY 1),
          ARRAY['reading_20240510', 'reading_20240511', 'reading_20240512', 'reading_20240513', 'reading_20240514'],
          'today''s and the next two days'' partitions exist, and those of the last two days are kept');

-- 13. sweep runs the phases
SELECT pg_temp.send(pg_temp.dev('wm red'), '2024-05-12 00:00Z', 1);
SELECT lives_ok($$SELECT sweep('2024-05-12 12:00Z')$$, 'sweep runs the devices'' phase and keeps the partitions');
SELECT is((SELECT repeats FROM event WHERE device_id = pg_temp.dev('wm red') AND rule = 'quiet' AND status <> 'closed'), 2,
          'sweep counted the red meter''s span of 00:00 to 12:00 on its open warning');

SELECT * FROM finish();
ROLLBACK;
