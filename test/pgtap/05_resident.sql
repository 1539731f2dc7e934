-- pgTAP: the resident trigger (spec 3, 4, 6; issue 3): derived tiers and the
-- window invariant from any client, overrides, tier history, policy changes,
-- ID numbers and the installation secret, the zone setting.
-- Expected windows are worked out by hand from the default cadences
-- (red rolling 2 days, yellow calendar week, blue calendar month) in
-- Asia/Shanghai (+08, no DST).  2024-03-01 is a Friday, so the calendar week
-- containing 2024-03-01 09:00+08 is Mon 02-26 .. Mon 03-04 and the next one
-- Mon 03-04 .. Mon 03-11.  Everything is rolled back.
BEGIN;
SET LOCAL search_path = public, sanse;
\ir include/helpers.psql
\ir include/district.psql
SET LOCAL sanse.timezone = 'Asia/Shanghai';
SET LOCAL TimeZone = 'UTC';
SELECT plan(138);

-- a resident's row by name
CREATE FUNCTION pg_temp.resident_row(n text) RETURNS sanse.resident LANGUAGE sql
RETURN (SELECT r FROM sanse.resident r WHERE r.name = n);

SELECT has_function('sanse', 'find_resident_by_id_number', ARRAY['text', 'text'], 'find_resident_by_id_number(text, text) exists');
SELECT has_trigger('sanse', 'resident', 'resident_20_maintain', 'resident has the maintaining trigger');

---------------------------------------------------------------------------
-- Derived columns on insert and update; client values are replaced
---------------------------------------------------------------------------
SELECT lives_ok($$
	INSERT INTO sanse.resident (area_id, name, factors, registered_at, tier, computed_tier, next_visit, override_by, override_at)
	VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'a', '{accident_risk}', '2024-03-01 09:00+08', 'blue', 'blue',
	        '[2000-01-01,2000-01-02)', 'mallory', '2000-01-01')
$$, 'insert with client-written derived columns');
SELECT is((pg_temp.resident_row('a')).computed_tier, 'red', 'computed_tier is classify(factors), not the client''s blue');
SELECT is((pg_temp.resident_row('a')).tier, 'red', 'tier is the computed red, not the client''s blue');
SELECT is((pg_temp.resident_row('a')).next_visit, sanse.visit_window('2024-03-01 09:00+08', '2024-03-03 09:00+08'),
	'next_visit is [registered, +2 days) for red, not the client''s window');
SELECT is((pg_temp.resident_row('a')).next_visit, sanse.window_after('red'::sanse.risk_tier, '2024-03-01 09:00+08'),
	'next_visit = window_after(tier, registered_at)');
SELECT ok((pg_temp.resident_row('a')).override_by IS NULL AND (pg_temp.resident_row('a')).override_at IS NULL,
	'override_by/override_at written by the client without an override are dropped');

UPDATE sanse.resident SET tier = 'blue', computed_tier = NULL, next_visit = '[2000-01-01,2000-01-02)' WHERE name = 'a';
SELECT is((pg_temp.resident_row('a')).tier, 'red', 'an UPDATE of tier by a client is undone');
SELECT is((pg_temp.resident_row('a')).computed_tier, 'red', 'an UPDATE of computed_tier by a client is undone');
SELECT is((pg_temp.resident_row('a')).next_visit, sanse.visit_window('2024-03-01 09:00+08', '2024-03-03 09:00+08'),
	'an UPDATE of next_visit by a client is undone');

UPDATE sanse.resident SET factors = '{partial_care,unstable_chronic}' WHERE name = 'a';
SELECT is((pg_temp.resident_row('a')).tier, 'yellow', 'new factors: yellow');
SELECT is((pg_temp.resident_row('a')).next_visit, sanse.visit_window('2024-03-04 00:00+08', '2024-03-11 00:00+08'),
	'yellow: the calendar week after the one holding the registration');
UPDATE sanse.resident SET last_visit_at = '2024-03-05 15:00+08' WHERE name = 'a';
SELECT is((pg_temp.resident_row('a')).next_visit, sanse.visit_window('2024-03-11 00:00+08', '2024-03-18 00:00+08'),
	'a visit on Tue 03-05 anchors the window: the week of 03-11');
UPDATE sanse.resident SET factors = '{self_care_difficulty}' WHERE name = 'a';
SELECT is((pg_temp.resident_row('a')).next_visit, sanse.visit_window('2024-04-01 00:00+08', '2024-05-01 00:00+08'),
	'blue: the calendar month after the last visit');
SELECT lives_ok($$UPDATE sanse.resident SET factors = '{}' WHERE name = 'a'$$, 'losing every factor is not an error');
SELECT ok((pg_temp.resident_row('a')).tier IS NULL AND (pg_temp.resident_row('a')).computed_tier IS NULL,
	'without factors the resident has no tier');
SELECT is((pg_temp.resident_row('a')).next_visit, NULL, '... and leaves the programme: next_visit NULL');
UPDATE sanse.resident SET factors = '{accident_risk}' WHERE name = 'a';
SELECT is((pg_temp.resident_row('a')).next_visit, sanse.visit_window('2024-03-05 15:00+08', '2024-03-07 15:00+08'),
	'back to red: [last visit, +2 days)');
UPDATE sanse.resident SET active = false WHERE name = 'a';
SELECT is((pg_temp.resident_row('a')).next_visit, NULL, 'an inactive resident has no next_visit');
SELECT is((pg_temp.resident_row('a')).tier, 'red', '... but keeps its tier');
UPDATE sanse.resident SET active = true WHERE name = 'a';
SELECT is((pg_temp.resident_row('a')).next_visit, sanse.visit_window('2024-03-05 15:00+08', '2024-03-07 15:00+08'),
	'reactivated, the window is derived again');
UPDATE sanse.resident SET last_visit_at = NULL WHERE name = 'a';
SELECT is((pg_temp.resident_row('a')).next_visit, sanse.visit_window('2024-03-01 09:00+08', '2024-03-03 09:00+08'),
	'without a last visit the registration is the anchor again');

INSERT INTO sanse.resident (area_id, name, factors, registered_at, active)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'a_inactive', '{accident_risk}', '2024-03-01 09:00+08', false);
SELECT ok((pg_temp.resident_row('a_inactive')).tier = 'red' AND (pg_temp.resident_row('a_inactive')).next_visit IS NULL,
	'a resident inserted inactive has a tier and no next_visit');
INSERT INTO sanse.resident (area_id, name, factors) VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'a_now', '{accident_risk}');
SELECT is((pg_temp.resident_row('a_now')).next_visit, sanse.visit_window(now(), now() + interval '2 days'),
	'registered_at defaults to now and anchors the window');
INSERT INTO sanse.resident (area_id, name, factors, registered_at, next_visit)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'a_none', '{lives_alone}', '2024-03-01 09:00+08', '[2024-03-01,2024-03-02)');
SELECT ok((pg_temp.resident_row('a_none')).tier IS NULL AND (pg_temp.resident_row('a_none')).next_visit IS NULL,
	'a resident no rule matches is inserted without tier or window, whatever the client wrote');

---------------------------------------------------------------------------
-- Overrides
---------------------------------------------------------------------------
INSERT INTO sanse.resident (area_id, name, factors, registered_at)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'b', '{self_care_difficulty}', '2024-03-01 09:00+08');
SELECT is(pg_temp.sqlstate_of(stmt), expected, description)
  FROM (VALUES
    ('an override without a reason is refused (23502)', $$UPDATE sanse.resident SET tier_override = 'red' WHERE name = 'b'$$, '23502'),
    ('an override with a blank reason is refused (23502)', $$UPDATE sanse.resident SET tier_override = 'red', override_reason = '   ' WHERE name = 'b'$$, '23502'),
    ('an override with an empty reason is refused (23502)', $$UPDATE sanse.resident SET tier_override = 'red', override_reason = '' WHERE name = 'b'$$, '23502'),
    ('inserting an override without a reason is refused (23502)', $$INSERT INTO sanse.resident (area_id, name, factors, tier_override) VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'x', '{}', 'yellow')$$, '23502')
  ) t(description, stmt, expected);
SELECT lives_ok($$UPDATE sanse.resident SET tier_override = 'red', override_reason = 'fell twice',
                        override_by = 'mallory', override_at = '2000-01-01' WHERE name = 'b'$$,
	'an override with a reason is accepted');
SELECT is((pg_temp.resident_row('b')).tier, 'red', 'the override is the effective tier');
SELECT is((pg_temp.resident_row('b')).computed_tier, 'blue', 'the computed tier is kept beside it');
SELECT is((pg_temp.resident_row('b')).override_reason, 'fell twice', 'the reason is kept');
SELECT is((pg_temp.resident_row('b')).override_by, current_user, 'override_by is current_user, not what the client wrote');
SELECT is((pg_temp.resident_row('b')).override_at, now(), 'override_at is the time of the change, not what the client wrote');
SELECT is((pg_temp.resident_row('b')).next_visit, sanse.visit_window('2024-03-01 09:00+08', '2024-03-03 09:00+08'),
	'the window follows the overriding tier (red)');
UPDATE sanse.resident SET name = 'b', override_by = 'mallory' WHERE name = 'b';
SELECT is((pg_temp.resident_row('b')).override_by, current_user, 'override_by cannot be rewritten while the override stands');
SELECT lives_ok($$UPDATE sanse.resident SET tier_override = NULL WHERE name = 'b'$$, 'the override is cleared');
SELECT ok((pg_temp.resident_row('b')).override_reason IS NULL AND (pg_temp.resident_row('b')).override_by IS NULL AND (pg_temp.resident_row('b')).override_at IS NULL,
	'clearing the override clears reason, who and when');
SELECT is((pg_temp.resident_row('b')).tier, 'blue', 'the tier falls back to the computed one');
SELECT is((pg_temp.resident_row('b')).next_visit, sanse.visit_window('2024-04-01 00:00+08', '2024-05-01 00:00+08'),
	'and the window to the blue one');

INSERT INTO sanse.resident (area_id, name, factors, registered_at, tier_override, override_reason)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'b_none', '{lives_alone}', '2024-03-01 09:00+08', 'yellow', 'neighbours asked');
SELECT ok((pg_temp.resident_row('b_none')).computed_tier IS NULL AND (pg_temp.resident_row('b_none')).tier = 'yellow',
	'an override puts a resident no rule matches into the programme');
SELECT is((pg_temp.resident_row('b_none')).override_by, current_user, 'an override given at insert records who');
SELECT is((pg_temp.resident_row('b_none')).next_visit, sanse.visit_window('2024-03-04 00:00+08', '2024-03-11 00:00+08'),
	'with the overriding tier''s window');
UPDATE sanse.resident SET tier_override = NULL WHERE name = 'b_none';
SELECT ok((pg_temp.resident_row('b_none')).tier IS NULL AND (pg_temp.resident_row('b_none')).next_visit IS NULL,
	'clearing it takes the resident out of the programme again');

---------------------------------------------------------------------------
-- History
---------------------------------------------------------------------------
INSERT INTO sanse.resident (area_id, name, factors, registered_at)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'c', '{unstable_chronic}', '2024-03-01 09:00+08');
SELECT is(pg_temp.history_rows('c'), 1, 'a new resident with a tier has one history row');
UPDATE sanse.resident SET name = 'c' WHERE name = 'c';
SELECT is(pg_temp.history_rows('c'), 1, 'an UPDATE of the name writes no history');
UPDATE sanse.resident SET last_visit_at = '2024-03-02 10:00+08', lat = 30.6, lon = 104.1 WHERE name = 'c';
SELECT is(pg_temp.history_rows('c'), 1, 'an UPDATE of the last visit and coordinates writes no history');
UPDATE sanse.resident SET factors = '{unstable_chronic,lives_alone}' WHERE name = 'c';
SELECT is(pg_temp.history_rows('c'), 1, 'new factors with the same tier write no history');
UPDATE sanse.resident SET factors = '{partial_care,unstable_chronic}' WHERE name = 'c';
UPDATE sanse.resident SET tier_override = 'red', override_reason = 'lives by the river' WHERE name = 'c';
UPDATE sanse.resident SET override_reason = 'lives by the steep river bank' WHERE name = 'c';
UPDATE sanse.resident SET factors = '{accident_risk}' WHERE name = 'c';
UPDATE sanse.resident SET tier_override = NULL WHERE name = 'c';
UPDATE sanse.resident SET factors = '{}' WHERE name = 'c';
SELECT results_eq(
	$$SELECT old_computed_tier::text, new_computed_tier::text, old_override::text, new_override::text,
	         old_tier::text, new_tier::text
	    FROM sanse.tier_history WHERE resident_id = (pg_temp.resident_row('c')).id ORDER BY id$$,
	$$VALUES (NULL, 'blue', NULL, NULL, NULL, 'blue'),
	         ('blue', 'yellow', NULL, NULL, 'blue', 'yellow'),
	         ('yellow', 'yellow', NULL, 'red', 'yellow', 'red'),
	         ('yellow', 'red', 'red', 'red', 'red', 'red'),
	         ('red', 'red', 'red', NULL, 'red', 'red'),
	         ('red', NULL, NULL, NULL, 'red', NULL)$$,
	'history: insert, computed change, override set, computed change under override, override cleared, tier lost');
SELECT is((SELECT override_reason FROM sanse.tier_history WHERE resident_id = (pg_temp.resident_row('c')).id AND new_override = 'red' AND old_override IS NULL),
	'lives by the river', 'the override''s history row carries its reason');
SELECT ok((SELECT bool_and(changed_by = current_user AND changed_at = now()) FROM sanse.tier_history WHERE resident_id = (pg_temp.resident_row('c')).id),
	'every history row has changed_by = current_user and changed_at');
SELECT is((SELECT count(*)::int FROM sanse.tier_history h WHERE h.resident_id = (pg_temp.resident_row('b')).id), 3,
	'b: insert, override set, override cleared -> three history rows');

---------------------------------------------------------------------------
-- Upgrades can make a resident overdue at once; toggling never postpones
---------------------------------------------------------------------------
INSERT INTO sanse.resident (area_id, name, factors, registered_at)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'd_up', '{self_care_difficulty}', now() - interval '10 days');
SELECT ok(NOT sanse.is_overdue((pg_temp.resident_row('d_up')).next_visit, now()), 'blue, registered ten days ago: not overdue');
UPDATE sanse.resident SET factors = '{self_care_difficulty,accident_risk}' WHERE name = 'd_up';
SELECT ok(sanse.is_overdue((pg_temp.resident_row('d_up')).next_visit, now()), 'upgraded to red it is overdue at once');
SELECT is(sanse.due_at((pg_temp.resident_row('d_up')).next_visit), now() - interval '8 days',
	'its due time is registration + 2 days (the old anchor), eight days ago');

INSERT INTO sanse.resident (area_id, name, factors, registered_at)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'd_toggle', '{partial_care,unstable_chronic}', '2024-03-01 09:00+08');
SELECT is(sanse.due_at((pg_temp.resident_row('d_toggle')).next_visit), '2024-03-11 00:00+08'::timestamptz, 'yellow: due 03-11');
UPDATE sanse.resident SET factors = factors || '{accident_risk}' WHERE name = 'd_toggle';
SELECT is(sanse.due_at((pg_temp.resident_row('d_toggle')).next_visit), '2024-03-03 09:00+08'::timestamptz, 'red: due 03-03 09:00');
UPDATE sanse.resident SET factors = '{partial_care,unstable_chronic}' WHERE name = 'd_toggle';
SELECT is(sanse.due_at((pg_temp.resident_row('d_toggle')).next_visit), '2024-03-11 00:00+08'::timestamptz,
	'yellow again: due 03-11 again, not later');
UPDATE sanse.resident SET tier_override = 'red', override_reason = 'storm' WHERE name = 'd_toggle';
UPDATE sanse.resident SET tier_override = 'blue', override_reason = 'calm' WHERE name = 'd_toggle';
UPDATE sanse.resident SET tier_override = NULL WHERE name = 'd_toggle';
SELECT is((pg_temp.resident_row('d_toggle')).next_visit, sanse.visit_window('2024-03-04 00:00+08', '2024-03-11 00:00+08'),
	'overrides red, blue, then cleared: the same yellow window as before');

---------------------------------------------------------------------------
-- Policy changes re-derive the windows of that tier only
---------------------------------------------------------------------------
INSERT INTO sanse.resident (area_id, name, factors, registered_at, active)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'e_red', '{accident_risk}', '2024-03-01 09:00+08', true),
       (pg_temp.area_id('d.t.v.tg.g.m1'), 'e_yellow', '{partial_care,mobility_impaired}', '2024-03-01 09:00+08', true),
       (pg_temp.area_id('d.t.v.tg.g.m1'), 'e_blue', '{mobility_impaired}', '2024-03-01 09:00+08', true),
       (pg_temp.area_id('d.t.v.tg.g.m1'), 'e_blue_as_yellow', '{mobility_impaired}', '2024-03-01 09:00+08', true),
       (pg_temp.area_id('d.t.v.tg.g.m1'), 'e_yellow_inactive', '{partial_care,mobility_impaired}', '2024-03-01 09:00+08', false);
UPDATE sanse.resident SET tier_override = 'yellow', override_reason = 'lives upstairs' WHERE name = 'e_blue_as_yellow';
SELECT lives_ok($$UPDATE sanse.tier_policy SET cadence = 'rolling 3 days' WHERE tier = 'yellow'$$, 'yellow''s cadence becomes rolling 3 days');
SELECT is((pg_temp.resident_row('e_yellow')).next_visit, sanse.visit_window('2024-03-01 09:00+08', '2024-03-04 09:00+08'),
	'a yellow resident''s window is re-derived: [registered, +3 days)');
SELECT is((pg_temp.resident_row('e_blue_as_yellow')).next_visit, sanse.visit_window('2024-03-01 09:00+08', '2024-03-04 09:00+08'),
	'so is an overridden-yellow resident''s');
SELECT is((pg_temp.resident_row('e_yellow_inactive')).next_visit, NULL, 'an inactive yellow resident still has none');
SELECT is((pg_temp.resident_row('e_red')).next_visit, sanse.visit_window('2024-03-01 09:00+08', '2024-03-03 09:00+08'), 'the red resident is untouched');
SELECT is((pg_temp.resident_row('e_blue')).next_visit, sanse.visit_window('2024-04-01 00:00+08', '2024-05-01 00:00+08'), 'the blue resident is untouched');
UPDATE sanse.tier_policy SET cadence = 'calendar day' WHERE tier = 'red';
SELECT is((pg_temp.resident_row('e_red')).next_visit, sanse.visit_window('2024-03-02 00:00+08', '2024-03-03 00:00+08'),
	'red as calendar day: the day after the registration day');
SELECT is((pg_temp.resident_row('e_yellow')).next_visit, sanse.visit_window('2024-03-01 09:00+08', '2024-03-04 09:00+08'),
	'the yellow resident is untouched by red''s change');
UPDATE sanse.tier_policy SET escalate_after = interval '2 days' WHERE tier = 'blue';
SELECT is((pg_temp.resident_row('e_blue')).next_visit, sanse.visit_window('2024-04-01 00:00+08', '2024-05-01 00:00+08'),
	'changing escalate_after does not move windows');
UPDATE sanse.tier_policy SET cadence = 'calendar week' WHERE tier = 'yellow';
UPDATE sanse.tier_policy SET cadence = 'rolling 2 days' WHERE tier = 'red';
SELECT is((pg_temp.resident_row('e_yellow')).next_visit, sanse.visit_window('2024-03-04 00:00+08', '2024-03-11 00:00+08'),
	'yellow back to calendar week: the weekly window again');
SELECT is((pg_temp.resident_row('e_red')).next_visit, sanse.visit_window('2024-03-01 09:00+08', '2024-03-03 09:00+08'),
	'red back to rolling 2 days: its window again');
SELECT throws_ok($$UPDATE sanse.tier_policy SET cadence = 'every other day' WHERE tier = 'red'$$,
	'22P02', NULL, 'a cadence outside the grammar is refused (22P02)');

-- the window invariant over every resident of this file so far
SELECT is((SELECT count(*)::int FROM sanse.resident r JOIN sanse.area a ON a.id = r.area_id
            WHERE a.path <@ 'd'
              AND r.next_visit IS DISTINCT FROM
                  CASE WHEN r.active AND r.tier IS NOT NULL
                       THEN sanse.window_after(r.tier, coalesce(r.last_visit_at, r.registered_at)) END),
          0, 'every resident here satisfies the window invariant');

---------------------------------------------------------------------------
-- ID card numbers: only a keyed hash is stored
---------------------------------------------------------------------------
INSERT INTO sanse.resident (area_id, name, factors, registered_at, id_number)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'f1', '{accident_risk}', '2024-03-01 09:00+08', '51010119400101123X');
SELECT is((pg_temp.resident_row('f1')).id_number, NULL, 'the clear ID number is not stored');
SELECT is(length((pg_temp.resident_row('f1')).id_number_hash), 32, 'a 32-byte hash (HMAC-SHA256) is stored instead');
SELECT ok((SELECT row_to_json(r)::text FROM sanse.resident r WHERE r.name = 'f1') NOT LIKE '%0101194001011%',
	'the clear number appears nowhere in the row');
SELECT ok((SELECT string_agg(row_to_json(h)::text, '') FROM sanse.tier_history h WHERE h.resident_id = (pg_temp.resident_row('f1')).id) NOT LIKE '%0101194001011%',
	'nor in its history');
SELECT isnt((pg_temp.resident_row('f1')).id_number_hash, digest('51010119400101123X', 'sha256'),
	'the hash is keyed (not a plain SHA-256 of the number)');
SELECT results_eq($$SELECT * FROM sanse.find_resident_by_id_number('51010119400101123X', 'matching records in a test')$$,
	$$SELECT (pg_temp.resident_row('f1')).id$$, 'the lookup finds the resident by clear number');
SELECT results_eq($$SELECT * FROM sanse.find_resident_by_id_number('  51010119400101123x ', 'matching records in a test')$$,
	$$SELECT (pg_temp.resident_row('f1')).id$$, 'blanks around it and a lower-case x are normalised');
SELECT is_empty($$SELECT * FROM sanse.find_resident_by_id_number('510101194001011230', 'matching records in a test')$$,
	'another number finds nobody');
INSERT INTO sanse.resident (area_id, name, factors, registered_at, id_number)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'f2', '{}', '2024-03-01 09:00+08', ' 51010119400101123x');
SELECT is((pg_temp.resident_row('f2')).id_number_hash, (pg_temp.resident_row('f1')).id_number_hash,
	'the same number written with a blank and a lower-case x hashes the same');
SELECT results_eq($$SELECT * FROM sanse.find_resident_by_id_number('51010119400101123X', 'matching records in a test')$$,
	$$SELECT id FROM sanse.resident WHERE name IN ('f1', 'f2') ORDER BY id$$, 'the lookup finds both records');
UPDATE sanse.resident SET id_number = '110101199003074514' WHERE name = 'f2';
SELECT is((pg_temp.resident_row('f2')).id_number, NULL, 'an UPDATE of the number does not store it either');
SELECT results_eq($$SELECT * FROM sanse.find_resident_by_id_number('110101199003074514', 'matching records in a test')$$,
	$$SELECT (pg_temp.resident_row('f2')).id$$, 'the new number finds the updated resident');
SELECT results_eq($$SELECT * FROM sanse.find_resident_by_id_number('51010119400101123X', 'matching records in a test')$$,
	$$SELECT (pg_temp.resident_row('f1')).id$$, 'the old number no longer finds it');
UPDATE sanse.resident SET name = 'f1', factors = '{unstable_chronic}' WHERE name = 'f1';
SELECT results_eq($$SELECT * FROM sanse.find_resident_by_id_number('51010119400101123X', 'matching records in a test')$$,
	$$SELECT (pg_temp.resident_row('f1')).id$$, 'other updates keep the hash');

---------------------------------------------------------------------------
-- Privileges: the secret is the owner's; apps with the documented grants
-- write residents and get the whole logic
---------------------------------------------------------------------------
CREATE ROLE sanse_t04_app NOLOGIN;
GRANT USAGE ON SCHEMA sanse TO sanse_t04_app;
GRANT SELECT, INSERT, UPDATE ON sanse.area, sanse.worker, sanse.resident, sanse.carer TO sanse_t04_app;
-- spec 8: residents are written through a grant by area (care on the district)
INSERT INTO sanse.area_grant (role, path, access) VALUES ('sanse_t04_app', 'd', 'care');
SELECT is(pg_temp.sqlstate_as('sanse_t04_app', 'SELECT * FROM sanse.installation_secret'), '42501',
	'a non-owner role cannot read installation_secret (42501)');
SELECT is(pg_temp.sqlstate_as('sanse_t04_app', $$SELECT sanse.id_number_hash('51010119400101123X')$$), '42501',
	'a non-owner role cannot run id_number_hash (42501)');
SELECT is(pg_temp.sqlstate_as('sanse_t04_app', $$SELECT sanse.find_resident_by_id_number('51010119400101123X', 'matching records in a test')$$), '42501',
	'find_resident_by_id_number is not granted to PUBLIC (42501)');
SELECT is(pg_temp.sqlstate_as('sanse_t04_app', $$SET LOCAL sanse.timezone = 'UTC'$$), '42501',
	'a non-superuser cannot move due dates by setting sanse.timezone (42501)');
-- the documented grants are enough to write residents (README: apps need
-- SELECT/INSERT/UPDATE on area, worker, resident, carer)
INSERT INTO sanse.resident (area_id, name, factors, registered_at)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'g', '{accident_risk}', '2024-03-01 09:00+08');
SELECT is(pg_temp.sqlstate_as('sanse_t04_app',
	$$UPDATE sanse.resident SET factors = '{partial_care,mobility_impaired}' WHERE name = 'g'$$), 'ok',
	'an app role with the documented grants changes a resident''s factors');
SELECT is(pg_temp.sqlstate_as('sanse_t04_app',
	$$UPDATE sanse.resident SET tier_override = 'red', override_reason = 'app says so' WHERE name = 'g'$$), 'ok',
	'... and overrides its tier');
SELECT is((pg_temp.resident_row('g')).override_by, 'sanse_t04_app'::name, 'override_by is the app role (current_user)');
SELECT is((SELECT array_agg(DISTINCT changed_by::text) FROM sanse.tier_history
            WHERE resident_id = (pg_temp.resident_row('g')).id AND old_tier IS NOT NULL),
	ARRAY['sanse_t04_app'], 'the history rows of the app''s changes name the app role');
SELECT ok((pg_temp.resident_row('g')).computed_tier = 'yellow' AND (pg_temp.resident_row('g')).tier = 'red'
          AND (pg_temp.resident_row('g')).next_visit = sanse.visit_window('2024-03-01 09:00+08', '2024-03-03 09:00+08'),
	'the app''s changes gave computed tier yellow, override red and the red window');
SELECT is(pg_temp.sqlstate_as('sanse_t04_app',
	$$INSERT INTO sanse.resident (area_id, name, factors, registered_at, id_number)
	  VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'g_app', '{accident_risk}', '2024-03-01 09:00+08', '44030119800101001X')$$), 'ok',
	'an app role with the documented grants inserts a resident');
SELECT ok((pg_temp.resident_row('g_app')).tier = 'red' AND (pg_temp.resident_row('g_app')).id_number IS NULL
          AND (pg_temp.resident_row('g_app')).id_number_hash IS NOT NULL,
	'the app''s resident has its tier and only the hash of its ID number');
-- drop the cached rules and policies, as a fresh app connection would have none
UPDATE sanse.classification_rule SET enabled = enabled WHERE false;
UPDATE sanse.tier_policy SET cadence = cadence WHERE false;
SELECT is(pg_temp.sqlstate_as('sanse_t04_app',
	$$INSERT INTO sanse.resident (area_id, name, factors, registered_at)
	  VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'g_cold', '{accident_risk}', '2024-03-01 09:00+08')$$), 'ok',
	'an app role inserts a resident as the first thing its connection does (no cached rules)');

---------------------------------------------------------------------------
-- sanse.timezone drives next_visit; the client's TimeZone does not
---------------------------------------------------------------------------
-- Sun 2024-03-03 20:00 UTC is Mon 2024-03-04 04:00 in Shanghai.
SET LOCAL sanse.timezone = 'UTC';
INSERT INTO sanse.resident (area_id, name, factors, registered_at)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'h_utc', '{partial_care,unstable_chronic}', '2024-03-03 20:00+00'),
       (pg_temp.area_id('d.t.v.tg.g.m1'), 'h_utc_blue', '{unstable_chronic}', '2024-03-31 20:00+00');
SET LOCAL sanse.timezone = 'Asia/Shanghai';
INSERT INTO sanse.resident (area_id, name, factors, registered_at)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'h_sh', '{partial_care,unstable_chronic}', '2024-03-03 20:00+00'),
       (pg_temp.area_id('d.t.v.tg.g.m1'), 'h_sh_blue', '{unstable_chronic}', '2024-03-31 20:00+00');
SET LOCAL TimeZone = 'America/Los_Angeles';
INSERT INTO sanse.resident (area_id, name, factors, registered_at)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'h_la', '{partial_care,unstable_chronic}', '2024-03-03 20:00+00');
SET LOCAL sanse.timezone = 'America/New_York';
INSERT INTO sanse.resident (area_id, name, factors, registered_at)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'h_ny_red', '{accident_risk}', '2024-03-09 12:00-05');
SET LOCAL sanse.timezone = 'Asia/Shanghai';
SET LOCAL TimeZone = 'UTC';
SELECT is((pg_temp.resident_row('h_utc')).next_visit, sanse.visit_window('2024-03-04 00:00+00', '2024-03-11 00:00+00'),
	'in UTC the anchor is a Sunday: the next week starts Mon 03-04 00:00 UTC');
SELECT is((pg_temp.resident_row('h_sh')).next_visit, sanse.visit_window('2024-03-11 00:00+08', '2024-03-18 00:00+08'),
	'in Shanghai the anchor is a Monday: the next week starts Mon 03-11 00:00+08');
SELECT is((pg_temp.resident_row('h_la')).next_visit, (pg_temp.resident_row('h_sh')).next_visit,
	'the client''s TimeZone does not change the window');
SELECT is((pg_temp.resident_row('h_utc_blue')).next_visit, sanse.visit_window('2024-04-01 00:00+00', '2024-05-01 00:00+00'),
	'blue in UTC: anchor in March, window April');
SELECT is((pg_temp.resident_row('h_sh_blue')).next_visit, sanse.visit_window('2024-05-01 00:00+08', '2024-06-01 00:00+08'),
	'blue in Shanghai: anchor on 04-01 local, window May');
SELECT is((pg_temp.resident_row('h_ny_red')).next_visit, sanse.visit_window('2024-03-09 12:00-05', '2024-03-11 12:00-04'),
	'rolling 2 days over the New York DST change is 12:00 local two days later (47 hours)');
SELECT throws_ok($$SET LOCAL sanse.timezone = 'Atlantis/Capital'$$, '22023', NULL, 'an unknown zone is refused (22023)');

---------------------------------------------------------------------------
-- The pinned columns; one resident's story: a client writing the derived
-- columns, an override and its history, leaving the programme, a policy
-- change, the zone setting, the ID number (Wang and Li in M1)
---------------------------------------------------------------------------
SET LOCAL TimeZone = 'Asia/Shanghai';
SELECT has_column('sanse', 'resident', c, format('resident.%s', c))
  FROM unnest(ARRAY['id', 'area_id', 'name', 'factors', 'tier', 'tier_override', 'override_reason', 'registered_at',
                    'last_visit_at', 'next_visit', 'active', 'lat', 'lon']) c;
SELECT col_type_is('sanse', 'resident', 'tier', 'sanse', 'risk_tier', 'resident.tier is a risk_tier');
SELECT col_type_is('sanse', 'resident', 'next_visit', 'sanse', 'visit_window', 'resident.next_visit is a visit_window');

-- a client writing the derived columns changes nothing
INSERT INTO resident (area_id, name, factors, registered_at, tier, next_visit)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'Wang', '{partial_care,unstable_chronic}', '2024-03-06 10:00+08', 'blue', '[2030-01-01,2030-01-02)');
SELECT results_eq($$SELECT tier::text, computed_tier::text, next_visit FROM sanse.resident WHERE name = 'Wang'$$,
                  $$VALUES ('yellow'::text, 'yellow'::text, '[2024-03-11 00:00+08,2024-03-18 00:00+08)'::sanse.visit_window)$$,
                  'tier and next_visit are computed, whatever the client wrote (Wed 03-06 -> the week of Mon 03-11)');

-- who and when of an override are sanse's
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
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'Li', '{mobility_impaired}', '2024-03-06 10:00+08');
UPDATE tier_policy SET cadence = 'rolling 3 days' WHERE tier = 'red';
SELECT results_eq($$SELECT name, next_visit FROM sanse.resident WHERE name IN ('Li', 'Wang Fang') ORDER BY name$$,
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

-- ID card numbers: only a keyed hash is kept (a number no other resident here has)
UPDATE resident SET id_number = ' 33010119500101002x ' WHERE name = 'Li';
SELECT results_eq($$SELECT id_number, length(id_number_hash) FROM sanse.resident WHERE name = 'Li'$$,
                  $$VALUES (NULL::text, 32)$$, 'the clear number is replaced by a 32-byte HMAC');
SELECT ok((SELECT row_to_json(r)::text NOT LIKE '%33010119500101002%' FROM resident r WHERE name = 'Li'), 'the clear number is nowhere in the row');
SELECT is((SELECT array_agg(x) FROM find_resident_by_id_number('33010119500101002X', 'matching records in a test') x), ARRAY[(SELECT id FROM resident WHERE name = 'Li')],
          'find_resident_by_id_number normalises blanks and case');

SELECT * FROM finish();
ROLLBACK;
