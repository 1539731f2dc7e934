-- pgTAP: the grid hierarchy (area), workers of the five forces and their
-- leader roles, the five-for-one carers and the carer_gaps view (spec 1, 6;
-- issue 3).  Everything is rolled back.
BEGIN;
SET LOCAL search_path = public, sanse;
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(106);

-- 'SQLSTATE constraint' of the error a statement raises ('ok' if none)
CREATE FUNCTION pg_temp.refusal(q text) RETURNS text LANGUAGE sql AS $$
	SELECT e.state || coalesce(' ' || nullif(e.constraint_name, ''), '') FROM pg_temp.error_of(q) e
$$;
-- the missing forces of a resident in carer_gaps, sorted (NULL: not listed)
CREATE FUNCTION pg_temp.gaps(n text) RETURNS text[] LANGUAGE sql
RETURN (SELECT array(SELECT f FROM unnest(g.missing_forces) f ORDER BY f)
          FROM sanse.carer_gaps g WHERE g.resident_id = pg_temp.resident_id(n));

SELECT has_table('sanse', 'area', 'table sanse.area exists');
SELECT has_table('sanse', 'worker', 'table sanse.worker exists');
SELECT has_table('sanse', 'carer', 'table sanse.carer exists');
SELECT has_view('sanse', 'carer_gaps', 'view sanse.carer_gaps exists');

---------------------------------------------------------------------------
-- The six kinds, each exactly one level below its parent
---------------------------------------------------------------------------
SELECT lives_ok($$
	INSERT INTO sanse.area (path, kind, name) VALUES
		('hq', 'district', 'HQ district'),
		('hq.t1', 'town', 'Town 1'),
		('hq.t1.v1', 'village', 'Village 1'),
		('hq.t1.v1.z1', 'total_grid', 'Total grid 1'),
		('hq.t1.v1.z1.g1', 'general_grid', 'General grid 1'),
		('hq.t1.v1.z1.g1.m1', 'micro_grid', 'Micro grid 1'),
		('hq.t1.v1.z1.g1.m2', 'micro_grid', 'Micro grid 2'),
		('hq.t1.v1.z1.g1.m3', 'micro_grid', 'Micro grid 3 (empty)'),
		('hq.t1.v1.z1.g2', 'general_grid', 'General grid 2 (empty)'),
		('hq.t2', 'town', 'Town 2 (empty)')
$$, 'district > town > village > total grid > general grid > micro grid is accepted');
SELECT is((SELECT count(*)::int FROM sanse.area WHERE path <@ 'hq'), 10, 'all ten areas are stored');

SELECT is(pg_temp.sqlstate_of(stmt), expected, description)
  FROM (VALUES
    ('a top-level town is refused (23514): the top level is a district', $$INSERT INTO sanse.area (path, kind, name) VALUES ('hx', 'town', 'x')$$, '23514'),
    ('a top-level micro grid is refused (23514)', $$INSERT INTO sanse.area (path, kind, name) VALUES ('hx', 'micro_grid', 'x')$$, '23514'),
    ('a village under a missing town is refused (23503)', $$INSERT INTO sanse.area (path, kind, name) VALUES ('hq.nowhere.v9', 'village', 'x')$$, '23503'),
    ('a district under a district is refused (23514)', $$INSERT INTO sanse.area (path, kind, name) VALUES ('hq.t9', 'district', 'x')$$, '23514'),
    ('a town under a town (same level) is refused (23514)', $$INSERT INTO sanse.area (path, kind, name) VALUES ('hq.t1.t9', 'town', 'x')$$, '23514'),
    ('a total grid directly under a town (a level skipped) is refused (23514)', $$INSERT INTO sanse.area (path, kind, name) VALUES ('hq.t1.z9', 'total_grid', 'x')$$, '23514'),
    ('a micro grid directly under a district is refused (23514)', $$INSERT INTO sanse.area (path, kind, name) VALUES ('hq.m9', 'micro_grid', 'x')$$, '23514'),
    ('a village under a general grid (a level above) is refused (23514)', $$INSERT INTO sanse.area (path, kind, name) VALUES ('hq.t1.v1.z1.g1.v9', 'village', 'x')$$, '23514'),
    ('nothing goes below a micro grid (23514)', $$INSERT INTO sanse.area (path, kind, name) VALUES ('hq.t1.v1.z1.g1.m1.x', 'micro_grid', 'x')$$, '23514'),
    ('an unknown kind is refused (23503: not in sanse.area_kind)', $$INSERT INTO sanse.area (path, kind, name) VALUES ('hq.t3', 'street', 'x')$$, '23503'),
    ('a path is unique (23505)', $$INSERT INTO sanse.area (path, kind, name) VALUES ('hq.t1', 'town', 'again')$$, '23505'),
    ('changing an empty micro grid''s kind so it no longer fits its level is refused (23514)', $$UPDATE sanse.area SET kind = 'general_grid' WHERE path = 'hq.t1.v1.z1.g1.m3'$$, '23514')
  ) t(description, stmt, expected);

---------------------------------------------------------------------------
-- Workers: forces, roles, leaders on areas of their kind
---------------------------------------------------------------------------
SELECT lives_ok($$
	INSERT INTO sanse.worker (name, force, role, area_id) VALUES
		('w_dept', 'department_staff', 'member', pg_temp.area_id('hq.t1.v1.z1.g1.m1')),
		('w_cadre', 'community_cadre', 'member', pg_temp.area_id('hq.t1.v1')),
		('w_officer', 'grid_officer', 'member', pg_temp.area_id('hq.t1.v1.z1.g1')),
		('w_pro', 'service_professional', 'member', pg_temp.area_id('hq.t1')),
		('w_vol', 'volunteer', 'member', pg_temp.area_id('hq')),
		('w_vol2', 'volunteer', 'member', pg_temp.area_id('hq.t1.v1.z1.g1.m2')),
		('w_dept2', 'department_staff', 'member', pg_temp.area_id('hq.t1.v1.z1')),
		('w_retired', 'grid_officer', 'member', pg_temp.area_id('hq.t1.v1.z1.g1.m1'))
$$, 'members of all five forces are accepted on areas of every level');
SELECT is(pg_temp.sqlstate_of(stmt), expected, description)
  FROM (VALUES
    ('an unknown force is refused (23503: not in sanse.force)', $$INSERT INTO sanse.worker (name, force, role, area_id) VALUES ('bad', 'police', 'member', pg_temp.area_id('hq'))$$, '23503'),
    ('an unknown role is refused (23503: not in sanse.worker_role)', $$INSERT INTO sanse.worker (name, force, role, area_id) VALUES ('bad', 'volunteer', 'boss', pg_temp.area_id('hq'))$$, '23503'),
    ('a worker in a missing area is refused (23503)', $$INSERT INTO sanse.worker (name, force, role, area_id) VALUES ('bad', 'volunteer', 'member', -1)$$, '23503')
  ) t(description, stmt, expected);

SELECT lives_ok($$
	INSERT INTO sanse.worker (name, force, role, area_id) VALUES
		('l_micro', 'grid_officer', 'micro_grid_leader', pg_temp.area_id('hq.t1.v1.z1.g1.m1')),
		('l_general', 'grid_officer', 'general_grid_leader', pg_temp.area_id('hq.t1.v1.z1.g1')),
		('l_total', 'community_cadre', 'total_grid_leader', pg_temp.area_id('hq.t1.v1.z1')),
		('l_task', 'department_staff', 'task_force', pg_temp.area_id('hq'))
$$, 'each leader role is accepted on an area of its kind (task force on the district)');

SELECT is(pg_temp.refusal(format($$INSERT INTO sanse.worker (name, force, role, area_id) VALUES ('bad', 'grid_officer', %L, pg_temp.area_id(%L))$$, r, p)),
          '23503 worker_leads_area_of_its_kind',
          format('a %s on a %s is refused by worker_leads_area_of_its_kind (23503)', r, k))
  FROM (VALUES ('micro_grid_leader', 'hq.t1.v1.z1.g1', 'general grid'),
               ('micro_grid_leader', 'hq', 'district'),
               ('general_grid_leader', 'hq.t1.v1.z1.g1.m1', 'micro grid'),
               ('general_grid_leader', 'hq.t1.v1.z1', 'total grid'),
               ('total_grid_leader', 'hq.t1.v1', 'village'),
               ('total_grid_leader', 'hq.t1.v1.z1.g1', 'general grid'),
               ('task_force', 'hq.t1', 'town'),
               ('task_force', 'hq.t1.v1.z1.g1.m1', 'micro grid')) v(r, p, k);
SELECT is(pg_temp.refusal($$UPDATE sanse.worker SET role = 'general_grid_leader' WHERE name = 'l_micro'$$),
          '23503 worker_leads_area_of_its_kind', 'a micro-grid leader cannot become a general-grid leader on the same micro grid');
SELECT is(pg_temp.refusal($$UPDATE sanse.worker SET area_id = pg_temp.area_id('hq.t1.v1.z1.g1') WHERE name = 'l_micro'$$),
          '23503 worker_leads_area_of_its_kind', 'a micro-grid leader cannot move to a general grid');
SELECT is(pg_temp.refusal($$UPDATE sanse.worker SET role = 'micro_grid_leader' WHERE name = 'w_cadre'$$),
          '23503 worker_leads_area_of_its_kind', 'a member on a village cannot become a micro-grid leader there');
SELECT lives_ok($$UPDATE sanse.worker SET area_id = pg_temp.area_id('hq.t1.v1.z1.g1.m2') WHERE name = 'l_micro'$$,
          'a micro-grid leader may move to another micro grid');
SELECT lives_ok($$UPDATE sanse.worker SET role = 'member', area_id = pg_temp.area_id('hq.t2') WHERE name = 'l_total'$$,
          'a leader who steps down to member may be anywhere');

---------------------------------------------------------------------------
-- Residents live in micro grids only
---------------------------------------------------------------------------
SELECT lives_ok($$
	INSERT INTO sanse.resident (area_id, name, factors, registered_at) VALUES
		(pg_temp.area_id('hq.t1.v1.z1.g1.m1'), 'r_one', '{accident_risk}', '2024-03-01 09:00+08'),
		(pg_temp.area_id('hq.t1.v1.z1.g1.m1'), 'r_two', '{unstable_chronic}', '2024-03-01 09:00+08'),
		(pg_temp.area_id('hq.t1.v1.z1.g1.m2'), 'r_three', '{}', '2024-03-01 09:00+08')
$$, 'residents in micro grids are accepted');
SELECT is(pg_temp.refusal(format($$INSERT INTO sanse.resident (area_id, name) VALUES (pg_temp.area_id(%L), 'bad')$$, p)),
          '23503 resident_lives_in_a_micro_grid', format('a resident in a %s is refused (23503 resident_lives_in_a_micro_grid)', k))
  FROM (VALUES ('hq', 'district'), ('hq.t1', 'town'), ('hq.t1.v1', 'village'),
               ('hq.t1.v1.z1', 'total grid'), ('hq.t1.v1.z1.g1', 'general grid')) v(p, k);
SELECT is(pg_temp.refusal($$INSERT INTO sanse.resident (area_id, name) VALUES (-1, 'bad')$$),
          '23503 resident_lives_in_a_micro_grid', 'a resident in a missing area is refused (23503)');
SELECT is(pg_temp.refusal($$UPDATE sanse.resident SET area_id = pg_temp.area_id('hq.t1.v1.z1.g1') WHERE name = 'r_three'$$),
          '23503 resident_lives_in_a_micro_grid', 'moving a resident to a general grid is refused (23503)');
SELECT lives_ok($$UPDATE sanse.resident SET area_id = pg_temp.area_id('hq.t1.v1.z1.g1.m1') WHERE name = 'r_three'$$,
          'moving a resident to another micro grid is fine');

---------------------------------------------------------------------------
-- Moving or deleting areas that still hold something: 2BP01
---------------------------------------------------------------------------
-- m1 holds residents and workers, m2 only workers (w_vol2, l_micro), t2 only
-- a worker (l_total), g1 and everything above it child areas; m3 and g2 are empty.
-- m4: a micro grid whose only resident is inactive
INSERT INTO sanse.area (path, kind, name) VALUES ('hq.t1.v1.z1.g1.m4', 'micro_grid', 'Micro grid 4');
INSERT INTO sanse.resident (area_id, name, factors, registered_at, active)
VALUES (pg_temp.area_id('hq.t1.v1.z1.g1.m4'), 'r_inactive', '{}', '2024-03-01 09:00+08', false);
SELECT is(pg_temp.sqlstate_of(stmt), expected, description)
  FROM (VALUES
    ('moving a micro grid with residents and workers is refused (2BP01)', $$UPDATE sanse.area SET path = 'hq.t1.v1.z1.g1.m9' WHERE path = 'hq.t1.v1.z1.g1.m1'$$, '2BP01'),
    ('deleting a micro grid with residents and workers is refused (2BP01)', $$DELETE FROM sanse.area WHERE path = 'hq.t1.v1.z1.g1.m1'$$, '2BP01'),
    ('moving a micro grid whose only content is workers is refused (2BP01)', $$UPDATE sanse.area SET path = 'hq.t1.v1.z1.g2.m2' WHERE path = 'hq.t1.v1.z1.g1.m2'$$, '2BP01'),
    ('deleting a micro grid whose only content is workers is refused (2BP01)', $$DELETE FROM sanse.area WHERE path = 'hq.t1.v1.z1.g1.m2'$$, '2BP01'),
    ('moving a micro grid whose only resident is inactive is refused (2BP01)', $$UPDATE sanse.area SET path = 'hq.t1.v1.z1.g2.m4' WHERE path = 'hq.t1.v1.z1.g1.m4'$$, '2BP01'),
    ('deleting a micro grid whose only resident is inactive is refused (2BP01)', $$DELETE FROM sanse.area WHERE path = 'hq.t1.v1.z1.g1.m4'$$, '2BP01'),
    -- an area with only a worker
    ('moving a town whose only content is a worker is refused (2BP01)', $$UPDATE sanse.area SET path = 'hq.t9' WHERE path = 'hq.t2'$$, '2BP01'),
    ('deleting a town whose only content is a worker is refused (2BP01)', $$DELETE FROM sanse.area WHERE path = 'hq.t2'$$, '2BP01'),
    -- areas with only child areas
    ('moving a general grid with child micro grids is refused (2BP01)', $$UPDATE sanse.area SET path = 'hq.t1.v1.z1.g9' WHERE path = 'hq.t1.v1.z1.g1'$$, '2BP01'),
    ('deleting a village with child areas is refused (2BP01)', $$DELETE FROM sanse.area WHERE path = 'hq.t1.v1'$$, '2BP01'),
    ('deleting the district is refused (2BP01)', $$DELETE FROM sanse.area WHERE path = 'hq'$$, '2BP01')
  ) t(description, stmt, expected);
SELECT is((SELECT count(*)::int FROM sanse.area WHERE path <@ 'hq'), 11, 'no refused move or delete changed the hierarchy');
-- renaming is not moving
SELECT lives_ok($$UPDATE sanse.area SET name = 'Micro grid one' WHERE path = 'hq.t1.v1.z1.g1.m1'$$,
	'renaming an area that holds residents is fine');
-- empty leaves may move (to a valid place) and be deleted
SELECT lives_ok($$UPDATE sanse.area SET path = 'hq.t1.v1.z1.g2.m3' WHERE path = 'hq.t1.v1.z1.g1.m3'$$,
	'an empty micro grid moves to another general grid');
SELECT is((SELECT path::text FROM sanse.area WHERE name = 'Micro grid 3 (empty)'), 'hq.t1.v1.z1.g2.m3', 'its path is the new one');
SELECT throws_ok($$UPDATE sanse.area SET path = 'hq.t1.v1.m3' WHERE path = 'hq.t1.v1.z1.g2.m3'$$,
	'23514', NULL, 'an empty micro grid cannot move under a village (23514)');
SELECT throws_ok($$UPDATE sanse.area SET path = 'hq.t1.v7.z1.g2.m3' WHERE path = 'hq.t1.v1.z1.g2.m3'$$,
	'23503', NULL, 'an empty micro grid cannot move under a missing parent (23503)');
SELECT lives_ok($$DELETE FROM sanse.area WHERE path = 'hq.t1.v1.z1.g2.m3'$$, 'an empty micro grid can be deleted');
SELECT lives_ok($$DELETE FROM sanse.area WHERE path = 'hq.t1.v1.z1.g2'$$, 'then its emptied general grid can be deleted');

---------------------------------------------------------------------------
-- Five-for-one carers
---------------------------------------------------------------------------
UPDATE sanse.worker SET active = false WHERE name = 'w_retired';
SELECT lives_ok($$INSERT INTO sanse.carer (resident_id, worker_id) VALUES (pg_temp.resident_id('r_one'), pg_temp.worker_id('w_vol'))$$,
	'an active volunteer becomes a carer');
SELECT is((SELECT force FROM sanse.carer WHERE resident_id = pg_temp.resident_id('r_one') AND worker_id = pg_temp.worker_id('w_vol')),
	'volunteer', 'carer.force is the worker''s force');
SELECT lives_ok($$INSERT INTO sanse.carer (resident_id, worker_id, force) VALUES (pg_temp.resident_id('r_one'), pg_temp.worker_id('w_dept'), 'volunteer')$$,
	'a carer row with a client-supplied force is accepted ...');
SELECT is((SELECT force FROM sanse.carer WHERE resident_id = pg_temp.resident_id('r_one') AND worker_id = pg_temp.worker_id('w_dept')),
	'department_staff', '... and its force is taken from the worker, not the client');
SELECT is(pg_temp.refusal($$INSERT INTO sanse.carer (resident_id, worker_id) VALUES (pg_temp.resident_id('r_one'), pg_temp.worker_id('w_vol2'))$$),
	'23505 carer_one_per_force', 'a second volunteer for the same resident is refused (23505 carer_one_per_force)');
SELECT is(pg_temp.refusal($$INSERT INTO sanse.carer (resident_id, worker_id) VALUES (pg_temp.resident_id('r_one'), pg_temp.worker_id('w_dept2'))$$),
	'23505 carer_one_per_force', 'a second department staff for the same resident is refused (23505 carer_one_per_force)');
SELECT throws_ok($$INSERT INTO sanse.carer (resident_id, worker_id) VALUES (pg_temp.resident_id('r_one'), pg_temp.worker_id('w_retired'))$$,
	'55000', NULL, 'an inactive worker cannot become a carer (55000)');
SELECT throws_ok($$INSERT INTO sanse.carer (resident_id, worker_id) VALUES (pg_temp.resident_id('r_one'), -1)$$,
	'23503', NULL, 'a missing worker cannot become a carer (23503)');
SELECT lives_ok($$INSERT INTO sanse.carer (resident_id, worker_id) VALUES (pg_temp.resident_id('r_two'), pg_temp.worker_id('w_vol'))$$,
	'one worker may care for several residents');
SELECT throws_ok($$UPDATE sanse.carer SET worker_id = pg_temp.worker_id('w_retired') WHERE resident_id = pg_temp.resident_id('r_two')$$,
	'55000', NULL, 'a carer cannot be switched to an inactive worker (55000)');
SELECT lives_ok($$UPDATE sanse.carer SET worker_id = pg_temp.worker_id('w_vol2') WHERE resident_id = pg_temp.resident_id('r_two')$$,
	'a carer can be switched to another active worker');

-- a worker's force change follows into carer
INSERT INTO sanse.carer (resident_id, worker_id) VALUES (pg_temp.resident_id('r_two'), pg_temp.worker_id('w_dept2'));
SELECT lives_ok($$UPDATE sanse.worker SET force = 'community_cadre' WHERE name = 'w_dept2'$$,
	'a carer''s force can change when no resident would get two carers of one force');
SELECT is((SELECT force FROM sanse.carer WHERE resident_id = pg_temp.resident_id('r_two') AND worker_id = pg_temp.worker_id('w_dept2')),
	'community_cadre', 'the worker''s new force cascades to carer');
-- r_one has w_dept (department_staff) and w_vol (volunteer); w_dept becoming a volunteer clashes
SELECT is(pg_temp.refusal($$UPDATE sanse.worker SET force = 'volunteer' WHERE name = 'w_dept'$$),
	'23505 carer_one_per_force', 'a force change that gives a resident two volunteers is refused (23505 carer_one_per_force)');
SELECT is((SELECT force FROM sanse.worker WHERE name = 'w_dept'), 'department_staff', 'the refused worker keeps its force');
UPDATE sanse.carer SET force = 'grid_officer' WHERE worker_id = pg_temp.worker_id('w_dept');
SELECT is((SELECT force FROM sanse.carer WHERE worker_id = pg_temp.worker_id('w_dept')), 'department_staff',
	'a client writing another force into carer does not make it disagree with its worker');

---------------------------------------------------------------------------
-- carer_gaps
---------------------------------------------------------------------------
-- r_one: department_staff (w_dept), volunteer (w_vol); r_two: volunteer (w_vol2),
-- community_cadre (w_dept2); r_three: nobody; r_inactive: inactive resident.
SELECT is(pg_temp.gaps('r_one'), ARRAY['community_cadre', 'grid_officer', 'service_professional'],
	'r_one misses community cadre, grid officer and service professional');
SELECT is(pg_temp.gaps('r_two'), ARRAY['department_staff', 'grid_officer', 'service_professional'],
	'r_two misses department staff, grid officer and service professional');
SELECT is(pg_temp.gaps('r_three'), ARRAY['community_cadre', 'department_staff', 'grid_officer', 'service_professional', 'volunteer'],
	'a resident without carers misses all five forces');
SELECT is((SELECT count(*)::int FROM sanse.carer_gaps WHERE resident_id = pg_temp.resident_id('r_inactive')), 0,
	'an inactive resident is not listed');
SELECT is((SELECT g.area_id FROM sanse.carer_gaps g WHERE g.resident_id = pg_temp.resident_id('r_one')), pg_temp.area_id('hq.t1.v1.z1.g1.m1'),
	'carer_gaps gives the resident''s micro grid');

-- complete r_one's five-for-one with an officer who later leaves
INSERT INTO sanse.worker (name, force, role, area_id) VALUES ('w_officer2', 'grid_officer', 'member', pg_temp.area_id('hq.t1.v1.z1.g1.m1'));
INSERT INTO sanse.carer (resident_id, worker_id) VALUES
	(pg_temp.resident_id('r_one'), pg_temp.worker_id('w_cadre')),
	(pg_temp.resident_id('r_one'), pg_temp.worker_id('w_officer2')),
	(pg_temp.resident_id('r_one'), pg_temp.worker_id('w_pro'));
SELECT is(pg_temp.gaps('r_one'), NULL, 'with all five forces covered r_one drops out of carer_gaps');
SELECT is((SELECT count(*)::int FROM sanse.carer WHERE resident_id = pg_temp.resident_id('r_one')), 5, 'r_one has five carers');
UPDATE sanse.worker SET active = false WHERE name = 'w_officer2';
SELECT is(pg_temp.gaps('r_one'), ARRAY['grid_officer'], 'an inactive carer counts as missing');
UPDATE sanse.worker SET active = true WHERE name = 'w_officer2';
SELECT is(pg_temp.gaps('r_one'), NULL, 'reactivated, the carer counts again');
DELETE FROM sanse.carer WHERE resident_id = pg_temp.resident_id('r_one') AND worker_id = pg_temp.worker_id('w_vol');
SELECT is(pg_temp.gaps('r_one'), ARRAY['volunteer'], 'removing the volunteer lists r_one again, missing only volunteer');

---------------------------------------------------------------------------
-- The pinned columns, and carers on the shared district (d: see
-- include/district.psql); resident Wang in M1
---------------------------------------------------------------------------
SELECT has_table('sanse', 'resident', 'table sanse.resident exists');
SELECT columns_are('sanse', 'area', ARRAY['id', 'path', 'kind', 'name'], 'area has the pinned columns');
SELECT has_column('sanse', 'worker', c, format('worker.%s', c))
  FROM unnest(ARRAY['id', 'name', 'force', 'role', 'area_id', 'db_role', 'active']) c;
SELECT col_type_is('sanse', 'area', 'path', 'public', 'ltree', 'area.path is an ltree');

SELECT is(pg_temp.sqlstate_of($$INSERT INTO sanse.area (path, kind, name) VALUES ('d.t.v.m', 'micro_grid', 'x')$$), '23514',
          'a micro grid cannot sit directly under a village');
SELECT lives_ok($$INSERT INTO sanse.area (path, kind, name) VALUES ('d.t2', 'town', 'T2')$$, 'a town under the district');

INSERT INTO sanse.worker (name, force, role, area_id)
SELECT v.n, v.f, v.r, pg_temp.area_id(v.p) FROM (VALUES
  ('dept', 'department_staff', 'member', 'd.t'), ('cadre', 'community_cadre', 'member', 'd.t.v.tg.g'),
  ('officer', 'grid_officer', 'micro_grid_leader', 'd.t.v.tg.g.m1'), ('pro', 'service_professional', 'member', 'd.t.v'),
  ('vol', 'volunteer', 'member', 'd.t.v.tg.g.m1')) v(n, f, r, p);
INSERT INTO sanse.resident (area_id, name, factors) VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'Wang', '{accident_risk}');
INSERT INTO sanse.carer (resident_id, worker_id)
SELECT pg_temp.resident_id('Wang'), pg_temp.worker_id(w) FROM unnest(ARRAY['dept', 'cadre', 'officer']) w;
SELECT results_eq($$SELECT missing_forces FROM sanse.carer_gaps WHERE resident_id = pg_temp.resident_id('Wang')$$,
                  $$VALUES ('{service_professional,volunteer}'::text[])$$,
                  'carer_gaps names the missing forces');
INSERT INTO sanse.carer (resident_id, worker_id) VALUES (pg_temp.resident_id('Wang'), pg_temp.worker_id('vol'));
UPDATE sanse.worker SET active = false WHERE name = 'dept';
SELECT is(pg_temp.sqlstate_of($$INSERT INTO sanse.carer (resident_id, worker_id) VALUES (pg_temp.resident_id('Wang'), pg_temp.worker_id('task force'))$$),
          '23505', 'the force slot is still taken by the inactive carer');
SELECT results_eq($$SELECT missing_forces FROM sanse.carer_gaps WHERE resident_id = pg_temp.resident_id('Wang')$$,
                  $$VALUES ('{department_staff,service_professional}'::text[])$$,
                  'an inactive carer counts as missing (with another force never covered)');
UPDATE sanse.worker SET active = true WHERE name = 'dept';
SELECT is(pg_temp.sqlstate_of($$DELETE FROM sanse.area WHERE path = 'd.t'$$), '2BP01', 'a town with workers and children cannot be deleted');

SELECT * FROM finish();
ROLLBACK;
