-- pgTAP: the resident trigger — tiers, overrides, history, the window
-- invariant under tier and policy changes, ID numbers.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'Asia/Shanghai';
SELECT plan(35);

SELECT has_column('sanse', 'resident', c, format('resident.%s', c))
  FROM unnest(ARRAY['id', 'area_id', 'name', 'factors', 'tier', 'tier_override', 'override_reason', 'registered_at',
                    'last_visit_at', 'next_visit', 'active', 'lat', 'lon']) c;
SELECT col_type_is('sanse', 'resident', 'tier', 'sanse', 'risk_tier', 'resident.tier is a risk_tier');
SELECT col_type_is('sanse', 'resident', 'next_visit', 'sanse', 'visit_window', 'resident.next_visit is a visit_window');

INSERT INTO area (path, kind, name) VALUES ('r', 'district', 'R'), ('r.t', 'town', 'T'), ('r.t.v', 'village', 'V'),
  ('r.t.v.tg', 'total_grid', 'TG'), ('r.t.v.tg.g', 'general_grid', 'G'), ('r.t.v.tg.g.m', 'micro_grid', 'M');

-- a client writing the derived columns changes nothing
INSERT INTO resident (area_id, name, factors, registered_at, tier, next_visit)
SELECT id, 'Wang', '{partial_care,unstable_chronic}', '2024-03-06 10:00+08', 'blue', '[2030-01-01,2030-01-02)'
  FROM area WHERE kind = 'micro_grid';
SELECT results_eq($$SELECT tier::text, computed_tier::text, next_visit FROM sanse.resident WHERE name = 'Wang'$$,
                  $$VALUES ('yellow'::text, 'yellow'::text, '[2024-03-11 00:00+08,2024-03-18 00:00+08)'::sanse.visit_window)$$,
                  'tier and next_visit are computed, whatever the client wrote (Wed 03-06 -> the week of Mon 03-11)');

-- overrides need a reason; who and when are sanse's
SELECT throws_ok($$UPDATE sanse.resident SET tier_override = 'red' WHERE name = 'Wang'$$, '23502', NULL, 'an override needs a reason');
SELECT throws_ok($$UPDATE sanse.resident SET tier_override = 'red', override_reason = '  ' WHERE name = 'Wang'$$, '23502', NULL, 'a blank reason is no reason');
UPDATE resident SET tier_override = 'red', override_reason = 'fell at home', override_by = 'someone_else' WHERE name = 'Wang';
SELECT results_eq($$SELECT tier::text, override_by::text, override_at = now() FROM sanse.resident WHERE name = 'Wang'$$,
                  $$VALUES ('red'::text, current_user::text, true)$$, 'the override takes effect, by current_user, now');
-- an upgrade re-derives the window from the same anchor: red, rolling 2 days from registration: overdue at once
SELECT is((SELECT next_visit FROM resident WHERE name = 'Wang'), '[2024-03-06 10:00+08,2024-03-08 10:00+08)'::visit_window,
          'the upgrade re-derives next_visit from the same anchor');
SELECT ok((SELECT is_overdue(next_visit, now()) FROM resident WHERE name = 'Wang'), 'which can be overdue at once');
UPDATE resident SET tier_override = NULL WHERE name = 'Wang';
SELECT results_eq($$SELECT tier::text, override_reason, override_by, override_at, next_visit FROM sanse.resident WHERE name = 'Wang'$$,
                  $$VALUES ('yellow'::text, NULL::text, NULL::name, NULL::timestamptz, '[2024-03-11 00:00+08,2024-03-18 00:00+08)'::sanse.visit_window)$$,
                  'clearing the override falls back to the computed tier; toggling never postpones the due date');

-- history
SELECT results_eq($$SELECT old_computed_tier::text, new_computed_tier::text, old_override::text, new_override::text,
                           old_tier::text, new_tier::text, h.override_reason, changed_by::text
                      FROM sanse.tier_history h JOIN sanse.resident r ON r.id = h.resident_id WHERE r.name = 'Wang' ORDER BY h.id$$,
                  $$VALUES (NULL, 'yellow', NULL, NULL, NULL, 'yellow', NULL, current_user::text),
                           ('yellow', 'yellow', NULL, 'red', 'yellow', 'red', 'fell at home', current_user::text),
                           ('yellow', 'yellow', 'red', NULL, 'red', 'yellow', NULL, current_user::text)$$,
                  'every change of computed tier, override or tier is in the history with who');
UPDATE resident SET name = 'Wang Fang', lat = 30.6 WHERE name = 'Wang';
SELECT is((SELECT count(*) FROM tier_history h JOIN resident r ON r.id = h.resident_id WHERE r.name = 'Wang Fang'), 3::bigint,
          'an update that moves no tier writes no history');

-- leaving the programme
UPDATE resident SET factors = '{lives_alone}' WHERE name = 'Wang Fang';
SELECT results_eq($$SELECT tier, next_visit FROM sanse.resident WHERE name = 'Wang Fang'$$,
                  $$VALUES (NULL::sanse.risk_tier, NULL::sanse.visit_window)$$, 'no tier: out of the programme, no error');
UPDATE resident SET factors = '{accident_risk}', active = false WHERE name = 'Wang Fang';
SELECT results_eq($$SELECT tier::text, next_visit FROM sanse.resident WHERE name = 'Wang Fang'$$,
                  $$VALUES ('red'::text, NULL::sanse.visit_window)$$, 'inactive: tier kept, no window');
UPDATE resident SET active = true, last_visit_at = '2024-03-09 08:00+08' WHERE name = 'Wang Fang';
SELECT is((SELECT next_visit FROM resident WHERE name = 'Wang Fang'), '[2024-03-09 08:00+08,2024-03-11 08:00+08)'::visit_window,
          'the last visit is the anchor');

-- a policy change re-derives that tier's residents only
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT id, 'Li', '{mobility_impaired}', '2024-03-06 10:00+08' FROM area WHERE kind = 'micro_grid';
UPDATE tier_policy SET cadence = 'rolling 3 days' WHERE tier = 'red';
SELECT results_eq($$SELECT name, next_visit FROM sanse.resident ORDER BY name$$,
                  $$VALUES ('Li'::text, '[2024-04-01 00:00+08,2024-05-01 00:00+08)'::sanse.visit_window),
                           ('Wang Fang', '[2024-03-09 08:00+08,2024-03-12 08:00+08)')$$,
                  'a new red cadence moves red windows and leaves blue ones');
SELECT ok((SELECT count(*) FROM event e JOIN resident r ON r.id = e.resident_id
            WHERE r.name = 'Wang Fang' AND e.due_at = '2024-03-11 08:00+08') = 1,
          'the passed red window it replaced is recorded as an overdue event (a change never hides a miss)');

-- the zone setting drives the windows
SET LOCAL sanse.timezone = 'Europe/Berlin';
UPDATE resident SET factors = factors WHERE name = 'Li';
SELECT is((SELECT next_visit FROM resident WHERE name = 'Li'), '[2024-04-01 00:00+02,2024-05-01 00:00+02)'::visit_window,
          'calendar windows follow sanse.timezone');
RESET sanse.timezone;

-- ID card numbers: only a keyed hash is kept
UPDATE resident SET id_number = ' 51010119400101123x ' WHERE name = 'Li';
SELECT results_eq($$SELECT id_number, length(id_number_hash) FROM sanse.resident WHERE name = 'Li'$$,
                  $$VALUES (NULL::text, 32)$$, 'the clear number is replaced by a 32-byte HMAC');
SELECT ok((SELECT row_to_json(r)::text NOT LIKE '%51010119400101123%' FROM resident r WHERE name = 'Li'), 'the clear number is nowhere in the row');
SELECT is((SELECT array_agg(x) FROM find_resident_by_id_number('51010119400101123X') x), ARRAY[(SELECT id FROM resident WHERE name = 'Li')],
          'find_resident_by_id_number normalises blanks and case');
CREATE ROLE regress_sanse_reader;
GRANT USAGE ON SCHEMA sanse TO regress_sanse_reader;
SET LOCAL ROLE regress_sanse_reader;
SELECT throws_ok($$SELECT secret FROM sanse.installation_secret$$, '42501', NULL, 'the installation secret is the owner''s alone');
SELECT throws_ok($$SELECT sanse.find_resident_by_id_number('51010119400101123X')$$, '42501', NULL, 'ID lookups are granted, not public');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
