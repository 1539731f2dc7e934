-- pgTAP: sensors and smart warnings (spec 10, issue 21) — the tables and
-- their defaults, the write path of readings (INSERT and COPY), bad input
-- with its SQLSTATEs, warnings (alarm, above, below) raised in the inserting
-- transaction at the reading's own time, one open warning per resident,
-- device kind and rule with repeats counted on it, a new one once it is
-- closed, late alarms.  Expected times, levels and leaders are written by
-- hand from spec 7 and 10 (a warning's arrival clock: 15 minutes a level),
-- never read back from the functions under test.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL sanse.timezone = 'Asia/Shanghai';
SET LOCAL TimeZone = 'Asia/Shanghai';
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(73);

-- the local days around now have their partitions (the sweep makes them ahead)
CREATE TEMP TABLE parts AS SELECT sanse.reading_partition(d::date)
  FROM generate_series((now() AT TIME ZONE 'Asia/Shanghai')::date - 2, (now() AT TIME ZONE 'Asia/Shanghai')::date + 1, '1 day') d;

-- residents: Wang (red, lives in M1), Li (blue, M2)
INSERT INTO sanse.resident (area_id, name, factors, registered_at) VALUES
	(pg_temp.area_id('d.t.v.tg.g.m1'), 'Wang', '{sudden_illness,no_caregiver}', now() - interval '3 days'),
	(pg_temp.area_id('d.t.v.tg.g.m2'), 'Li', '{}', now() - interval '3 days');
-- devices by a name this file gives them
CREATE TEMP TABLE dev (name text PRIMARY KEY, id bigint NOT NULL);
CREATE FUNCTION pg_temp.dev(n text) RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT id FROM dev WHERE name = n $$;
WITH d AS (
	INSERT INTO sanse.device (kind, resident_id, area_id, installed_at)
	SELECT v.kind, pg_temp.resident_id(v.resident), coalesce(pg_temp.area_id(v.area), pg_temp.area_id('d')), now() - interval '2 days'
	  FROM (VALUES (1, 'smoke', 'Wang', NULL), (2, 'smoke', 'Wang', NULL), (3, 'gas', 'Wang', NULL), (4, 'gas', 'Li', NULL),
	               (5, 'water_meter', 'Wang', NULL), (6, 'smoke', NULL, 'd.t.v.tg.g.m2'), (7, 'power_meter', 'Li', NULL),
	               (8, 'sos', 'Li', NULL)) v(ord, kind, resident, area)
	 ORDER BY v.ord
	RETURNING id, kind, resident_id)
INSERT INTO dev SELECT n, id FROM (SELECT id, (ARRAY['smoke1', 'smoke2', 'gas wang', 'gas li', 'water', 'corridor smoke', 'power li', 'sos li'])[row_number() OVER (ORDER BY id)] AS n FROM d) x;

-- a warning of a device, described: rule, status, level, leader, repeats, called (minutes before now)
CREATE FUNCTION pg_temp.warnings_of(d text) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT coalesce(string_agg(format('%s %s L%s %s x%s @-%sm', e.rule, e.status, e.level, w.name, e.repeats,
	                                  round(extract(epoch FROM now() - e.called_at) / 60)), '; ' ORDER BY e.id), '')
	  FROM sanse.event e LEFT JOIN sanse.worker w ON w.id = e.assignee_id
	 WHERE e.kind = 'warning' AND (e.device_id = pg_temp.dev(d) OR e.resident_id = (SELECT x.resident_id FROM sanse.device x WHERE x.id = pg_temp.dev(d))
	                                AND e.device_kind = (SELECT x.kind FROM sanse.device x WHERE x.id = pg_temp.dev(d)))
$$;
-- an event's steps: level and minutes before now
CREATE FUNCTION pg_temp.steps_of(e bigint) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT string_agg(format('L%s @-%sm', s.level, round(extract(epoch FROM now() - s.at) / 60)), ', ' ORDER BY s.at, s.level)
	  FROM sanse.event_step s WHERE s.event_id = e
$$;
CREATE FUNCTION pg_temp.reading_sql(d text, ago interval, value text, alarm boolean) RETURNS text LANGUAGE sql AS $$
	SELECT format('INSERT INTO sanse.reading (device_id, at, value, alarm) VALUES (%s, now() - %L::interval, %s, %L)',
	              coalesce(pg_temp.dev(d)::text, '424242'), ago, value, alarm)
$$;
-- close a warning through the loop: arrive (with the door token for a resident), handle, feed back, evaluate
CREATE FUNCTION pg_temp.close(e bigint, at timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	res bigint := (SELECT x.resident_id FROM sanse.event x WHERE x.id = e);
	w bigint := (SELECT x.assignee_id FROM sanse.event x WHERE x.id = e);
BEGIN
	PERFORM sanse.arrive(e, w, CASE WHEN res IS NOT NULL THEN sanse.door_token(res) END, at);
	PERFORM sanse.handle_event(e, w, 'checked', at + interval '1 second');
	PERFORM sanse.feed_back(e, w, 'fine', at + interval '2 seconds');
	PERFORM sanse.evaluate(e, 5, true, 'supervisor', NULL, at + interval '3 seconds');
END
$$;

-----------------------------------------------------------------------------
-- 1. tables and defaults
-----------------------------------------------------------------------------
SELECT columns_are('sanse', 'device', ARRAY['id', 'kind', 'resident_id', 'area_id', 'report_every', 'active', 'installed_at',
                                            'last_reading_at', 'last_active_at', 'quiet_for', 'silent_for'],
                  'sanse.device: the pinned columns, the write path''s last times and the spans sanse derives (issue 21, quiet and silent)');
SELECT columns_are('sanse', 'reading', ARRAY['device_id', 'at', 'value', 'alarm'], 'sanse.reading: the pinned columns');
SELECT columns_are('sanse', 'device_rule', ARRAY['kind', 'rule', 'tier', 'threshold', 'quiet_for'], 'sanse.device_rule: the pinned columns');
SELECT is((SELECT c.relkind::text || ' ' || pg_get_partkeydef(c.oid) FROM pg_class c WHERE c.oid = 'sanse.reading'::regclass),
          'p RANGE (at)', 'sanse.reading is partitioned by range of at');
SELECT is(current_setting('sanse.reading_retention'), '30 days', 'sanse.reading_retention defaults to 30 days');
SELECT is(sanse.reading_retention(), interval '30 days', 'reading_retention() reads it as an interval');
SELECT is((SELECT string_agg(format('%s %s %s %s %s', r.kind, r.rule, coalesce(r.tier::text, '*'), coalesce(r.threshold::text, '-'),
                                    coalesce(r.quiet_for::text, '-')), ', ' ORDER BY k.position, q.position, r.tier NULLS FIRST)
             FROM sanse.device_rule r JOIN sanse.device_kind k ON k.value = r.kind JOIN sanse.device_rule_kind q ON q.value = r.rule),
          'smoke alarm * - -, smoke silent * - -, gas alarm * - -, gas above * 20 -, gas silent * - -, fall alarm * - -, fall silent * - -, '
          'sos alarm * - -, sos silent * - -, water_meter quiet yellow - 24:00:00, water_meter quiet red - 12:00:00, water_meter silent * - -, '
          'door quiet yellow - 48:00:00, door quiet red - 24:00:00, door silent * - -, power_meter quiet red - 24:00:00, power_meter silent * - -',
          'the default rules: alarms raise at once, gas above 20 %LEL, quiet homes by tier, every kind silent');
-- a day's partition starts at local midnight and ends at the next
SELECT is(sanse.reading_partition('2026-03-01')::oid, to_regclass('sanse.reading_20260301')::oid, 'reading_partition(day) makes sanse.reading_YYYYMMDD');
SELECT is((SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE c.oid = 'sanse.reading_20260301'::regclass),
          'FOR VALUES FROM (''2026-03-01 00:00:00+08'') TO (''2026-03-02 00:00:00+08'')', 'reading_partition(day): local midnight to midnight');
SELECT is(sanse.reading_partition('2026-03-01'), 'sanse.reading_20260301'::regclass, 'made once, found the second time');
-- whatever the session's DateStyle and zone (Postgres style prints +08 as
-- "CST", which reads back as US Central time)
SET LOCAL DateStyle = 'Postgres, MDY';
SELECT ok(sanse.reading_partition('2026-03-02') IS NOT NULL, 'a partition made under DateStyle Postgres');
RESET DateStyle;
SELECT is((SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE c.oid = 'sanse.reading_20260302'::regclass),
          'FOR VALUES FROM (''2026-03-02 00:00:00+08'') TO (''2026-03-03 00:00:00+08'')', '... has the same local midnights');
SELECT ok(EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = 'sanse.reading_20260301'::regclass AND t.tgname = 'reading_flush'),
          'the partition carries the write path''s statement trigger');
SELECT is((SELECT d.area_id FROM sanse.device d WHERE d.id = pg_temp.dev('smoke1')), pg_temp.area_id('d.t.v.tg.g.m1'),
          'a device in a home is in its resident''s micro grid, whatever area was written');

-----------------------------------------------------------------------------
-- 2. the write path: bad input, one SQLSTATE each; the batch fails whole
-----------------------------------------------------------------------------
UPDATE sanse.device SET active = false WHERE id = pg_temp.dev('power li');
SELECT is(pg_temp.sqlstate_of(t.stmt), t.expected, t.description)
  FROM (VALUES
	('an unknown device is refused (23503)', pg_temp.reading_sql('no such device', '1 minute', '1', false), '23503'),
	('an inactive device is refused (55000)', pg_temp.reading_sql('power li', '1 minute', '1', false), '55000'),
	('a reading more than 5 minutes ahead is refused (22008)', pg_temp.reading_sql('water', '-6 minutes', '1', false), '22008'),
	('a NaN value is refused (22003)', pg_temp.reading_sql('water', '1 minute', '''NaN''', false), '22003'),
	('an infinite value is refused (22003)', pg_temp.reading_sql('water', '1 minute', '''-Infinity''', false), '22003'),
	('a reading without a time fits no day: refused (23514)', format('INSERT INTO sanse.reading (device_id, value) VALUES (%s, 1)', pg_temp.dev('water')), '23514'),
	('a reading without a device is refused (23502)', format('INSERT INTO sanse.reading (at, value) VALUES (now(), 1)'), '23502'),
	('a reading 4 minutes ahead is taken', pg_temp.reading_sql('water', '-4 minutes', '1', false), 'ok'),
	('a reading of a day ago is taken (late readings are normal)', pg_temp.reading_sql('water', '1 day', '0', false), 'ok'),
	('a reading without a value is taken', pg_temp.reading_sql('water', '2 minutes', 'NULL', false), 'ok')
  ) t(description, stmt, expected);
SELECT is((pg_temp.error_of(pg_temp.reading_sql('power li', '1 minute', '1', false))).message,
          format('device %s is not active', pg_temp.dev('power li')), 'the refusal names the device, nothing of its home');
SELECT is((SELECT count(*) FROM sanse.reading), 3::bigint, 'only the good readings are stored');
SELECT is((SELECT format('%s %s', round(extract(epoch FROM d.last_reading_at - now()) / 60), round(extract(epoch FROM now() - d.last_active_at) / 60))
             FROM sanse.device d WHERE d.id = pg_temp.dev('water')),
          '4 -4', 'the device''s last reading and last reading with value > 0 (the latest of the statements, not the last written)');
-- COPY: one bad row refuses the whole batch, and its alarm raises nothing
SELECT is(pg_temp.sqlstate_of(format($$COPY sanse.reading (device_id, at, value, alarm) FROM PROGRAM 'printf "%s\t%s\t0\tt\n%s\t%s\t1\tf\n"'$$,
                                     pg_temp.dev('sos li'), now() - interval '3 minutes', 424242, now() - interval '3 minutes')),
          '23503', 'COPY with an unknown device in the batch: 23503');
SELECT is((SELECT count(*) FROM sanse.reading WHERE device_id = pg_temp.dev('sos li')), 0::bigint, '... and none of the batch is stored');
SELECT is(pg_temp.warnings_of('sos li'), '', '... nor its alarm''s warning raised');
SELECT is(pg_temp.sqlstate_of(format($$COPY sanse.reading (device_id, at, value, alarm) FROM PROGRAM 'printf "%s\t%s\t0\tt\n%s\t%s\t1\tf\n"'$$,
                                     pg_temp.dev('sos li'), now() - interval '3 minutes', pg_temp.dev('water'), now() - interval '3 minutes')),
          'ok', 'the batch sent again without the bad row is taken');
SELECT is(pg_temp.warnings_of('sos li'), 'alarm called L1 lead m2 x0 @-3m', 'COPY raises the alarm''s warning, called at the reading''s time, with the micro-grid leader');
-- a device registered, deactivated or reactivated in the transaction is known at once (the cache follows)
INSERT INTO sanse.device (kind, area_id) VALUES ('door', pg_temp.area_id('d.t.v.tg.g.m1')) RETURNING id AS fresh \gset
SELECT is(pg_temp.sqlstate_of(format('INSERT INTO sanse.reading VALUES (%s, now(), 1)', :fresh)), 'ok', 'a device just registered reports at once');
UPDATE sanse.device SET active = false WHERE id = :fresh;
SELECT is(pg_temp.sqlstate_of(format('INSERT INTO sanse.reading VALUES (%s, now(), 1)', :fresh)), '55000', 'deactivated: refused at once');
UPDATE sanse.device SET active = true WHERE id = :fresh;
SELECT is(pg_temp.sqlstate_of(format('INSERT INTO sanse.reading VALUES (%s, now(), 1)', :fresh)), 'ok', 'reactivated: taken at once');

-----------------------------------------------------------------------------
-- 3. warnings: alarm, above, below; one open per resident, kind and rule
-----------------------------------------------------------------------------
SELECT lives_ok(pg_temp.reading_sql('smoke1', '5 minutes', '0', true), 'a smoke alarm is written');
SELECT is(pg_temp.warnings_of('smoke1'), 'alarm called L1 lead m1 x0 @-5m', 'it raises a warning called at the reading''s own time, level 1, the micro-grid leader');
SELECT is((SELECT format('%s %s %s %s %s', e.kind, e.scale, e.resident_id = pg_temp.resident_id('Wang'), e.device_id = pg_temp.dev('smoke1'), e.device_kind)
             FROM sanse.event e WHERE e.device_id = pg_temp.dev('smoke1')),
          'warning grid t t smoke', 'a grid warning about the resident, naming the device and its kind');
SELECT is((SELECT round(extract(epoch FROM e.next_step_at - now()) / 60) FROM sanse.event e WHERE e.device_id = pg_temp.dev('smoke1')),
          10::numeric, 'its arrival clock started at the reading: the next level 15 minutes after it');
SELECT lives_ok(pg_temp.reading_sql('smoke1', '4 minutes', '0', true) || ', (' || pg_temp.dev('smoke1') || ', now() - interval ''3 minutes'', 0, true)',
                'two more alarms of the same detector');
SELECT lives_ok(pg_temp.reading_sql('smoke2', '2 minutes', '0', true), 'and one of the flat''s other smoke detector');
SELECT is(pg_temp.warnings_of('smoke1'), 'alarm called L1 lead m1 x3 @-5m', 'still one warning: the three readings counted on it (two detectors in one flat are one fire)');
SELECT lives_ok(pg_temp.reading_sql('smoke1', '1 minute', '0', false), 'a reading without alarm');
SELECT is(pg_temp.warnings_of('smoke1'), 'alarm called L1 lead m1 x3 @-5m', 'raises and counts nothing');
-- the warning is the inserting transaction's
SAVEPOINT s;
INSERT INTO sanse.reading VALUES (pg_temp.dev('corridor smoke'), now() - interval '1 minute', 0, true);
SELECT is(pg_temp.warnings_of('corridor smoke'), 'alarm called L1 lead m2 x0 @-1m', 'a corridor detector''s alarm: a warning about its area, for that micro grid''s leader');
ROLLBACK TO SAVEPOINT s;
SELECT is(pg_temp.warnings_of('corridor smoke'), '', 'rolled back with the reading');
INSERT INTO sanse.reading VALUES (pg_temp.dev('corridor smoke'), now() - interval '1 minute', 0, true);
SELECT is((SELECT e.resident_id FROM sanse.event e WHERE e.device_id = pg_temp.dev('corridor smoke')), NULL, 'without a resident');
-- above: strictly above the tier's threshold, or the row for every tier
SELECT lives_ok(pg_temp.reading_sql('gas li', '3 minutes', '20', false), 'gas at 20 %LEL in a blue home');
SELECT is(pg_temp.warnings_of('gas li'), '', 'is not above 20: nothing');
SELECT lives_ok(pg_temp.reading_sql('gas li', '2 minutes', '20.5', false), 'gas at 20.5');
SELECT is(pg_temp.warnings_of('gas li'), 'above called L1 lead m2 x0 @-2m', 'is above 20: a warning');
INSERT INTO sanse.device_rule (kind, rule, tier, threshold) VALUES ('gas', 'above', 'red', 10);
SELECT lives_ok(pg_temp.reading_sql('gas wang', '2 minutes', '15', false), 'gas at 15 in the red home, with a rule of 10 for red (added in this transaction)');
SELECT is(pg_temp.warnings_of('gas wang'), 'above called L1 lead m1 x0 @-2m', 'the tier''s own rule raises it');
SELECT lives_ok(pg_temp.reading_sql('gas li', '1 minute', '15', false), 'gas at 15 in the blue home');
SELECT is(pg_temp.warnings_of('gas li'), 'above called L1 lead m2 x0 @-2m', 'the rule for every tier (20) counts nothing');
-- below: a rule added for power meters
UPDATE sanse.device SET active = true WHERE id = pg_temp.dev('power li');
INSERT INTO sanse.device_rule (kind, rule, tier, threshold) VALUES ('power_meter', 'below', NULL, 0.01);
SELECT lives_ok(pg_temp.reading_sql('power li', '2 minutes', '0.005', false), 'a power meter reading 0.005');
SELECT is(pg_temp.warnings_of('power li'), 'below called L1 lead m2 x0 @-2m', 'is below 0.01: a warning');
-- an alarm flag where the kind has no alarm rule raises nothing
SELECT lives_ok(pg_temp.reading_sql('water', '1 minute', '1', true), 'a water meter''s alarm flag');
SELECT is(pg_temp.warnings_of('water'), '', 'raises nothing: water meters have no alarm rule');

-----------------------------------------------------------------------------
-- 4. closed, then the next alarm raises a new warning; late alarms
-----------------------------------------------------------------------------
SELECT lives_ok(format('SELECT pg_temp.close(%s, now() - interval ''30 seconds'')', (SELECT e.id FROM sanse.event e WHERE e.device_id = pg_temp.dev('smoke1'))),
                'the smoke warning goes round the loop and closes');
SELECT lives_ok(pg_temp.reading_sql('smoke2', '10 seconds', '0', true), 'the next smoke alarm');
SELECT is(pg_temp.warnings_of('smoke1'), 'alarm closed L1 lead m1 x3 @-5m; alarm called L1 lead m1 x0 @-0m', 'raises a new warning');
SELECT lives_ok(pg_temp.reading_sql('smoke1', '150 seconds', '0', true), 'an alarm synced late, dated while the first warning was open');
SELECT is(pg_temp.warnings_of('smoke1'), 'alarm closed L1 lead m1 x4 @-5m; alarm called L1 lead m1 x0 @-0m', 'counts on the warning that was open at its time');
-- an alarm synced 40 minutes late: its warning as if raised then, the steps due since taken
SELECT lives_ok(pg_temp.reading_sql('sos li', '40 minutes', '0', true), 'an SOS alarm synced 40 minutes late, before the open SOS warning');
SELECT is(pg_temp.warnings_of('sos li'), 'alarm called L3 lead tg x1 @-40m', 'the open warning nobody reached is called at the earlier reading, the later one a repeat');
SELECT is(pg_temp.steps_of((SELECT e.id FROM sanse.event e WHERE e.device_id = pg_temp.dev('sos li'))), 'L1 @-40m, L2 @-25m, L3 @-10m',
          'its steps are those of a call 40 minutes ago: every 15 minutes');
SELECT is((SELECT t.at = now() - interval '40 minutes' FROM sanse.event_transition t JOIN sanse.event e ON e.id = t.event_id
            WHERE e.device_id = pg_temp.dev('sos li') AND t.stage = 'called'), true, 'and its call is dated there');
INSERT INTO sanse.device (kind, resident_id, area_id) VALUES ('fall', pg_temp.resident_id('Li'), pg_temp.area_id('d')) RETURNING id AS fall \gset
INSERT INTO sanse.reading VALUES (:fall, now() - interval '50 minutes', NULL, true);
SELECT is((SELECT format('L%s %s next in %sm', e.level, w.name, round(extract(epoch FROM e.next_step_at - now()) / 60))
             FROM sanse.event e JOIN sanse.worker w ON w.id = e.assignee_id WHERE e.device_id = :fall),
          'L4 task force next in m', 'a fall alarm 50 minutes late: level 4 at once (steps at 35, 20 and 5 minutes ago), no clock left');

-----------------------------------------------------------------------------
-- 5. a forgotten resident: the reading is stored, nothing about the person
-----------------------------------------------------------------------------
SELECT sanse.forget_resident(pg_temp.resident_id('Li'), 'moved away');
SELECT lives_ok(format('INSERT INTO sanse.reading VALUES (%s, now(), NULL, true)', :fall), 'a forgotten resident''s fall detector still reports');
SELECT is((SELECT count(*) FROM sanse.event e WHERE e.device_id = :fall), 1::bigint, 'its alarm raises no warning about the person');
SELECT is((SELECT e.repeats FROM sanse.event e WHERE e.device_id = :fall), 0, 'nor counts on the old one');
SELECT is((SELECT count(*) FROM sanse.reading r WHERE r.device_id = :fall), 2::bigint, 'the reading itself is stored (device, time, value, alarm: nothing of the person)');

SELECT * FROM finish();
ROLLBACK;
