-- pgTAP: the grid hierarchy, workers and leaders, five-for-one carers.
BEGIN;
SET LOCAL search_path = public, sanse;
SELECT plan(36);

SELECT has_table('sanse', 'area', 'area');
SELECT has_table('sanse', 'worker', 'worker');
SELECT has_table('sanse', 'carer', 'carer');
SELECT has_table('sanse', 'resident', 'resident');
SELECT columns_are('sanse', 'area', ARRAY['id', 'path', 'kind', 'name'], 'area has the pinned columns');
SELECT has_column('sanse', 'worker', c, format('worker.%s', c))
  FROM unnest(ARRAY['id', 'name', 'force', 'role', 'area_id', 'db_role', 'active']) c;
SELECT col_type_is('sanse', 'area', 'path', 'public', 'ltree', 'area.path is an ltree');

INSERT INTO area (path, kind, name) VALUES ('h', 'district', 'H'), ('h.t', 'town', 'T'), ('h.t.v', 'village', 'V'),
  ('h.t.v.tg', 'total_grid', 'TG'), ('h.t.v.tg.g', 'general_grid', 'G'), ('h.t.v.tg.g.m', 'micro_grid', 'M'),
  ('h.t.v.tg.g.empty', 'micro_grid', 'empty');

SELECT throws_ok($$INSERT INTO sanse.area (path, kind, name) VALUES ('x', 'town', 'x')$$, '23514', NULL, 'a top-level area is a district');
SELECT throws_ok($$INSERT INTO sanse.area (path, kind, name) VALUES ('h.t.v.m', 'micro_grid', 'x')$$, '23514', NULL,
                 'a micro grid cannot sit directly under a village');
SELECT throws_ok($$INSERT INTO sanse.area (path, kind, name) VALUES ('h.nowhere.v', 'village', 'x')$$, '23503', NULL,
                 'the parent must exist');
SELECT throws_ok($$INSERT INTO sanse.area (path, kind, name) VALUES ('h.t2', 'hamlet', 'x')$$, '23514', NULL, 'unknown kinds are refused');
SELECT lives_ok($$INSERT INTO sanse.area (path, kind, name) VALUES ('h.t2', 'town', 'T2')$$, 'a town under the district');

INSERT INTO worker (name, force, role, area_id)
SELECT v.n, v.f, v.r, a.id FROM (VALUES
  ('dept', 'department_staff', 'member', 'h.t'), ('cadre', 'community_cadre', 'member', 'h.t.v.tg.g'),
  ('officer', 'grid_officer', 'micro_grid_leader', 'h.t.v.tg.g.m'), ('pro', 'service_professional', 'member', 'h.t.v'),
  ('vol', 'volunteer', 'member', 'h.t.v.tg.g.m'), ('vol2', 'volunteer', 'member', 'h.t.v.tg.g.m'),
  ('task force', 'department_staff', 'task_force', 'h')) v(n, f, r, p)
  JOIN area a ON a.path = v.p::ltree;
SELECT throws_ok($$INSERT INTO sanse.worker (name, force, role, area_id) SELECT 'x', 'wizard', 'member', id FROM sanse.area WHERE path = 'h'$$,
                 '23514', NULL, 'unknown forces are refused');
SELECT throws_ok($$INSERT INTO sanse.worker (name, force, role, area_id) SELECT 'x', 'volunteer', 'mayor', id FROM sanse.area WHERE path = 'h'$$,
                 '23514', NULL, 'unknown roles are refused');
SELECT throws_ok($$INSERT INTO sanse.worker (name, force, role, area_id) SELECT 'x', 'grid_officer', 'micro_grid_leader', id FROM sanse.area WHERE path = 'h.t.v.tg.g'$$,
                 '23503', NULL, 'a micro grid leader leads a micro grid');
SELECT throws_ok($$INSERT INTO sanse.worker (name, force, role, area_id) SELECT 'x', 'department_staff', 'task_force', id FROM sanse.area WHERE path = 'h.t'$$,
                 '23503', NULL, 'a task force belongs to a district');
SELECT throws_ok($$INSERT INTO sanse.worker (name, force, role, area_id) SELECT 'x', 'community_cadre', 'general_grid_leader', id FROM sanse.area WHERE path = 'h.t.v.tg'$$,
                 '23503', NULL, 'a general grid leader leads a general grid');

INSERT INTO resident (area_id, name, factors) SELECT id, 'Wang', '{accident_risk}' FROM area WHERE path = 'h.t.v.tg.g.m';
SELECT throws_ok($$INSERT INTO sanse.resident (area_id, name) SELECT id, 'x' FROM sanse.area WHERE path = 'h.t.v.tg.g'$$,
                 '23503', NULL, 'residents live in micro grids');

-- five-for-one
INSERT INTO carer (resident_id, worker_id)
SELECT r.id, w.id FROM resident r, worker w WHERE w.name IN ('dept', 'cadre', 'officer');
SELECT results_eq($$SELECT missing_forces FROM sanse.carer_gaps$$, $$VALUES ('{service_professional,volunteer}'::text[])$$,
                  'carer_gaps names the missing forces');
INSERT INTO carer (resident_id, worker_id) SELECT r.id, w.id FROM resident r, worker w WHERE w.name = 'vol';
SELECT throws_ok($$INSERT INTO sanse.carer (resident_id, worker_id) SELECT r.id, w.id FROM sanse.resident r, sanse.worker w WHERE w.name = 'vol2'$$,
                 '23505', NULL, 'one carer per force');
SELECT is((SELECT c.force FROM carer c JOIN worker w ON w.id = c.worker_id WHERE w.name = 'vol'), 'volunteer', 'a carer''s force is the worker''s');
UPDATE worker SET active = false WHERE name = 'dept';
SELECT throws_ok($$INSERT INTO sanse.carer (resident_id, worker_id) SELECT r.id, w.id FROM sanse.resident r, sanse.worker w WHERE w.name = 'task force'$$,
                 '23505', NULL, 'the force slot is still taken by the inactive carer');
SELECT results_eq($$SELECT missing_forces FROM sanse.carer_gaps$$, $$VALUES ('{department_staff,service_professional}'::text[])$$,
                  'an inactive carer counts as missing');
UPDATE worker SET active = true WHERE name = 'dept';
UPDATE worker SET active = false WHERE name = 'pro';
SELECT throws_ok($$INSERT INTO sanse.carer (resident_id, worker_id) SELECT r.id, w.id FROM sanse.resident r, sanse.worker w WHERE w.name = 'pro'$$,
                 '55000', NULL, 'carers must be active workers');
UPDATE worker SET active = true WHERE name = 'pro';
INSERT INTO carer (resident_id, worker_id) SELECT r.id, w.id FROM resident r, worker w WHERE w.name = 'pro';
SELECT is((SELECT count(*) FROM carer_gaps), 0::bigint, 'a complete five-for-one leaves carer_gaps');
SELECT throws_ok($$UPDATE sanse.worker SET force = 'department_staff' WHERE name = 'cadre'$$, '23505', NULL,
                 'a force change that would double a force is refused');

-- moves and deletes that would strand people
SELECT throws_ok($$DELETE FROM sanse.area WHERE path = 'h.t.v.tg.g.m'$$, '2BP01', NULL, 'a micro grid with residents cannot be deleted');
SELECT throws_ok($$UPDATE sanse.area SET path = 'h.t2.m' WHERE path = 'h.t.v.tg.g.m'$$, '2BP01', NULL, 'nor moved');
SELECT throws_ok($$DELETE FROM sanse.area WHERE path = 'h.t.v'$$, '2BP01', NULL, 'an area with child areas cannot be deleted');
SELECT throws_ok($$DELETE FROM sanse.area WHERE path = 'h.t'$$, '2BP01', NULL, 'nor one with workers (or children)');

SELECT * FROM finish();
ROLLBACK;
