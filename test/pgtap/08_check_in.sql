-- pgTAP: sanse.check_in (spec 5) — every error with its SQLSTATE, who may
-- check in, retries, flags, the window moving forward only, and the overdue
-- events a visit creates and closes.
BEGIN;
SET LOCAL sanse.max_backdate = '100 years';	-- check-ins dated in 2024
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';	-- due dates must not depend on the client's zone
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(109);

-----------------------------------------------------------------------------
-- helpers
-----------------------------------------------------------------------------
-- check in by resident and worker name
CREATE FUNCTION pg_temp.ci(res text, wk text, at timestamptz, checklist text[] DEFAULT '{}', note text DEFAULT NULL)
RETURNS bigint LANGUAGE sql AS $$ SELECT sanse.check_in(pg_temp.token(res), pg_temp.worker_id(wk), at, checklist, note) $$;
CREATE FUNCTION pg_temp.ci_sql(res text, wk text, at timestamptz) RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.check_in_sql(pg_temp.token(res), pg_temp.worker_id(wk), at)
$$;
CREATE FUNCTION pg_temp.flags(visit bigint) RETURNS text[] LANGUAGE sql STABLE AS $$
	SELECT coalesce(array_agg(f ORDER BY f), '{}') FROM sanse.visit v, unnest(v.flags) f WHERE v.id = visit
$$;
-----------------------------------------------------------------------------
-- fixture
-----------------------------------------------------------------------------
-- the shared district (include/district.psql) with its leaders; Wang's carers and the workers not allowed at his door
INSERT INTO worker (name, force, role, area_id, active, db_role)
SELECT v.name, v.force, v.role, a.id, v.active, v.db_role
  FROM (VALUES
    -- Wang's five-for-one
    ('dept', 'department_staff', 'member', 'd.t', true, NULL::name),
    ('cadre', 'community_cadre', 'member', 'd.t.v.tg.g', true, NULL),
    ('officer', 'grid_officer', 'member', 'd.t.v.tg.g.m1', true, NULL),
    ('pro', 'service_professional', 'member', 'd.t.v', true, NULL),
    ('vol', 'volunteer', 'member', 'd.t.v.tg.g.m1', true, NULL),
    -- not allowed at Wang's door
    ('neighbour', 'volunteer', 'member', 'd.t.v.tg.g.m1', true, NULL),
    ('old lead m1', 'grid_officer', 'micro_grid_leader', 'd.t.v.tg.g.m1', false, NULL),
    -- Li's carers: one to retire, three bound to database roles
    ('retired', 'volunteer', 'member', 'd.t.v.tg.g.m1', true, NULL),
    ('bound', 'department_staff', 'member', 'd.t', true, 'sanse_t07_app'),
    ('bound elsewhere', 'community_cadre', 'member', 'd.t.v.tg.g', true, 'sanse_t07_other'),
    ('bound to nobody', 'grid_officer', 'member', 'd.t.v.tg.g.m1', true, 'sanse_t07_no_such_role')
  ) v(name, force, role, path, active, db_role)
  JOIN area a ON a.path = v.path::ltree;
-- sixteen leaders of M2 to check flags with (each starts with a clean history)
INSERT INTO worker (name, force, role, area_id)
SELECT 'f' || k, 'grid_officer', 'micro_grid_leader', a.id FROM generate_series(1, 16) k JOIN area a ON a.path = 'd.t.v.tg.g.m2';

-- red residents registered 2024-03-01 09:00+08 are due 03-03 09:00+08 (rolling 2 days)
INSERT INTO resident (area_id, name, factors, registered_at, lat, lon)
SELECT a.id, v.name, v.f, v.reg::timestamptz, v.lat, v.lon
  FROM (VALUES
    ('Wang', '{accident_risk}'::text[], 'd.t.v.tg.g.m1', '2024-03-01 09:00+08', NULL::float8, NULL::float8),
    ('Li', '{accident_risk}', 'd.t.v.tg.g.m1', '2024-03-01 09:00+08', NULL, NULL),
    ('Zhao', '{accident_risk}', 'd.t.v.tg.g.m1', '2024-03-01 09:00+08', NULL, NULL),
    ('R1', '{accident_risk}', 'd.t.v.tg.g.m1', '2024-03-01 09:00+08', NULL, NULL),
    ('R2', '{accident_risk}', 'd.t.v.tg.g.m1', '2024-03-01 09:00+08', NULL, NULL),
    ('R3', '{accident_risk}', 'd.t.v.tg.g.m1', '2024-03-01 09:00+08', NULL, NULL),
    ('R4', '{accident_risk}', 'd.t.v.tg.g.m1', '2024-03-01 09:00+08', NULL, NULL),
    ('R5', '{accident_risk}', 'd.t.v.tg.g.m1', '2024-03-01 09:00+08', NULL, NULL),
    ('R6', '{accident_risk}', 'd.t.v.tg.g.m1', '2024-03-01 09:00+08', NULL, NULL),
    ('R7', '{accident_risk}', 'd.t.v.tg.g.m1', '2024-03-01 09:00+08', NULL, NULL),
    ('R8', '{accident_risk}', 'd.t.v.tg.g.m1', '2024-03-01 09:00+08', NULL, NULL),
    ('R9', '{accident_risk}', 'd.t.v.tg.g.m1', '2024-03-01 09:00+08', NULL, NULL),
    -- yellow, registered Friday 03-01: window is the next calendar week [03-04, 03-11) in Asia/Shanghai
    ('Y1', '{partial_care,unstable_chronic}', 'd.t.v.tg.g.m1', '2024-03-01 09:00+08', NULL, NULL),
    -- blue, registered in January: window is February, due 03-01 00:00+08
    ('B1', '{mobility_impaired}', 'd.t.v.tg.g.m1', '2024-01-15 10:00+08', NULL, NULL),
    -- blue homes for the flags, in M2: B is 11.12 km north of A, C 56 m north of A, D has no coordinates
    ('A', '{mobility_impaired}', 'd.t.v.tg.g.m2', '2024-05-01 00:00+08', 30.0, 104.0),
    ('B', '{mobility_impaired}', 'd.t.v.tg.g.m2', '2024-05-01 00:00+08', 30.1, 104.0),
    ('C', '{mobility_impaired}', 'd.t.v.tg.g.m2', '2024-05-01 00:00+08', 30.0005, 104.0),
    ('D', '{mobility_impaired}', 'd.t.v.tg.g.m2', '2024-05-01 00:00+08', NULL, NULL)
  ) v(name, f, path, reg, lat, lon)
  JOIN area a ON a.path = v.path::ltree;
INSERT INTO carer (resident_id, worker_id)
SELECT pg_temp.resident_id(v.r), pg_temp.worker_id(v.w)
  FROM (VALUES ('Wang', 'dept'), ('Wang', 'cadre'), ('Wang', 'officer'), ('Wang', 'pro'), ('Wang', 'vol'),
               ('Li', 'retired'), ('Li', 'bound'), ('Li', 'bound elsewhere'), ('Li', 'bound to nobody'), ('Li', 'pro'),
               ('Zhao', 'vol'), ('Y1', 'vol'), ('B1', 'vol'), ('B1', 'officer')) v(r, w)
UNION ALL
SELECT pg_temp.resident_id(n), pg_temp.worker_id(w) FROM unnest(ARRAY['R1', 'R2', 'R3', 'R4', 'R5', 'R6', 'R7', 'R8', 'R9']) n,
       unnest(ARRAY['vol', 'officer']) w;
UPDATE worker SET active = false WHERE name = 'retired';

CREATE ROLE sanse_t07_app NOLOGIN;
CREATE ROLE sanse_t07_other NOLOGIN;
CREATE ROLE sanse_t07_member NOLOGIN IN ROLE sanse_t07_app;
GRANT USAGE ON SCHEMA sanse TO sanse_t07_app, sanse_t07_other, sanse_t07_member;

SELECT has_function('sanse', 'check_in', ARRAY['text', 'bigint', 'timestamp with time zone', 'text[]', 'text'],
                    'check_in(token, worker_id, at, checklist, note) exists');
SELECT function_returns('sanse', 'check_in', ARRAY['text', 'bigint', 'timestamp with time zone', 'text[]', 'text'], 'bigint',
                        'check_in returns the visit id (bigint)');

-----------------------------------------------------------------------------
-- every error with its SQLSTATE
-----------------------------------------------------------------------------
SELECT is(pg_temp.sqlstate_of(stmt), expected, description)
  FROM (VALUES
    ('a NULL worker is 22004', pg_temp.check_in_sql(pg_temp.token('Wang'), NULL, '2024-03-02 10:00+08'), '22004'),
    ('a NULL time is 22004', pg_temp.check_in_sql(pg_temp.token('Wang'), pg_temp.worker_id('vol'), NULL), '22004'),
    ('six minutes in the future is 22008',
     format('SELECT sanse.check_in(%L, %s, clock_timestamp() + interval ''6 minutes'')', pg_temp.token('Wang'), pg_temp.worker_id('vol')), '22008'),
    ('infinity is 22008', pg_temp.check_in_sql(pg_temp.token('Wang'), pg_temp.worker_id('vol'), 'infinity'), '22008'),
    ('checklist codes are exact (upper case is unknown)',
     format('SELECT sanse.check_in(%L, %s, %L, ''{ASK_HEALTH}'')', pg_temp.token('Wang'), pg_temp.worker_id('vol'), '2024-03-02 10:00+08'), '22023'),
    ('a NULL checklist item is 22004',
     format('SELECT sanse.check_in(%L, %s, %L, ''{ask_health,NULL}'')', pg_temp.token('Wang'), pg_temp.worker_id('vol'), '2024-03-02 10:00+08'), '22004'),
    ('a forged token is 28000',
     pg_temp.check_in_sql(overlay(pg_temp.token('Wang') PLACING CASE WHEN substr(pg_temp.token('Wang'), 35, 1) = 'Q' THEN 'R' ELSE 'Q' END FROM 35 FOR 1),
                          pg_temp.worker_id('vol'), '2024-03-02 10:00+08'), '28000'),
    ('a malformed token is 28000', pg_temp.check_in_sql('abc', pg_temp.worker_id('vol'), '2024-03-02 10:00+08'), '28000'),
    ('a missing token is 28000', pg_temp.check_in_sql(NULL, pg_temp.worker_id('vol'), '2024-03-02 10:00+08'), '28000'),
    ('an unknown (signed, but naming no door) token is 28000',
     pg_temp.check_in_sql(sanse.door_token_sign(gen_random_bytes(15)), pg_temp.worker_id('vol'), '2024-03-02 10:00+08'), '28000'),
    -- not allowed: 42501
    ('a member of the same micro grid who is not a carer is 42501', pg_temp.ci_sql('Wang', 'neighbour', '2024-03-02 10:00+08'), '42501'),
    ('the leader of another micro grid (same general grid) is 42501', pg_temp.ci_sql('Wang', 'lead m2', '2024-03-02 10:00+08'), '42501'),
    ('the leader of another general grid is 42501', pg_temp.ci_sql('Wang', 'lead g2', '2024-03-02 10:00+08'), '42501'),
    ('the leader of another total grid is 42501', pg_temp.ci_sql('Wang', 'lead tg2', '2024-03-02 10:00+08'), '42501'),
    ('the task force of another district is 42501', pg_temp.ci_sql('Wang', 'task force e', '2024-03-02 10:00+08'), '42501'),
    ('an inactive leader of the right grid is 42501', pg_temp.ci_sql('Wang', 'old lead m1', '2024-03-02 10:00+08'), '42501'),
    ('an inactive carer is 42501', pg_temp.ci_sql('Li', 'retired', '2024-03-02 10:00+08'), '42501'),
    ('a worker that does not exist is 42501', pg_temp.check_in_sql(pg_temp.token('Wang'), 999999999, '2024-03-02 10:00+08'), '42501')
  ) t(description, stmt, expected);
-- the message names the unknown item
SELECT throws_ok(format('SELECT sanse.check_in(%L, %s, %L, ''{ask_health,sing_a_song}'')', pg_temp.token('Wang'), pg_temp.worker_id('vol'), '2024-03-02 10:00+08'),
                 '22023', 'unknown checklist item "sing_a_song"', 'an unknown checklist item is 22023 and named');
SELECT is((SELECT count(*) FROM visit), 0::bigint, 'no refused check-in stored anything');
SELECT ok((SELECT last_visit_at IS NULL FROM resident WHERE name = 'Wang'), 'nor moved the resident''s window');

-----------------------------------------------------------------------------
-- who may check in at Wang's door: the five carers and the four leaders above
-----------------------------------------------------------------------------
SELECT ok(pg_temp.ci('Wang', w, timestamptz '2024-03-01 09:00+08' + i * interval '1 hour') > 0, format('%s may check in at Wang''s', w))
  FROM unnest(ARRAY['dept', 'cadre', 'officer', 'pro', 'vol', 'lead m1', 'lead g', 'lead tg', 'task force']) WITH ORDINALITY u(w, i);
SELECT is((SELECT count(DISTINCT worker_id) FROM visit WHERE resident_id = pg_temp.resident_id('Wang')), 9::bigint, 'nine visits by nine workers');
SELECT is((SELECT array_agg(DISTINCT area_id) FROM visit WHERE resident_id = pg_temp.resident_id('Wang')),
          ARRAY[(SELECT id FROM area WHERE name = 'M1')], 'each visit records the resident''s micro grid as its area');

-- the database role a worker is bound to (the session user must be a member)
SELECT is(pg_temp.sqlstate_session('sanse_t07_app', pg_temp.ci_sql('Li', 'bound', '2024-03-01 10:00+08')), 'ok',
          'a worker bound to db_role checks in from a session of that role');
SELECT is(pg_temp.sqlstate_session('sanse_t07_member', pg_temp.ci_sql('Li', 'bound', '2024-03-01 11:00+08')), 'ok',
          'or of a role that is a member of it');
SELECT is(pg_temp.sqlstate_session('sanse_t07_other', pg_temp.ci_sql('Li', 'bound', '2024-03-01 12:00+08')), '42501',
          'but not from a session of another role (42501)');
SELECT is(pg_temp.sqlstate_session('sanse_t07_app', pg_temp.ci_sql('Li', 'bound elsewhere', '2024-03-01 12:00+08')), '42501',
          'a worker bound to another role cannot check in from this session (42501)');
SELECT is(pg_temp.sqlstate_session('sanse_t07_app', pg_temp.ci_sql('Li', 'pro', '2024-03-01 13:00+08')), 'ok',
          'a worker with no db_role checks in from any session');
SELECT is(pg_temp.sqlstate_session('sanse_t07_app', pg_temp.ci_sql('Li', 'bound to nobody', '2024-03-01 14:00+08')), '42501',
          'a worker bound to a role that does not exist is not allowed (42501)');
SELECT is((SELECT count(*) FROM visit WHERE resident_id = pg_temp.resident_id('Li')), 3::bigint, 'Li has the three allowed visits only');

-----------------------------------------------------------------------------
-- a retried scan: the same (token, worker, at) returns the same visit
-----------------------------------------------------------------------------
SELECT pg_temp.ci('Li', 'pro', '2024-03-02 08:00+08', '{ask_health}', 'first') AS li_first \gset
SELECT is(pg_temp.ci('Li', 'pro', '2024-03-02 08:00+08', '{ask_diet,check_gas}', 'second'), :li_first::bigint,
          'a retry returns the same visit id');
SELECT is((SELECT count(*) FROM visit WHERE resident_id = pg_temp.resident_id('Li') AND at = '2024-03-02 08:00+08'), 1::bigint,
          'and creates no second visit');
SELECT results_eq(format('SELECT checklist, note FROM sanse.visit WHERE id = %s', :li_first),
                  $$VALUES ('{ask_health}'::text[], 'first'::text)$$, 'and writes nothing over the first');
SELECT ok(pg_temp.ci('Li', 'bound', '2024-03-02 08:00+08') <> :li_first, 'another worker at the same time is another visit');
SELECT revoke_door_token(pg_temp.resident_id('Li')) IS NOT NULL AS revoked \gset
SELECT is(pg_temp.ci('Li', 'pro', '2024-03-02 08:00+08'), :li_first::bigint,
          'a retry through the door''s new token after a revocation still finds the visit');

-----------------------------------------------------------------------------
-- check-in fields
-----------------------------------------------------------------------------
SELECT pg_temp.ci('Zhao', 'vol', '2024-03-01 10:00+08', '{ask_health,ask_diet,ask_family,check_water,check_power,check_gas,clear_clutter,clear_garbage,clear_passage}',
                  'gas stove replaced') AS z1 \gset
SELECT results_eq(format('SELECT resident_id, worker_id, at, checklist, note, area_id FROM sanse.visit WHERE id = %s', :z1),
                  $$SELECT pg_temp.resident_id('Zhao'), pg_temp.worker_id('vol'), '2024-03-01 10:00+08'::timestamptz,
                           '{ask_health,ask_diet,ask_family,check_water,check_power,check_gas,clear_clutter,clear_garbage,clear_passage}'::text[],
                           'gas stove replaced'::text, (SELECT id FROM sanse.area WHERE name = 'M1')$$,
                  'the visit stores resident, worker, time, the full checklist, the note and the micro grid');
SELECT check_in(pg_temp.token('Zhao'), pg_temp.worker_id('vol'), '2024-03-01 11:00+08', NULL) AS z2 \gset
SELECT results_eq(format('SELECT checklist, note FROM sanse.visit WHERE id = %s', :z2), $$VALUES ('{}'::text[], NULL::text)$$,
                  'a NULL checklist is stored empty, no note is NULL');
SELECT check_in(pg_temp.token('Zhao'), pg_temp.worker_id('vol')) AS z3 \gset
SELECT is((SELECT at FROM visit WHERE id = :z3), now(), 'at defaults to now()');
SELECT lives_ok(format('SELECT sanse.check_in(%L, %s, now() + interval ''4 minutes'')', pg_temp.token('Zhao'), pg_temp.worker_id('vol')),
                'four minutes ahead of the clock is accepted');

-----------------------------------------------------------------------------
-- flags (defaults: quick_succession 5 min, repeat_window 30 min, 60 km/h)
-- A (30.0, 104.0) and B (30.1, 104.0) are 11.12 km apart; C is 56 m from A.
-----------------------------------------------------------------------------
SELECT pg_temp.ci('A', 'f1', '2024-05-02 09:00+08') AS f1a \gset
SELECT pg_temp.ci('B', 'f1', '2024-05-02 09:04+08') AS f1b \gset
SELECT is(pg_temp.flags(:f1a), '{}'::text[], 'a worker''s first visit has no flags');
SELECT is(pg_temp.flags(:f1b), '{impossible_travel,quick_succession}'::text[],
          '4 minutes after another door 11 km away: quick succession and impossible travel (167 km/h)');
SELECT pg_temp.ci('A', 'f2', '2024-05-02 09:00+08') AS f2a \gset
SELECT pg_temp.ci('B', 'f2', '2024-05-02 09:06+08') AS f2b \gset
SELECT is(pg_temp.flags(:f2b), '{impossible_travel}'::text[], '6 minutes after another door: not quick succession (111 km/h is still too fast)');
SELECT pg_temp.ci('A', 'f3', '2024-05-02 09:00+08') AS f3a \gset
SELECT pg_temp.ci('B', 'f3', '2024-05-02 09:11+08') AS f3b \gset
SELECT is(pg_temp.flags(:f3b), '{impossible_travel}'::text[], '11.12 km in 11 minutes is 60.7 km/h: impossible travel');
SELECT pg_temp.ci('A', 'f4', '2024-05-02 09:00+08') AS f4a \gset
SELECT pg_temp.ci('B', 'f4', '2024-05-02 09:12+08') AS f4b \gset
SELECT is(pg_temp.flags(:f4b), '{}'::text[], '11.12 km in 12 minutes is 55.6 km/h: nothing to flag');
SELECT pg_temp.ci('A', 'f5', '2024-05-02 09:00+08') AS f5a \gset
SELECT pg_temp.ci('C', 'f5', '2024-05-02 09:01+08') AS f5b \gset
SELECT is(pg_temp.flags(:f5b), '{quick_succession}'::text[], 'next door (56 m) a minute later: quick succession, no travel check under 100 m');
SELECT pg_temp.ci('A', 'f6', '2024-05-02 09:00+08') AS f6a \gset
SELECT pg_temp.ci('D', 'f6', '2024-05-02 09:01+08') AS f6b \gset
SELECT is(pg_temp.flags(:f6b), '{quick_succession}'::text[], 'a home without coordinates: quick succession but no travel speed');
SELECT pg_temp.ci('A', 'f7', '2024-05-02 09:00+08') AS f7a \gset
SELECT pg_temp.ci('A', 'f7', '2024-05-02 09:29+08') AS f7b \gset
SELECT is(pg_temp.flags(:f7b), '{repeat_visit}'::text[], 'the same door 29 minutes later: a repeat, not a quick succession');
SELECT pg_temp.ci('A', 'f8', '2024-05-02 09:00+08') AS f8a \gset
SELECT pg_temp.ci('A', 'f8', '2024-05-02 09:31+08') AS f8b \gset
SELECT is(pg_temp.flags(:f8b), '{}'::text[], 'the same door 31 minutes later: not a repeat');
SELECT pg_temp.ci('A', 'f9', '2024-05-02 09:00+08') AS f9a \gset
SELECT pg_temp.ci('B', 'f9', '2024-05-02 09:20+08') AS f9b \gset
SELECT pg_temp.ci('A', 'f9', '2024-05-02 09:23+08') AS f9c \gset
SELECT is(pg_temp.flags(:f9b), '{}'::text[], '11 km in 20 minutes (33 km/h): nothing');
SELECT is(pg_temp.flags(:f9c), '{impossible_travel,quick_succession,repeat_visit}'::text[],
          'back at the first door 3 minutes later: all three (speed from the previous other door, repeat of the first)');
SELECT pg_temp.ci('A', 'f10', '2024-05-02 09:10+08') AS f10a \gset
SELECT is(pg_temp.flags(:f10a), '{}'::text[], 'other workers'' visits to the same door minutes before are no repeat');
SELECT pg_temp.ci('A', 'f11', '2024-05-02 09:00:00+08') AS f11a \gset
SELECT pg_temp.ci('D', 'f11', '2024-05-02 09:04:59+08') AS f11b \gset
SELECT pg_temp.ci('A', 'f12', '2024-05-02 09:00:00+08') AS f12a \gset
SELECT pg_temp.ci('D', 'f12', '2024-05-02 09:05:01+08') AS f12b \gset
SELECT is(pg_temp.flags(:f11b), '{quick_succession}'::text[], '299 s after another door: quick succession');
SELECT is(pg_temp.flags(:f12b), '{}'::text[], '301 s after another door: not');
SELECT pg_temp.ci('A', 'f13', '2024-05-02 09:00+08') AS f13a \gset
SELECT pg_temp.ci('B', 'f13', '2024-05-02 09:00+08') AS f13b \gset
SELECT is(pg_temp.flags(:f13b), '{impossible_travel,quick_succession}'::text[], 'two doors 11 km apart at the same instant: impossible travel');
-- the thresholds are settings
SET LOCAL sanse.quick_succession = '10min';
SET LOCAL sanse.max_travel_speed = 200;
SET LOCAL sanse.repeat_window = '1min';
SELECT pg_temp.ci('A', 'f14', '2024-05-02 09:00+08') AS f14a \gset
SELECT pg_temp.ci('B', 'f14', '2024-05-02 09:06+08') AS f14b \gset
SELECT pg_temp.ci('A', 'f15', '2024-05-02 09:00+08') AS f15a \gset
SELECT pg_temp.ci('A', 'f15', '2024-05-02 09:02+08') AS f15b \gset
SELECT is(pg_temp.flags(:f14b), '{quick_succession}'::text[], 'with quick_succession 10 min and 200 km/h: 6 minutes is quick, 111 km/h is possible');
SELECT is(pg_temp.flags(:f15b), '{}'::text[], 'with repeat_window 1 min, the same door 2 minutes later is no repeat');
RESET sanse.quick_succession;
RESET sanse.max_travel_speed;
RESET sanse.repeat_window;

-----------------------------------------------------------------------------
-- the window moves forward; late visits; events created and closed
-- (no sweep has run yet).  Red due T = 2024-03-03 09:00+08, steps every 4 h.
-----------------------------------------------------------------------------
SELECT pg_temp.ci('R1', 'vol', '2024-03-03 08:59:59.999999+08') AS r1 \gset
SELECT is(pg_temp.flags(:r1), '{}'::text[], 'one microsecond before due is not late');
SELECT results_eq($$SELECT last_visit_at, next_visit FROM sanse.resident WHERE name = 'R1'$$,
                  $$VALUES ('2024-03-03 08:59:59.999999+08'::timestamptz,
                            sanse.visit_window('2024-03-03 08:59:59.999999+08', '2024-03-05 08:59:59.999999+08'))$$,
                  'an on-time visit advances last_visit_at and next_visit (two days from the visit)');
SELECT is((SELECT window_due FROM visit WHERE id = :r1), '2024-03-03 09:00+08'::timestamptz, 'and records the window it met');
SELECT is((SELECT count(*) FROM event WHERE resident_id = pg_temp.resident_id('R1')), 0::bigint, 'an on-time visit makes no event');

SELECT pg_temp.ci('R2', 'officer', '2024-03-03 09:00+08') AS r2 \gset
SELECT is(pg_temp.flags(:r2), '{late}'::text[], 'exactly at due is late');
SELECT results_eq(format($$SELECT kind, status, level, assignee_id, due_at, level_since, resolved_at, visit_id, closed_by
                             FROM sanse.event WHERE resident_id = %s$$, pg_temp.resident_id('R2')),
                  format($$VALUES ('overdue'::text, 'closed'::text, 1::smallint, %s::bigint, '2024-03-03 09:00+08'::timestamptz,
                                   '2024-03-03 09:00+08'::timestamptz, '2024-03-03 09:00+08'::timestamptz, %s::bigint, %s::bigint)$$,
                         pg_temp.worker_id('lead m1'), :r2, pg_temp.worker_id('officer')),
                  'a visit exactly at due creates and closes one level-1 event, resolved at the visit');
SELECT is((SELECT window_due FROM visit WHERE id = :r2), NULL, 'a late visit met no window');

SELECT pg_temp.ci('R3', 'vol', '2024-03-03 18:00+08') AS r3 \gset
SELECT is(pg_temp.flags(:r3), '{late}'::text[], 'nine hours after due: late');
SELECT results_eq(format($$SELECT count(*), min(status), min(level), min(level_since), min(assignee_id), min(resolved_at), min(visit_id), min(closed_by)
                             FROM sanse.event WHERE resident_id = %s$$, pg_temp.resident_id('R3')),
                  format($$VALUES (1::bigint, 'closed'::text, 3::smallint, '2024-03-03 17:00+08'::timestamptz, %s::bigint,
                                   '2024-03-03 18:00+08'::timestamptz, %s::bigint, %s::bigint)$$,
                         pg_temp.worker_id('lead tg'), :r3, pg_temp.worker_id('vol')),
                  'the late visit with no sweep creates and closes one event at level 3 (steps at T, T+4 h, T+8 h)');
SELECT results_eq(format($$SELECT s.level, s.assignee_id, s.at FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id
                             WHERE e.resident_id = %s ORDER BY s.level$$, pg_temp.resident_id('R3')),
                  format($$VALUES (1::smallint, %s::bigint, '2024-03-03 09:00+08'::timestamptz),
                                  (2::smallint, %s::bigint, '2024-03-03 13:00+08'::timestamptz),
                                  (3::smallint, %s::bigint, '2024-03-03 17:00+08'::timestamptz)$$,
                         pg_temp.worker_id('lead m1'), pg_temp.worker_id('lead g'), pg_temp.worker_id('lead tg')),
                  'with its steps 1..3: micro grid, general grid and total grid leaders at their logical times');
SELECT results_eq($$SELECT last_visit_at, next_visit FROM sanse.resident WHERE name = 'R3'$$,
                  $$VALUES ('2024-03-03 18:00+08'::timestamptz, sanse.visit_window('2024-03-03 18:00+08', '2024-03-05 18:00+08'))$$,
                  'the late visit is the new anchor');
-- a retry of the late scan: same visit, still one event
SELECT is(pg_temp.ci('R3', 'vol', '2024-03-03 18:00+08'), :r3::bigint, 'retrying the late scan returns the same visit');
SELECT is((SELECT count(*) FROM event WHERE resident_id = pg_temp.resident_id('R3')), 1::bigint, 'and makes no second event');
SELECT is((SELECT count(*) FROM event_step s JOIN event e ON e.id = s.event_id WHERE e.resident_id = pg_temp.resident_id('R3')), 3::bigint,
          'nor more steps');

SELECT pg_temp.ci('R4', 'vol', '2024-03-03 17:00+08') AS r4 \gset
SELECT results_eq(format('SELECT level, level_since, assignee_id FROM sanse.event WHERE resident_id = %s', pg_temp.resident_id('R4')),
                  format($$VALUES (3::smallint, '2024-03-03 17:00+08'::timestamptz, %s::bigint)$$, pg_temp.worker_id('lead tg')),
                  'a visit exactly at a step time closes at that step''s level (level_since + escalate_after <= at)');
SELECT pg_temp.ci('R5', 'vol', '2024-03-03 16:59:59.999999+08') AS r5 \gset
SELECT results_eq(format('SELECT level, level_since, assignee_id FROM sanse.event WHERE resident_id = %s', pg_temp.resident_id('R5')),
                  format($$VALUES (2::smallint, '2024-03-03 13:00+08'::timestamptz, %s::bigint)$$, pg_temp.worker_id('lead g')),
                  'one microsecond before the third step: level 2');
SELECT is((SELECT count(*) FROM event_step s JOIN event e ON e.id = s.event_id WHERE e.resident_id = pg_temp.resident_id('R5')), 2::bigint,
          'with steps 1 and 2 only');

-- yellow: window [03-04, 03-11) in Asia/Shanghai, a day per step; visited Wednesday 03-13 10:00+08
SELECT is((SELECT next_visit FROM resident WHERE name = 'Y1'), sanse.visit_window('2024-03-04 00:00+08', '2024-03-11 00:00+08'),
          'yellow registered on a Friday is due by the end of the next calendar week (Asia/Shanghai)');
SELECT pg_temp.ci('Y1', 'vol', '2024-03-13 10:00+08') AS y1 \gset
SELECT results_eq(format($$SELECT s.level, s.at FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id
                             WHERE e.resident_id = %s ORDER BY s.level$$, pg_temp.resident_id('Y1')),
                  $$VALUES (1::smallint, '2024-03-11 00:00+08'::timestamptz), (2::smallint, '2024-03-12 00:00+08'), (3::smallint, '2024-03-13 00:00+08')$$,
                  'yellow two days and ten hours late: steps at local midnights');
SELECT results_eq(format('SELECT status, level, level_since, resolved_at, visit_id FROM sanse.event WHERE resident_id = %s', pg_temp.resident_id('Y1')),
                  format($$VALUES ('closed'::text, 3::smallint, '2024-03-13 00:00+08'::timestamptz, '2024-03-13 10:00+08'::timestamptz, %s::bigint)$$, :y1),
                  'and the event closes at level 3');
SELECT is((SELECT next_visit FROM resident WHERE name = 'Y1'), sanse.visit_window('2024-03-18 00:00+08', '2024-03-25 00:00+08'),
          'the next yellow window is the calendar week after the visit''s');
-- blue: due 03-01 00:00+08, three days per step; visited 03-05 10:00+08
SELECT pg_temp.ci('B1', 'officer', '2024-03-05 10:00+08') AS b1 \gset
SELECT results_eq(format('SELECT level, level_since, assignee_id, closed_by FROM sanse.event WHERE resident_id = %s', pg_temp.resident_id('B1')),
                  format($$VALUES (2::smallint, '2024-03-04 00:00+08'::timestamptz, %s::bigint, %s::bigint)$$, pg_temp.worker_id('lead g'), pg_temp.worker_id('officer')),
                  'blue four and a half days late: level 2 (steps 03-01, 03-04)');

-- R8: back-dated visits are kept but move nothing and close nothing
SELECT pg_temp.ci('R8', 'vol', '2024-03-02 10:00+08') AS r8a \gset
SELECT pg_temp.ci('R8', 'officer', '2024-03-02 08:00+08') AS r8b \gset
SELECT ok((SELECT count(*) FROM visit WHERE resident_id = pg_temp.resident_id('R8')) = 2, 'a back-dated visit is stored');
SELECT results_eq($$SELECT last_visit_at, next_visit FROM sanse.resident WHERE name = 'R8'$$,
                  $$VALUES ('2024-03-02 10:00+08'::timestamptz, sanse.visit_window('2024-03-02 10:00+08', '2024-03-04 10:00+08'))$$,
                  'but last_visit_at and next_visit do not move back');

-----------------------------------------------------------------------------
-- visits after sweeps
-----------------------------------------------------------------------------
-- R6: the sweep opens the event at T+1h and escalates it by T+5h; the visit at T+6h closes it
SELECT is(sweep_overdue('2024-03-03 10:00+08') >= 1, true, 'a sweep opens R6''s event');
SELECT id AS r6_event FROM event WHERE resident_id = pg_temp.resident_id('R6') \gset
SELECT sweep_escalations('2024-03-03 14:00+08') >= 1 AS escalated \gset
SELECT pg_temp.ci('R6', 'vol', '2024-03-03 15:00+08') AS r6 \gset
SELECT results_eq(format('SELECT id, status, level, level_since, assignee_id, resolved_at, visit_id, closed_by FROM sanse.event WHERE resident_id = %s', pg_temp.resident_id('R6')),
                  format($$VALUES (%s::bigint, 'closed'::text, 2::smallint, '2024-03-03 13:00+08'::timestamptz, %s::bigint,
                                   '2024-03-03 15:00+08'::timestamptz, %s::bigint, %s::bigint)$$,
                         :r6_event, pg_temp.worker_id('lead g'), :r6, pg_temp.worker_id('vol')),
                  'a visit after a sweep closes the sweep''s event (no second one) at the level reached');
SELECT is(pg_temp.flags(:r6), '{late}'::text[], 'and is flagged late');
SELECT throws_ok(format($$INSERT INTO sanse.event (resident_id, area_id, tier, due_at, level_since, next_step_at)
                          VALUES (%s, (SELECT id FROM sanse.area WHERE name = 'M1'), 'red', '2024-03-03 09:00+08', '2024-03-03 09:00+08', '2024-03-03 13:00+08')$$,
                        pg_temp.resident_id('R6')),
                 '23505', NULL, 'a second overdue event for the same (resident, due) is impossible');

-- R7: a sweep at T+13h takes the event to level 4; then a visit made at T+5h syncs
SELECT sweep('2024-03-03 22:00+08') IS NOT NULL AS swept \gset
SELECT results_eq(format('SELECT status, level, level_since, assignee_id FROM sanse.event WHERE resident_id = %s', pg_temp.resident_id('R7')),
                  format($$VALUES ('open'::text, 4::smallint, '2024-03-03 21:00+08'::timestamptz, %s::bigint)$$, pg_temp.worker_id('task force')),
                  'before the sync R7''s event is open at level 4 (task force since T+12 h)');
SELECT pg_temp.ci('R7', 'officer', '2024-03-03 14:00+08') AS r7 \gset
SELECT results_eq(format('SELECT status, level, level_since, assignee_id, resolved_at, visit_id, closed_by FROM sanse.event WHERE resident_id = %s', pg_temp.resident_id('R7')),
                  format($$VALUES ('closed'::text, 2::smallint, '2024-03-03 13:00+08'::timestamptz, %s::bigint,
                                   '2024-03-03 14:00+08'::timestamptz, %s::bigint, %s::bigint)$$,
                         pg_temp.worker_id('lead g'), :r7, pg_temp.worker_id('officer')),
                  'a synced visit made at T+5 h closes it at the level of T+5 h: level 2, general grid leader');
SELECT results_eq($$SELECT last_visit_at, next_visit FROM sanse.resident WHERE name = 'R7'$$,
                  $$VALUES ('2024-03-03 14:00+08'::timestamptz, sanse.visit_window('2024-03-03 14:00+08', '2024-03-05 14:00+08'))$$,
                  'and becomes the anchor');

-- R8 (continued): a sweep opens the event of its window; a back-dated visit does not close it
SELECT is(sweep_overdue('2024-03-04 12:00+08') >= 1, true, 'R8''s window (due 03-04 10:00) is missed and swept');
SELECT pg_temp.ci('R8', 'officer', '2024-03-02 09:00+08') AS r8c \gset
SELECT results_eq(format('SELECT status, due_at, resolved_at FROM sanse.event WHERE resident_id = %s', pg_temp.resident_id('R8')),
                  $$VALUES ('open'::text, '2024-03-04 10:00+08'::timestamptz, NULL::timestamptz)$$,
                  'a visit back-dated before last_visit_at closes nothing');
SELECT is((SELECT last_visit_at FROM resident WHERE name = 'R8'), '2024-03-02 10:00+08'::timestamptz, 'and never moves last_visit_at backwards');

-- R9: a red window swept, then the resident became blue and its re-derived
-- window (after the same last visit) passed too: one missed period, one
-- event (issue 18), the red window's
SELECT results_eq(format('SELECT status, level FROM sanse.event WHERE resident_id = %s', pg_temp.resident_id('R9')),
                  $$VALUES ('open'::text, 4::smallint)$$, 'R9''s red window (due T) is open at level 4');
UPDATE resident SET factors = '{mobility_impaired}' WHERE name = 'R9';
SELECT is((SELECT next_visit FROM resident WHERE name = 'R9'), sanse.visit_window('2024-04-01 00:00+08', '2024-05-01 00:00+08'),
          'now blue, its window is April');
SELECT sweep_overdue('2024-05-02 00:00+08') >= 1 AS swept \gset
SELECT is((SELECT count(*) FROM event WHERE resident_id = pg_temp.resident_id('R9') AND status <> 'closed'), 1::bigint, 'R9 has one open event, not one per re-derived window');
SELECT pg_temp.ci('R9', 'vol', '2024-05-02 10:00+08') AS r9 \gset
SELECT results_eq(format($$SELECT due_at, status, level, level_since, assignee_id, resolved_at, visit_id, closed_by
                             FROM sanse.event WHERE resident_id = %s ORDER BY due_at$$, pg_temp.resident_id('R9')),
                  format($$VALUES ('2024-03-03 09:00+08'::timestamptz, 'closed'::text, 4::smallint, '2024-03-03 21:00+08'::timestamptz, %s::bigint,
                                   '2024-05-02 10:00+08'::timestamptz, %s::bigint, %s::bigint)$$,
                         pg_temp.worker_id('task force'), :r9, pg_temp.worker_id('vol')),
                  'the visit closes the one open overdue event of the resident, at its level');

-----------------------------------------------------------------------------
-- more flags: a repeat that is neither quick nor too fast, and a calm visit
-- (f17: B at 08:00, A at 08:04 and 08:20, B at 09:00; A and B 11.12 km apart)
-----------------------------------------------------------------------------
INSERT INTO worker (name, force, role, area_id) VALUES ('f17', 'grid_officer', 'micro_grid_leader', pg_temp.area_id('d.t.v.tg.g.m2'));
SELECT pg_temp.ci('B', 'f17', '2024-05-03 08:00+08') AS f17a \gset
SELECT pg_temp.ci('A', 'f17', '2024-05-03 08:04+08') AS f17b \gset
SELECT pg_temp.ci('A', 'f17', '2024-05-03 08:20+08') AS f17c \gset
SELECT pg_temp.ci('B', 'f17', '2024-05-03 09:00+08') AS f17d \gset
SELECT is(pg_temp.flags(:f17c), '{repeat_visit}'::text[],
          'the same door 16 minutes later: a repeat (20 minutes after the other door, 33 km/h: neither quick nor too fast)');
SELECT is(pg_temp.flags(:f17d), '{}'::text[], '40 minutes and 11 km later (17 km/h): nothing to flag');

-----------------------------------------------------------------------------
-- a sweep made the event first and escalated it past the visit's time
-- (offline sync): R10, red, registered 03-04 17:20, due 03-06 17:20; the
-- sweep of 03-07 00:00 takes it to level 2 (21:20); the visit made at 18:00
-----------------------------------------------------------------------------
INSERT INTO resident (area_id, name, factors, registered_at) VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'R10', '{accident_risk}', '2024-03-04 17:20+08');
INSERT INTO carer (resident_id, worker_id) VALUES (pg_temp.resident_id('R10'), pg_temp.worker_id('vol'));
SELECT sweep('2024-03-07 00:00+08') IS NOT NULL AS swept \gset
SELECT pg_temp.ci('R10', 'vol', '2024-03-06 18:00+08') AS synced \gset
SELECT results_eq(format($$SELECT status, level, level_since, visit_id FROM sanse.event
                             WHERE resident_id = %s AND due_at = '2024-03-06 17:20+08'$$, pg_temp.resident_id('R10')),
                  format($$VALUES ('closed'::text, 1::smallint, '2024-03-06 17:20+08'::timestamptz, %s::bigint)$$, :synced),
                  'a back-synced visit closes the sweep''s event at the level its schedule had at the visit (level 1 at 18:00)');
SELECT is((SELECT count(*) FROM event WHERE resident_id = pg_temp.resident_id('R10') AND due_at = '2024-03-06 17:20+08'), 1::bigint,
          'one event for the window, never two');

SELECT * FROM finish();
ROLLBACK;
