-- pgTAP: who may do what with devices and readings (spec 8 and 10, issue
-- 21).  A gateway holds INSERT on sanse.reading and nothing else (the
-- recipe in doc/devices.md): it appends readings by INSERT and COPY, its
-- alarms raise warnings, and it reads nothing, people least of all.  Devices
-- are shown by area grant (row-level security), written by care roles in
-- their subtree, with the write path's columns theirs to read only;
-- readings are read through sanse.device_reading, by the same grants.
-- Fails closed: a role with no grant row sees no device and no reading,
-- whatever was granted by hand; deleting the grant row takes it all back.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL sanse.timezone = 'Asia/Shanghai';
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(46);

CREATE TEMP TABLE parts AS SELECT sanse.reading_partition(d::date)
  FROM generate_series((now() AT TIME ZONE 'Asia/Shanghai')::date - 1, (now() AT TIME ZONE 'Asia/Shanghai')::date + 1, '1 day') d;
INSERT INTO sanse.resident (area_id, name, factors, registered_at) VALUES
	(pg_temp.area_id('d.t.v.tg.g.m1'), 'Wang', '{sudden_illness,no_caregiver}', now() - interval '3 days'),
	(pg_temp.area_id('d.t.v.tg2.g.m4'), 'Zhao', '{}', now() - interval '3 days');
INSERT INTO sanse.device (kind, resident_id, area_id) VALUES ('smoke', pg_temp.resident_id('Wang'), pg_temp.area_id('d')) RETURNING id AS wang_smoke \gset
INSERT INTO sanse.device (kind, resident_id, area_id) VALUES ('sos', pg_temp.resident_id('Zhao'), pg_temp.area_id('d')) RETURNING id AS zhao_sos \gset

-- the roles: the gateway by the recipe, and one per access of area_grant
CREATE ROLE t33_gateway NOLOGIN;
GRANT INSERT ON sanse.reading TO t33_gateway;
CREATE ROLE t33_care NOLOGIN;
CREATE ROLE t33_read NOLOGIN;
CREATE ROLE t33_agg NOLOGIN;
CREATE ROLE t33_none NOLOGIN;
INSERT INTO sanse.area_grant (role, path, access) VALUES
	('t33_care', 'd.t.v.tg.g', 'care'), ('t33_read', 'd.t.v.tg2', 'read'), ('t33_agg', 'd', 'aggregate');
-- privileges granted by hand widen columns, never rows
GRANT SELECT ON sanse.device, sanse.device_reading TO t33_none;
CREATE FUNCTION pg_temp.count_as(r name, q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE format('SET LOCAL ROLE %I', r);
	EXECUTE q INTO n;
	RESET ROLE;
	RETURN n;
END
$$;

-----------------------------------------------------------------------------
-- 1. the gateway appends, and reads nothing
-----------------------------------------------------------------------------
SELECT is(pg_temp.sqlstate_as('t33_gateway', format('INSERT INTO sanse.reading (device_id, at, value, alarm) VALUES (%s, now() - interval ''2 minutes'', 0, true), (%s, now() - interval ''1 minute'', 1, false)',
                                                      :wang_smoke, :zhao_sos)), 'ok', 'the gateway appends readings with a multi-row INSERT');
SELECT is((SELECT count(*) FROM sanse.event e WHERE e.device_id = :wang_smoke AND e.kind = 'warning'), 1::bigint, 'its alarm raised the warning');
SELECT is((SELECT t.acted_as FROM sanse.event_transition t JOIN sanse.event e ON e.id = t.event_id WHERE e.device_id = :wang_smoke AND t.stage = 'called'),
          't33_gateway'::name, 'and the call records the gateway as the role acting');
SAVEPOINT gw_copy;
SET LOCAL ROLE t33_gateway;
\set ON_ERROR_STOP 0
COPY sanse.reading (device_id, at, value, alarm) FROM STDIN;
1	2020-01-01 00:00:00+00	0	f
\.
ROLLBACK TO SAVEPOINT gw_copy;
\set ON_ERROR_STOP 1
SELECT is((SELECT count(*) FROM sanse.reading WHERE at < '2021-01-01'), 0::bigint, 'a day without a partition (dropped after retention) refuses the batch');
-- the batch as a gateway would send it (psql does not expand variables in
-- COPY data; pg_prove runs psql unaligned, tuples only)
SELECT format(E'%s\t%s\t0\tt', :zhao_sos, now() - interval '30 seconds') \g /tmp/sanse_t33_batch.tsv
SET LOCAL ROLE t33_gateway;
\copy sanse.reading (device_id, at, value, alarm) FROM '/tmp/sanse_t33_batch.tsv'
RESET ROLE;
SELECT is((SELECT count(*) FROM sanse.reading WHERE device_id = :zhao_sos), 2::bigint, 'the gateway appends with COPY');
SELECT is((SELECT e.rule FROM sanse.event e WHERE e.device_id = :zhao_sos), 'alarm', 'and the COPY''s alarm raised its warning');
SELECT is(pg_temp.sqlstate_as('t33_gateway', t.q), '42501', t.description)
  FROM (VALUES
	('the gateway reads no reading', 'SELECT count(*) FROM sanse.reading'),
	('nor through the view', 'SELECT count(*) FROM sanse.device_reading'),
	('nor devices', 'SELECT count(*) FROM sanse.device'),
	('nor residents', 'SELECT count(*) FROM sanse.resident'),
	('nor events', 'SELECT count(*) FROM sanse.event'),
	('nor its own rows back (INSERT ... RETURNING)', format('INSERT INTO sanse.reading VALUES (%s, now(), 1) RETURNING value', :zhao_sos)),
	('it changes no reading', 'UPDATE sanse.reading SET value = 0'),
	('it deletes no reading', 'DELETE FROM sanse.reading'),
	('nor writes a partition directly', format('INSERT INTO sanse.%I VALUES (%s, now(), 1)', sanse.reading_partition_name((now() AT TIME ZONE 'Asia/Shanghai')::date), :zhao_sos)),
	('nor registers devices', format('INSERT INTO sanse.device (kind, area_id) VALUES (''smoke'', %s)', pg_temp.area_id('d.t.v.tg.g.m1'))),
	('nor calls the write path''s functions itself', format('SELECT sanse.device_warning(%s, ''alarm'', now(), 0)', :wang_smoke)),
	('... or device_seen', format('SELECT sanse.device_seen(ARRAY[%s]::bigint[], ARRAY[now()], ARRAY[now()])', :wang_smoke)),
	('nor makes partitions', 'SELECT sanse.reading_partition(''2030-01-01'')')
  ) t(description, q);

-----------------------------------------------------------------------------
-- 2. care, read, aggregate, no grant: devices and readings by area
-----------------------------------------------------------------------------
SELECT is(pg_temp.count_as('t33_care', 'SELECT count(*) FROM sanse.device'), 1::bigint, 'care on G sees the device in M1, not the one in M4');
SELECT is(pg_temp.count_as('t33_care', 'SELECT count(*) FROM sanse.device_reading'), 1::bigint, '... and its readings only');
SELECT is(pg_temp.count_as('t33_read', 'SELECT count(*) FROM sanse.device'), 1::bigint, 'read on TG2 sees the device in M4');
SELECT is(pg_temp.count_as('t33_read', 'SELECT count(*) FROM sanse.device_reading'), 2::bigint, '... and its readings only');
SELECT is(pg_temp.count_as('t33_read', 'SELECT count(*) FROM sanse.event WHERE kind = ''warning'''), 1::bigint, '... and the warnings of its area only');
SELECT is(pg_temp.count_as('t33_none', 'SELECT count(*) FROM sanse.device'), 0::bigint, 'no grant row: no device, whatever SELECT was granted by hand');
SELECT is(pg_temp.count_as('t33_none', 'SELECT count(*) FROM sanse.device_reading'), 0::bigint, 'no grant row: no reading');
SELECT is(pg_temp.sqlstate_as('t33_agg', 'SELECT count(*) FROM sanse.device'), '42501', 'aggregate access reads no device');
SELECT is(pg_temp.sqlstate_as('t33_agg', 'SELECT count(*) FROM sanse.device_reading'), '42501', 'nor any reading');
SELECT is(pg_temp.sqlstate_as(t.r, t.q), t.expected, t.description)
  FROM (VALUES
	('care registers a device in its subtree', 't33_care',
	 format('INSERT INTO sanse.device (kind, resident_id, area_id, report_every) VALUES (''door'', %s, %s, ''5 minutes'')', pg_temp.resident_id('Wang'), pg_temp.area_id('d.t.v.tg.g.m1')), 'ok'),
	('care registers a corridor device in its subtree', 't33_care',
	 format('INSERT INTO sanse.device (kind, area_id) VALUES (''smoke'', %s)', pg_temp.area_id('d.t.v.tg.g.m2')), 'ok'),
	('care registers no device for a resident outside it (the area follows the resident)', 't33_care',
	 format('INSERT INTO sanse.device (kind, resident_id, area_id) VALUES (''door'', %s, %s)', pg_temp.resident_id('Zhao'), pg_temp.area_id('d.t.v.tg.g.m1')), '42501'),
	('nor in an area outside it', 't33_care',
	 format('INSERT INTO sanse.device (kind, area_id) VALUES (''smoke'', %s)', pg_temp.area_id('d.t.v.tg2.g.m4')), '42501'),
	('care may not write the write path''s last times', 't33_care', 'UPDATE sanse.device SET last_reading_at = now()', '42501'),
	('care deactivates a device in its subtree', 't33_care', format('UPDATE sanse.device SET active = false WHERE id = %s', :wang_smoke), 'ok'),
	('care deletes no device (deactivate it)', 't33_care', format('DELETE FROM sanse.device WHERE id = %s', :wang_smoke), '42501'),
	('care writes no rule', 't33_care', 'UPDATE sanse.device_rule SET threshold = 1 WHERE rule = ''above''', '42501'),
	('read registers no device', 't33_read', format('INSERT INTO sanse.device (kind, area_id) VALUES (''smoke'', %s)', pg_temp.area_id('d.t.v.tg2.g.m4')), '42501'),
	('read changes no device', 't33_read', format('UPDATE sanse.device SET active = false WHERE id = %s', :zhao_sos), '42501'),
	('every role reads the rules', 't33_none', 'SELECT count(*) FROM sanse.device_rule', 'ok'),
	('and the vocabularies', 't33_gateway', 'SELECT count(*) FROM sanse.device_kind, sanse.device_rule_kind', 'ok')
  ) t(description, r, q, expected);
SELECT is((SELECT d.area_id FROM sanse.device d WHERE d.kind = 'door'), pg_temp.area_id('d.t.v.tg.g.m1'), 'the care role''s device is in its resident''s micro grid');
SELECT is(pg_temp.count_as('t33_care', format('WITH u AS (UPDATE sanse.device SET active = false WHERE id = %s RETURNING 1) SELECT count(*) FROM u', :zhao_sos)),
          0::bigint, 'care changes no device outside its subtree (no row to change)');
SELECT is((SELECT d.active FROM sanse.device d WHERE d.id = :wang_smoke), false, 'the care role''s deactivation stuck');
SELECT is(pg_temp.sqlstate_as('t33_gateway', format('INSERT INTO sanse.reading VALUES (%s, now(), 1)', :wang_smoke)), '55000',
          'and the gateway''s next reading of it is refused at once');

-----------------------------------------------------------------------------
-- 3. the grant row is the recipe: deleting it takes devices back
-----------------------------------------------------------------------------
DELETE FROM sanse.area_grant WHERE role = 't33_care';
SELECT is(pg_temp.sqlstate_as('t33_care', 'SELECT count(*) FROM sanse.device'), '42501', 'the grant row deleted: no devices');
SELECT is(pg_temp.sqlstate_as('t33_care', 'SELECT count(*) FROM sanse.device_reading'), '42501', 'no readings');

SELECT * FROM finish();
ROLLBACK;
