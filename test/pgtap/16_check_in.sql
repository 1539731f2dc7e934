-- pgTAP: door tokens and check_in — errors, who may check in, retries,
-- flags, back-dated visits and the events a visit closes.
BEGIN;
SET LOCAL sanse.max_backdate = '100 years';	-- check-ins dated in 2024
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'Asia/Shanghai';
SELECT plan(48);

SELECT has_function('sanse', 'door_token', ARRAY['bigint'], 'door_token(resident_id)');
SELECT has_function('sanse', 'revoke_door_token', ARRAY['bigint'], 'revoke_door_token(resident_id)');
SELECT has_function('sanse', 'check_in', ARRAY['text', 'bigint', 'timestamp with time zone', 'text[]', 'text'], 'check_in(token, worker_id, at, checklist, note)');

INSERT INTO area (path, kind, name) VALUES ('k', 'district', 'K'), ('k.t', 'town', 'T'), ('k.t.v', 'village', 'V'),
  ('k.t.v.tg', 'total_grid', 'TG'), ('k.t.v.tg.g', 'general_grid', 'G'),
  ('k.t.v.tg.g.m1', 'micro_grid', 'M1'), ('k.t.v.tg.g.m2', 'micro_grid', 'M2'),
  ('k2', 'district', 'K2'), ('k2.t', 'town', 'T2');
INSERT INTO worker (name, force, role, area_id, active)
SELECT v.name, v.force, v.role, a.id, v.active
  FROM (VALUES ('dept', 'department_staff', 'member', 'k.t', true),
               ('cadre', 'community_cadre', 'member', 'k.t.v.tg.g', true),
               ('officer', 'grid_officer', 'micro_grid_leader', 'k.t.v.tg.g.m1', true),
               ('pro', 'service_professional', 'member', 'k.t.v', true),
               ('vol', 'volunteer', 'member', 'k.t.v.tg.g.m1', true),
               ('lead g', 'community_cadre', 'general_grid_leader', 'k.t.v.tg.g', true),
               ('lead tg', 'community_cadre', 'total_grid_leader', 'k.t.v.tg', true),
               ('task force', 'department_staff', 'task_force', 'k', true),
               ('other leader', 'grid_officer', 'micro_grid_leader', 'k.t.v.tg.g.m2', true),
               ('other task force', 'department_staff', 'task_force', 'k2', true),
               ('neighbour', 'volunteer', 'member', 'k.t.v.tg.g.m1', true),
               ('retired', 'volunteer', 'member', 'k.t.v.tg.g.m1', true)) v(name, force, role, path, active)
  JOIN area a ON a.path = v.path::ltree;
CREATE FUNCTION pg_temp.w(n text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM sanse.worker WHERE name = n $$;
CREATE FUNCTION pg_temp.r(n text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM sanse.resident WHERE name = n $$;
-- Wang (red) and Li (red) in M1, about 11 km apart; Zhao (blue) in M2
INSERT INTO resident (area_id, name, factors, registered_at, lat, lon)
SELECT a.id, v.name, v.f, '2024-03-01 09:00+08', v.lat, v.lon
  FROM (VALUES ('Wang', '{accident_risk}'::text[], 'k.t.v.tg.g.m1', 30.600, 104.000),
               ('Li', '{accident_risk}', 'k.t.v.tg.g.m1', 30.700, 104.000),
               ('Zhao', '{mobility_impaired}', 'k.t.v.tg.g.m2', NULL, NULL)) v(name, f, path, lat, lon)
  JOIN area a ON a.path = v.path::ltree;
INSERT INTO carer (resident_id, worker_id)
SELECT pg_temp.r(r), pg_temp.w(w) FROM (VALUES ('Wang', 'dept'), ('Wang', 'cadre'), ('Wang', 'officer'), ('Wang', 'pro'),
  ('Wang', 'vol'), ('Li', 'vol'), ('Wang', 'retired'), ('Zhao', 'other leader')) v(r, w)
 WHERE NOT (r = 'Wang' AND w = 'retired');
UPDATE worker SET active = false WHERE name = 'retired';

-- tokens: opaque, URL-safe, stable, 43 characters
SELECT is(length(door_token(pg_temp.r('Wang'))), 43, 'a token is 43 characters (at most 64)');
SELECT ok(door_token(pg_temp.r('Wang')) ~ '^[A-Za-z0-9_-]+$', 'a token is URL-safe');
SELECT is(door_token(pg_temp.r('Wang')), door_token(pg_temp.r('Wang')), 'a door keeps its token');
SELECT isnt(door_token(pg_temp.r('Wang')), door_token(pg_temp.r('Li')), 'doors differ');
SELECT ok(substr(door_token(pg_temp.r('Wang')), 2, 20) <> substr(door_token(pg_temp.r('Li')), 2, 20),
          'tokens of neighbouring residents share nothing past the format character');
SELECT ok(position(pg_temp.r('Wang')::text IN substr(door_token(pg_temp.r('Wang')), 1, 3)) = 0
          AND position('red' IN lower(door_token(pg_temp.r('Wang')))) = 0, 'no id or tier in plain sight');
SELECT throws_ok($$SELECT sanse.door_token(-1)$$, '22023', NULL, 'no token for a missing resident');

SELECT door_token(pg_temp.r('Wang')) AS wang, door_token(pg_temp.r('Li')) AS li, door_token(pg_temp.r('Zhao')) AS zhao \gset

-- every listed error with its SQLSTATE
SELECT throws_ok(format('SELECT sanse.check_in(%L, %s, %L)', overlay(:'wang' PLACING CASE WHEN substr(:'wang', 30, 1) = 'x' THEN 'y' ELSE 'x' END FROM 30 FOR 1), pg_temp.w('vol'), '2024-03-02 10:00+08'),
                 '28000', NULL, 'a forged token is 28000');
SELECT throws_ok(format('SELECT sanse.check_in(%L, %s, %L)', left(:'wang', 40), pg_temp.w('vol'), '2024-03-02 10:00+08'), '28000', NULL, 'a truncated token is 28000');
SELECT throws_ok(format('SELECT sanse.check_in(%L, %s, %L)', '', pg_temp.w('vol'), '2024-03-02 10:00+08'), '28000', NULL, 'an empty token is 28000');
SELECT throws_ok(format('SELECT sanse.check_in(NULL, %s, %L)', pg_temp.w('vol'), '2024-03-02 10:00+08'), '28000', NULL, 'a NULL token is 28000');
SELECT throws_ok(format('SELECT sanse.check_in(%L, NULL, %L)', :'wang', '2024-03-02 10:00+08'), '22004', NULL, 'a NULL worker is 22004');
SELECT throws_ok(format('SELECT sanse.check_in(%L, %s, now() + interval ''6 minutes'')', :'wang', pg_temp.w('vol')), '22008', NULL, 'six minutes in the future is 22008');
SELECT throws_ok(format('SELECT sanse.check_in(%L, %s, %L, ''{ask_health,sing}'')', :'wang', pg_temp.w('vol'), '2024-03-02 10:00+08'),
                 '22023', 'unknown checklist item "sing"', 'an unknown checklist item is 22023');
SELECT throws_ok(format('SELECT sanse.check_in(%L, %s, %L)', :'wang', pg_temp.w('neighbour'), '2024-03-02 10:00+08'), '42501', NULL, 'a member who is not a carer is 42501');
SELECT throws_ok(format('SELECT sanse.check_in(%L, %s, %L)', :'wang', pg_temp.w('retired'), '2024-03-02 10:00+08'), '42501', NULL, 'an inactive worker is 42501');
SELECT throws_ok(format('SELECT sanse.check_in(%L, %s, %L)', :'wang', pg_temp.w('other leader'), '2024-03-02 10:00+08'), '42501', NULL, 'the leader of another micro grid is 42501');
SELECT throws_ok(format('SELECT sanse.check_in(%L, %s, %L)', :'wang', pg_temp.w('other task force'), '2024-03-02 10:00+08'), '42501', NULL, 'the task force of another district is 42501');
SELECT throws_ok(format('SELECT sanse.check_in(%L, 999999, %L)', :'wang', '2024-03-02 10:00+08'), '42501', NULL, 'an unknown worker is 42501');
SELECT lives_ok(format('SELECT sanse.check_in(%L, %s, now() + interval ''4 minutes'')', :'zhao', pg_temp.w('other leader')), 'four minutes ahead is accepted');

-- who may check in at Wang's door (one visit each, an hour apart)
SELECT ok(check_in(:'wang', pg_temp.w(w), timestamptz '2024-03-01 10:00+08' + i * interval '1 hour') > 0, format('%s may check in', w))
  FROM unnest(ARRAY['dept', 'cadre', 'officer', 'pro', 'vol', 'lead g', 'lead tg', 'task force']) WITH ORDINALITY u(w, i);

-- a retry returns the same visit and writes nothing
SELECT is(check_in(:'li', pg_temp.w('vol'), '2024-03-02 08:00+08', '{ask_health}'),
          check_in(:'li', pg_temp.w('vol'), '2024-03-02 08:00+08', '{ask_health}'), 'a retried scan returns the same visit id');
SELECT is((SELECT count(*) FROM visit WHERE resident_id = pg_temp.r('Li')), 1::bigint, 'and stores one visit');

-- flags: vol was at Li's at 08:00 (11 km away)
SELECT check_in(:'wang', pg_temp.w('vol'), '2024-03-02 08:04+08') AS v_quick \gset
SELECT check_in(:'wang', pg_temp.w('vol'), '2024-03-02 08:20+08') AS v_repeat \gset
SELECT check_in(:'li', pg_temp.w('vol'), '2024-03-02 09:00+08') AS v_calm \gset
SELECT check_in(:'li', pg_temp.w('vol'), '2024-03-04 08:59:59.999999+08') AS v_just \gset
SELECT is((SELECT flags FROM visit WHERE id = :v_quick), '{quick_succession,impossible_travel}'::text[],
          '4 minutes after another door 11 km away (167 km/h): quick succession and impossible travel');
SELECT is((SELECT flags FROM visit WHERE id = :v_repeat), '{repeat_visit}'::text[],
          'the same door 16 minutes later: a repeat (20 minutes after the other door, 33 km/h: neither quick nor too fast)');
SELECT is((SELECT flags FROM visit WHERE id = :v_calm), '{}'::text[], '40 minutes and 11 km later (17 km/h): nothing to flag');
-- late: Li's window after the 09:00 visit is due 03-04 09:00
SELECT is((SELECT flags FROM visit WHERE id = :v_just), '{}'::text[], 'a microsecond before due is on time');
-- Wang: last visit 03-02 08:20, due 03-04 08:20; the visit at 03-04 17:20 is 9 h late
SELECT check_in(:'wang', pg_temp.w('vol'), '2024-03-04 17:20+08') AS late_visit \gset
SELECT is((SELECT flags FROM visit WHERE id = :late_visit), '{late}'::text[], 'after due: late');
SELECT results_eq($$SELECT e.due_at, e.status, e.level, e.resolved_at, e.visit_id, w.name
                     FROM sanse.event e JOIN sanse.worker w ON w.id = e.closed_by WHERE e.resident_id = pg_temp.r('Wang')$$,
                  format($$VALUES ('2024-03-04 08:20+08'::timestamptz, 'closed'::text, 3::smallint, '2024-03-04 17:20+08'::timestamptz, %s::bigint, 'vol'::text)$$, :late_visit),
                  'a late visit with no sweep creates and closes its event, at the level reached (steps at +0, +4 h, +8 h)');
SELECT results_eq($$SELECT s.level, s.at, w.name FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id
                     JOIN sanse.worker w ON w.id = s.assignee_id WHERE e.resident_id = pg_temp.r('Wang') ORDER BY s.level$$,
                  $$VALUES (1::smallint, '2024-03-04 08:20+08'::timestamptz, 'officer'::text),
                           (2::smallint, '2024-03-04 12:20+08', 'lead g'), (3::smallint, '2024-03-04 16:20+08', 'lead tg')$$,
                  'with every step up to the visit');

-- a sweep made the event first and escalated it past the visit's time (offline sync)
SELECT sweep('2024-03-07 00:00+08');	-- Wang's next window (due 03-06 17:20) is missed: level 2 by 03-06 21:20
SELECT check_in(:'wang', pg_temp.w('vol'), '2024-03-06 18:00+08') AS synced \gset
SELECT results_eq($$SELECT status, level, level_since, visit_id FROM sanse.event
                     WHERE resident_id = pg_temp.r('Wang') AND due_at = '2024-03-06 17:20+08'$$,
                  format($$VALUES ('closed'::text, 1::smallint, '2024-03-06 17:20+08'::timestamptz, %s::bigint)$$, :synced),
                  'a back-synced visit closes the sweep''s event at the level its schedule had at the visit (level 1 at 18:00)');
SELECT is((SELECT count(*) FROM event WHERE resident_id = pg_temp.r('Wang') AND due_at = '2024-03-06 17:20+08'), 1::bigint,
          'one event for the window, never two');

-- back-dated visits are kept but never move the window back
SELECT next_visit AS before FROM resident WHERE name = 'Wang' \gset
SELECT ok(check_in(:'wang', pg_temp.w('cadre'), '2024-03-05 07:00+08') > 0, 'a back-dated visit is stored');
SELECT is((SELECT next_visit FROM resident WHERE name = 'Wang'), :'before'::visit_window, 'and leaves the window where it was');
SELECT is((SELECT last_visit_at FROM resident WHERE name = 'Wang'), '2024-03-06 18:00+08'::timestamptz, 'last_visit_at never goes back');
SELECT check_in(:'wang', pg_temp.w('pro'), '2024-03-07 10:00+08', '{ask_health,check_gas,clear_passage}', 'stove fixed') AS v_note \gset
SELECT results_eq(format($$SELECT checklist, note, area_id = (SELECT area_id FROM sanse.resident WHERE name = 'Wang')
                            FROM sanse.visit WHERE id = %s$$, :v_note),
                  $$VALUES ('{ask_health,check_gas,clear_passage}'::text[], 'stove fixed'::text, true)$$,
                  'checklist, note and the resident''s micro grid are stored');

-- revocation kills the old token at once
SELECT revoke_door_token(pg_temp.r('Li')) AS li_new \gset
SELECT throws_ok(format('SELECT sanse.check_in(%L, %s, %L)', :'li', pg_temp.w('vol'), '2024-03-08 10:00+08'), '28000', NULL, 'a revoked token is 28000');
SELECT ok(check_in(:'li_new', pg_temp.w('vol'), '2024-03-08 10:00+08') > 0, 'the new token works');

SELECT * FROM finish();
ROLLBACK;
