-- pgTAP: locks and concurrency (issue 18, items 7 and 12).
-- One missed period, one event: a resident overdue with an open overdue
-- event whose window is re-derived for the same missed period — a tier
-- override, a cadence change of its tier's policy, a downgrade — keeps that
-- one event, and its carers are charged once (worker_tally).  The database
-- enforces it: one overdue event per resident and anchor (the visit, or
-- registration, the missed windows were derived from).
-- The foreign-lock bound (item 7) needs two sessions: test/locks.sh.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
\ir include/helpers.psql
SELECT plan(21);

INSERT INTO area (path, kind, name) VALUES
  ('lk', 'district', 'LK'), ('lk.t', 'town', 'T'), ('lk.t.v', 'village', 'V'),
  ('lk.t.v.tg', 'total_grid', 'TG'), ('lk.t.v.tg.g', 'general_grid', 'G'),
  ('lk.t.v.tg.g.m', 'micro_grid', 'M');
INSERT INTO worker (name, force, role, area_id)
SELECT v.name, v.force, v.role, a.id
  FROM (VALUES ('lk leader', 'grid_officer', 'micro_grid_leader'),
               ('lk carer a', 'volunteer', 'member'),
               ('lk carer b', 'volunteer', 'member'),
               ('lk carer c', 'volunteer', 'member'),
               ('lk carer d', 'volunteer', 'member')) v(name, force, role)
  CROSS JOIN area a WHERE a.path = 'lk.t.v.tg.g.m';
-- each resident has a carer of their own, so the tally of that carer is the
-- resident's missed windows
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT a.id, v.name, v.f, now() - v.ago
  FROM (VALUES ('lk override', '{partial_care,mobility_impaired}'::text[], interval '20 days'),
               ('lk cadence', '{self_care_difficulty}', interval '75 days'),
               ('lk downgrade', '{accident_risk}', interval '75 days'),
               ('lk history', '{partial_care,mobility_impaired}', interval '20 days')) v(name, f, ago)
  CROSS JOIN area a WHERE a.path = 'lk.t.v.tg.g.m';
INSERT INTO carer (resident_id, worker_id)
SELECT r.id, w.id FROM resident r JOIN worker w
    ON w.name = CASE r.name WHEN 'lk override' THEN 'lk carer a' WHEN 'lk cadence' THEN 'lk carer b'
                            WHEN 'lk downgrade' THEN 'lk carer c' ELSE 'lk carer d' END
 WHERE r.name LIKE 'lk %';

CREATE FUNCTION pg_temp.open_events(who text) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM sanse.event e JOIN sanse.resident r ON r.id = e.resident_id
	 WHERE r.name = who AND e.kind = 'overdue' AND e.status = 'open' $$;
CREATE FUNCTION pg_temp.events(who text) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM sanse.event e JOIN sanse.resident r ON r.id = e.resident_id
	 WHERE r.name = who AND e.kind = 'overdue' $$;
-- windows missed charged to a carer, every month
CREATE FUNCTION pg_temp.missed(carer text) RETURNS bigint LANGUAGE sql AS $$
	SELECT coalesce(sum(t.windows_missed), 0)::bigint FROM sanse.worker_tally t JOIN sanse.worker w ON w.id = t.worker_id
	 WHERE w.name = carer $$;

-- every one of them is overdue now (yellow: the week after the week of
-- registration ended 6 to 13 days ago; blue: the month after the month of
-- registration ended at least 14 days ago; red: 2 days after registration)
SELECT is(sweep_overdue(now()), 4, 'the first sweep opens one event for each of the four overdue residents');
SELECT is(pg_temp.missed('lk carer a'), 1::bigint, 'the carer of the yellow resident is charged one missed window');

-- 1. a tier override on the overdue yellow resident: red's window after the
-- same anchor (registration + 2 days) is due too, and long past
UPDATE resident SET tier_override = 'red', override_reason = 'fell last week' WHERE name = 'lk override';
SELECT ok((SELECT due_at(next_visit) < now() - interval '17 days' FROM resident WHERE name = 'lk override'),
          'the override re-derives the window: due 18 days ago, a different due time than the event''s');
SELECT lives_ok($$SELECT sweep_overdue(now())$$, 'a sweep after the override runs');
SELECT is(pg_temp.open_events('lk override'), 1::bigint, 'tier override: one missed period, one open overdue event');
SELECT is(pg_temp.events('lk override'), 1::bigint, 'tier override: one overdue event at all');
SELECT is(pg_temp.missed('lk carer a'), 1::bigint, 'tier override: the carer is charged once');

-- 2. the blue tier's cadence changes (calendar month to rolling 30 days):
-- every blue resident's window after the same anchor is re-derived
UPDATE tier_policy SET cadence = 'rolling 30 days' WHERE tier = 'blue';
SELECT ok((SELECT due_at(next_visit) = registered_at + interval '30 days' FROM resident WHERE name = 'lk cadence'),
          'the cadence change re-derives the window: due 30 days after registration');
SELECT lives_ok($$SELECT sweep_overdue(now())$$, 'a sweep after the cadence change runs');
SELECT is(pg_temp.open_events('lk cadence'), 1::bigint, 'cadence change: one missed period, one open overdue event');
SELECT is(pg_temp.missed('lk carer b'), 1::bigint, 'cadence change: the carer is charged once');

-- 3. a downgrade of the overdue red resident to blue: the blue window after
-- the same anchor is past too (now rolling 30 days)
UPDATE resident SET tier_override = 'blue', override_reason = 'moved in with family' WHERE name = 'lk downgrade';
SELECT lives_ok($$SELECT sweep(now())$$, 'a whole sweep after the downgrade runs');
SELECT is(pg_temp.open_events('lk downgrade'), 1::bigint, 'downgrade: one missed period, one open overdue event');
SELECT is(pg_temp.missed('lk carer c'), 1::bigint, 'downgrade: the carer is charged once (folded by the sweep)');

-- 4. the database refuses a second overdue event for one missed period (the
-- anchor its window was derived from: here registration, no visit yet)
-- (were it taken, the division by zero takes it back: 22012)
SELECT is(pg_temp.sqlstate_of($$
	WITH e AS (INSERT INTO sanse.event (resident_id, area_id, tier, due_at, level_since, next_step_at, anchor_at)
	           SELECT r.id, r.area_id, 'red', now() - interval '1 hour', now() - interval '1 hour', now(), r.registered_at
	             FROM sanse.resident r WHERE r.name = 'lk override' RETURNING 1)
	SELECT 1 / (count(*) - count(*))::int FROM e$$), '23505',
	'a second overdue event for one resident and missed period violates a unique index');

-- 5. a visit closes the one event; the next missed period gets its own
SELECT ok(check_in(door_token(r.id), w.id, now() - interval '1 minute') > 0, 'the carer visits the overridden resident')
  FROM resident r, worker w WHERE r.name = 'lk override' AND w.name = 'lk carer a';
SELECT is(pg_temp.open_events('lk override'), 0::bigint, 'the visit closes the event');
SELECT is(pg_temp.missed('lk carer a'), 1::bigint, 'still charged once after the visit');

-- 6. the timeline re-derived from the history (as a back-dated visit does):
-- the override made 3 days ago, after the yellow window was missed (its
-- event is open) and long after the red window's due time; re-deriving the
-- span from registration keeps one event for the one missed period
UPDATE tier_history h SET changed_at = now() - interval '3 days'
  FROM resident r WHERE r.id = h.resident_id AND r.name = 'lk history';
UPDATE resident SET tier_override = 'red', override_reason = 'fell last week' WHERE name = 'lk history';
UPDATE tier_history h SET changed_at = now() - interval '3 days'
  FROM resident r WHERE r.id = h.resident_id AND r.name = 'lk history' AND h.new_tier = 'red';
SELECT lives_ok($$SELECT sanse.rederive_span(r.id, r.registered_at, NULL) FROM sanse.resident r WHERE r.name = 'lk history'$$,
                'the span of the overridden resident is re-derived from registration');
SELECT is(pg_temp.open_events('lk history'), 1::bigint, 're-derived: one missed period, one open overdue event');
-- (the sweep's fold is not needed: worker_tally adds the pending rows)
SELECT is(pg_temp.missed('lk carer d'), 1::bigint, 're-derived: the carer is charged once');

SELECT * FROM finish();
ROLLBACK;
