-- pgTAP: sanse.device_status (spec 10, issue 21), devices in the resident
-- profile, and who may read what of it (spec 8).
-- Fixture (shared district): M1 six red homes, each with a smoke detector
-- (one of them silent: its task open) and the first with a water meter
-- quiet (its warning open), and an alarm of the second; M2 two yellow
-- homes with a smoke detector each, one alarm.  Expected counts are worked
-- out from that by hand.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
SET LOCAL sanse.max_backdate = '10 years';
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(23);

INSERT INTO resident (area_id, name, factors, registered_at)
SELECT pg_temp.area_id(v.path), v.p || i, v.factors, '2024-05-01 00:00Z'
  FROM (VALUES ('d.t.v.tg.g.m1', 'm1 home ', 6, '{accident_risk}'::text[]),
               ('d.t.v.tg.g.m2', 'm2 home ', 2, '{partial_care,mobility_impaired}')) v(path, p, n, factors),
       generate_series(1, v.n) i;
DO $$ BEGIN PERFORM reading_partition(d::date) FROM generate_series('2024-05-05'::date, '2024-05-08', '1 day') d; END $$;
INSERT INTO device (kind, resident_id, area_id, report_every, installed_at)
SELECT 'smoke', r.id, r.area_id, '1 hour', '2024-05-06 00:00Z' FROM resident r ORDER BY r.id;
INSERT INTO device (kind, resident_id, area_id, report_every, installed_at)
SELECT 'water_meter', r.id, r.area_id, '1 hour', '2024-05-06 00:00Z' FROM resident r WHERE r.name = 'm1 home 1';
-- every smoke detector but m1 home 6's reports until 12:00; the meter is never used
INSERT INTO reading (device_id, at, value, alarm)
SELECT d.id, t, NULL, false
  FROM device d JOIN resident r ON r.id = d.resident_id, generate_series('2024-05-06 00:00Z'::timestamptz, '2024-05-06 12:00Z', '1 hour') t
 WHERE d.kind = 'smoke' AND r.name <> 'm1 home 6';
INSERT INTO reading (device_id, at, value)
SELECT d.id, t, 0 FROM device d, generate_series('2024-05-06 00:00Z'::timestamptz, '2024-05-06 12:00Z', '1 hour') t
 WHERE d.kind = 'water_meter';
INSERT INTO reading (device_id, at, value, alarm)
SELECT d.id, '2024-05-06 12:30Z', NULL, true
  FROM device d JOIN resident r ON r.id = d.resident_id WHERE d.kind = 'smoke' AND r.name IN ('m1 home 2', 'm2 home 1');
SELECT is(sweep_devices('2024-05-06 12:45Z'), 2, 'the sweep finds m1 home 6''s silent smoke detector (03:00) and the quiet meter (12:00)');
SELECT results_eq($$SELECT kind, rule, count(*) FROM event WHERE device_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2$$,
                  $$VALUES ('task'::text, 'silent'::text, 1::bigint), ('warning', 'alarm', 2), ('warning', 'quiet', 1)$$,
                  'fixture: one silent task, two alarms, one quiet warning');

-- 1. the counts, rolled up like coverage
SELECT results_eq($$SELECT path, devices, silent, open_warnings FROM device_status_all
                     WHERE path IN ('d', 'd.t.v.tg.g', 'd.t.v.tg.g.m1', 'd.t.v.tg.g.m2', 'd.t.v.tg.g2.m3', 'e') ORDER BY path$$,
                  $$VALUES ('d'::text, 9::bigint, 1::bigint, 3::bigint), ('d.t.v.tg.g', 9, 1, 3), ('d.t.v.tg.g.m1', 7, 1, 2),
                           ('d.t.v.tg.g.m2', 2, 0, 1), ('d.t.v.tg.g2.m3', 0, 0, 0), ('e', 0, 0, 0)$$,
                  'devices, silent and open warnings per area, rolled up the hierarchy (every area has a row)');
SELECT is(ARRAY(SELECT column_name::text FROM information_schema.columns
                 WHERE table_schema = 'sanse' AND table_name = 'device_status' ORDER BY ordinal_position),
          ARRAY['area_id', 'path', 'kind', 'name', 'devices', 'silent', 'open_warnings'],
          'device_status: areas and counts only (no resident, device, name or place)');
UPDATE device SET active = false WHERE kind = 'water_meter';
SELECT results_eq($$SELECT devices, silent, open_warnings FROM device_status_all WHERE path = 'd.t.v.tg.g.m1'$$,
                  $$VALUES (6::bigint, 1::bigint, 2::bigint)$$, 'an inactive device is not counted; its open warning still is');
UPDATE device SET active = true WHERE kind = 'water_meter';

-- 2. the grant recipe
CREATE ROLE t35_agg NOLOGIN;
CREATE ROLE t35_read NOLOGIN;
CREATE ROLE t35_care NOLOGIN;
CREATE ROLE t35_none NOLOGIN;
CREATE ROLE t35_hand NOLOGIN;
INSERT INTO area_grant (role, path, access)
VALUES ('t35_agg', 'd', 'aggregate'), ('t35_read', 'd.t.v.tg.g.m1', 'read'), ('t35_care', 'd.t.v.tg.g.m1', 'care');
GRANT USAGE ON SCHEMA sanse TO t35_hand;
GRANT SELECT ON device_status TO t35_hand;
SELECT results_eq($$SELECT r, has_table_privilege(r, 'sanse.device_status', 'SELECT') FROM unnest(ARRAY['t35_agg', 't35_read', 't35_care', 't35_none']) r$$,
                  $$VALUES ('t35_agg'::text, true), ('t35_read', true), ('t35_care', true), ('t35_none', false)$$,
                  'a grant row of any access gives device_status; none without');
SELECT results_eq($$SELECT t, bool_or(has_table_privilege(r, t, 'SELECT'))
                      FROM unnest(ARRAY['t35_agg', 't35_read', 't35_care']) r,
                           unnest(ARRAY['sanse.device_status_all', 'sanse.published_device_status', 'sanse.device_span']) t GROUP BY t ORDER BY t$$,
                  $$VALUES ('sanse.device_span'::text, false), ('sanse.device_status_all', false), ('sanse.published_device_status', false)$$,
                  'what lies beneath device_status is the owner''s');
SELECT results_eq($$SELECT f, has_function_privilege('t35_care', f, 'EXECUTE')
                      FROM unnest(ARRAY['sanse.sweep_devices(timestamptz)', 'sanse.reading_partitions_keep(timestamptz)',
                                        'sanse.device_span_raise(bigint, text, timestamptz, timestamptz)',
                                        'sanse.device_warning_cancel(bigint, timestamptz, text)',
                                        'sanse.device_spans_disprove(timestamptz)']) f$$,
                  $$VALUES ('sanse.sweep_devices(timestamptz)'::text, false), ('sanse.reading_partitions_keep(timestamptz)', false),
                           ('sanse.device_span_raise(bigint, text, timestamptz, timestamptz)', false),
                           ('sanse.device_warning_cancel(bigint, timestamptz, text)', false),
                           ('sanse.device_spans_disprove(timestamptz)', false)$$,
                  'the sweep''s device functions are not executable by app roles (sweep runs them as the owner)');

-- 3. what each role reads
SET LOCAL ROLE t35_read;
SELECT results_eq($$SELECT path, devices, silent, open_warnings FROM sanse.device_status ORDER BY path$$,
                  $$VALUES ('d.t.v.tg.g.m1'::text, 7::bigint, 1::bigint, 2::bigint)$$,
                  'a read role sees its own grid, exactly');
RESET ROLE;
SET LOCAL ROLE t35_hand;
SELECT is((SELECT count(*) FROM sanse.device_status), 0::bigint, 'a role with SELECT granted by hand but no grant row sees no row');
RESET ROLE;
SET LOCAL ROLE t35_none;
SELECT is(pg_temp.sqlstate_of('SELECT * FROM sanse.device_status'), '42501', 'a role without a grant may not read it');
RESET ROLE;

-- 4. aggregate roles read the published rows, small cells hidden
SET LOCAL ROLE t35_agg;
SELECT is((SELECT count(*) FROM sanse.device_status), 0::bigint, 'an aggregate role reads nothing before the sweep published');
RESET ROLE;
SELECT ok(publish_screen('2024-05-06 12:45Z') >= 0, 'the screen is published');
SET LOCAL ROLE t35_agg;
SELECT results_eq($$SELECT path, devices, silent, open_warnings FROM sanse.device_status
                     WHERE path IN ('d.t.v.tg.g.m1', 'd.t.v.tg.g.m2') ORDER BY path$$,
                  $$VALUES ('d.t.v.tg.g.m1'::text, NULL::bigint, NULL::bigint, NULL::bigint), ('d.t.v.tg.g.m2', NULL, 0, NULL)$$,
                  'counts from 1 to sanse.min_cell - 1 are hidden (M2''s two devices, M1''s one silent, the warnings), M1''s seven devices as their complement');
SELECT is((SELECT count(*) FROM sanse.device_status s
            WHERE s.devices IS NULL AND s.path IN ('d.t.v.tg.g', 'd.t.v.tg.g.m1', 'd.t.v.tg.g.m2')), 2::bigint,
          'M2''s hidden devices are not alone in their group (G = M1 + M2): a complement is hidden');
SELECT is((SELECT count(*) FROM sanse.device_status s
            WHERE s.open_warnings IS NULL AND s.kind = 'micro_grid' AND s.path LIKE 'd.t.v.tg.g.%'), 2::bigint,
          'open warnings of M1 and M2 both hidden');
RESET ROLE;
SELECT is((SELECT count(*) FROM (SELECT p.area_id, m FROM published_device_status p,
                                        LATERAL (VALUES ('devices', p.devices), ('silent', p.silent), ('open_warnings', p.open_warnings)) x(m, v)
                                  WHERE v BETWEEN 1 AND 4) q), 0::bigint,
          'no published count is between 1 and 4');
SELECT is((SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = 'sanse.loop_metrics'::regclass AND a.attnum > 0
            ORDER BY a.attnum DESC LIMIT 1), 'cancelled', 'loop_metrics has the column cancelled');
SELECT is((SELECT count(*) FROM published_loop_metrics WHERE kind = 'warning' AND cancelled IS NOT NULL AND cancelled BETWEEN 1 AND 4),
          0::bigint, 'published: cancelled is a cell suppressed like the others');

-- 5. the profile: a care role reads its residents' devices
SET LOCAL ROLE t35_care;
SELECT results_eq($$SELECT jsonb_array_length(devices), devices -> 0 ->> 'kind', (devices -> 0 ->> 'silent')::boolean,
                           devices -> 1 ->> 'kind'
                      FROM sanse.resident_profile WHERE name = 'm1 home 1'$$,
                  $$VALUES (2, 'smoke'::text, false, 'water_meter'::text)$$,
                  'resident_profile lists the resident''s devices');
SELECT is((SELECT (devices -> 0 ->> 'silent')::boolean FROM sanse.resident_profile WHERE name = 'm1 home 6'), true,
          'and says which is silent now');
RESET ROLE;
SET LOCAL ROLE t35_read;
SELECT is(pg_temp.sqlstate_of('SELECT devices FROM sanse.resident_profile'), '42501', 'a read role may not read profiles');
RESET ROLE;

-- 6. deleting the grant row takes device_status back
DELETE FROM area_grant WHERE role = 't35_agg';
SELECT is(has_table_privilege('t35_agg', 'sanse.device_status', 'SELECT'), false, 'deleting the grant row takes it back');

SELECT * FROM finish();
ROLLBACK;
