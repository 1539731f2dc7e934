-- pgTAP: issue 22, a check-in and the loop's transitions without SQL-language
-- functions on their path and with plans kept for the session — the helpers
-- that were SQL functions (planned again on every call) are PL/pgSQL and
-- return what the SQL definitions returned; plans kept by check_in and by
-- the PL/pgSQL helpers follow a table altered, an index dropped, a policy
-- edited, a leader deactivated or a role dropped in the same session; the
-- worker's bound role is checked in C as pg_has_role(session_user, role,
-- 'MEMBER') checked it.  Expected values are typed from the fixture
-- (include/district.psql) or computed by the old SQL definitions, written
-- out below.
BEGIN;
SET LOCAL sanse.max_backdate = '100 years';	-- check-ins dated in 2024
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(33);

-- check in by resident and worker name
CREATE FUNCTION pg_temp.ci_ok(res text, wk text, at timestamptz) RETURNS boolean LANGUAGE sql AS $$
	SELECT sanse.check_in(pg_temp.token(res), pg_temp.worker_id(wk), at) IS NOT NULL
$$;
CREATE FUNCTION pg_temp.ci_sql(res text, wk text, at timestamptz) RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.check_in_sql(pg_temp.token(res), pg_temp.worker_id(wk), at)
$$;

-----------------------------------------------------------------------------
-- fixture: a carer of Wang, a member bound to a role, residents in M1 and M3
-----------------------------------------------------------------------------
CREATE ROLE sanse_t36_app NOLOGIN;
CREATE ROLE sanse_t36_stranger NOLOGIN;
GRANT USAGE ON SCHEMA sanse TO sanse_t36_app, sanse_t36_stranger;
INSERT INTO worker (name, force, role, area_id, db_role)
VALUES ('vol', 'volunteer', 'member', pg_temp.area_id('d.t.v.tg.g.m1'), NULL),
       ('bound', 'department_staff', 'member', pg_temp.area_id('d.t'), 'sanse_t36_app');
-- red residents registered 2024-03-01 09:00+08, due 03-03 09:00+08 (rolling 2 days)
INSERT INTO resident (area_id, name, factors, registered_at)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'Wang', '{accident_risk}', '2024-03-01 09:00+08'),
       (pg_temp.area_id('d.t.v.tg.g2.m3'), 'Sun', '{accident_risk}', '2024-03-01 09:00+08');
INSERT INTO carer (resident_id, worker_id)
SELECT pg_temp.resident_id('Wang'), w.id FROM worker w WHERE w.name IN ('vol', 'bound');

-----------------------------------------------------------------------------
-- 1. no SQL-language function left on the check-in's or the loop's path
-----------------------------------------------------------------------------
SELECT is((SELECT string_agg(p.proname || ' ' || l.lanname, ', ' ORDER BY p.proname)
             FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
            WHERE p.pronamespace = 'sanse'::regnamespace
              AND p.proname IN ('leader_for', 'carers_of', 'scale_level', 'open_overdue_event', 'tally_missed', 'tier_at')),
          'carers_of plpgsql, leader_for plpgsql, open_overdue_event plpgsql, scale_level plpgsql, tally_missed plpgsql, tier_at plpgsql',
          'the helpers check_in and the loop call are PL/pgSQL (a SQL function with a query is planned on every call)');
-- the SQL functions that stay are single expressions, inlined where they are planned
SELECT is((SELECT string_agg(p.proname, ', ' ORDER BY p.proname)
             FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
            WHERE p.pronamespace = 'sanse'::regnamespace AND l.lanname = 'sql'
              AND p.proname IN ('path_contains', 'path_equals', 'path_depth', 'path_ancestor', 'month_of')
              AND p.proconfig IS NULL AND NOT p.prosecdef AND p.provolatile IN ('i', 's')),
          'month_of, path_ancestor, path_contains, path_depth, path_equals',
          'the SQL functions left on the path have no SET and no SECURITY DEFINER, so they are inlined');
SELECT is(ARRAY[sanse.path_equals('a.b', 'a.b'), sanse.path_equals('a.b', 'a'), sanse.path_equals('', '')],
          '{t,f,t}', 'path_equals is ltree =');
SELECT is(ARRAY[sanse.path_depth('a.b.c'), sanse.path_depth('')], '{3,0}', 'path_depth is nlevel');
SELECT is(ARRAY[sanse.path_ancestor('a.b.c', 1)::text, sanse.path_ancestor('a.b.c', 2)::text, sanse.path_ancestor('a.b.c', 3)::text],
          '{a,a.b,a.b.c}', 'path_ancestor is subpath(path, 0, depth)');

-----------------------------------------------------------------------------
-- 2. leader_for returns what the SQL definition of 1.4 returned
-----------------------------------------------------------------------------
-- the definition of 1.4, word for word but for its schema
CREATE FUNCTION pg_temp.leader_for_sql(area_id bigint, level int) RETURNS bigint
LANGUAGE sql STABLE STRICT
BEGIN ATOMIC
	SELECT w.id
	  FROM sanse.area m, sanse.area a, sanse.worker w
	 WHERE m.id = leader_for_sql.area_id
	   AND a.path = CASE leader_for_sql.level WHEN 4 THEN subpath(m.path, 0, 1)
	                ELSE subpath(m.path, 0, nlevel(m.path) - leader_for_sql.level + 1) END
	   AND w.area_id = a.id AND w.active
	   AND w.role = (sanse.worker_roles())[leader_for_sql.level + 1]
	 ORDER BY w.id
	 LIMIT 1;
END;
CREATE TEMP VIEW leaders_now AS
SELECT a.path::text AS path, l.level, sanse.leader_for(a.id, l.level) AS leader, pg_temp.leader_for_sql(a.id, l.level) AS leader_sql
  FROM sanse.area a, generate_series(1, 4) l(level)
 WHERE sanse.path_depth(a.path) >= 4;	-- a micro grid, general or total grid (subpath's range at every level)
SELECT is((SELECT count(*) FROM leaders_now WHERE leader IS DISTINCT FROM leader_sql), 0::bigint,
          'leader_for equals the SQL definition for every area at least a total grid deep, at every level');
SELECT is(ARRAY(SELECT (SELECT w.name FROM worker w WHERE w.id = sanse.leader_for(pg_temp.area_id(p), l)) FROM unnest(ARRAY[1, 2, 3, 4]) l),
          t.expected, 'leaders of ' || p)
  FROM (VALUES ('d.t.v.tg.g.m1', '{lead m1,lead g,lead tg,task force}'::text[]),
               ('d.t.v.tg.g2.m3', '{NULL,lead g2,lead tg,task force}'),
               ('d.t.v.tg2.g.m4', '{NULL,NULL,lead tg2,task force}')) t(p, expected);
SELECT is(sanse.leader_for(NULL, 1), NULL, 'leader_for is strict');

-- its plan is kept for the session; what the plan reads is read anew
UPDATE worker SET active = false WHERE name = 'lead g';
SELECT is(sanse.leader_for(pg_temp.area_id('d.t.v.tg.g.m1'), 2), NULL, 'a leader deactivated in the same session is no longer returned');
INSERT INTO worker (name, force, role, area_id) VALUES ('new lead g', 'community_cadre', 'general_grid_leader', pg_temp.area_id('d.t.v.tg.g'));
SELECT is(sanse.leader_for(pg_temp.area_id('d.t.v.tg.g.m1'), 2), pg_temp.worker_id('new lead g'), 'a leader added is returned');
ALTER TABLE sanse.worker ADD COLUMN t36 int;
DROP INDEX sanse.worker_area;
SELECT is(sanse.leader_for(pg_temp.area_id('d.t.v.tg.g.m1'), 2), pg_temp.worker_id('new lead g'),
          'after a column added to worker and an index dropped, the kept plan is replanned');
ALTER TABLE sanse.worker DROP COLUMN t36;
SELECT is((SELECT count(*) FROM leaders_now WHERE leader IS DISTINCT FROM leader_sql), 0::bigint,
          'and still equals the SQL definition everywhere');

-- carers_of and scale_level, planned once a session, read anew
SELECT is(sanse.carers_of(pg_temp.resident_id('Wang')),
          ARRAY(SELECT id FROM worker WHERE name IN ('vol', 'bound') ORDER BY id), 'carers_of lists the carers in worker order');
SELECT is(sanse.carers_of(pg_temp.resident_id('Sun')), '{}'::bigint[], 'carers_of of a resident without carers is empty');
SELECT is(ARRAY[sanse.scale_level('grid'), sanse.scale_level('department'), sanse.scale_level('task_force')], '{1,3,4}'::smallint[],
          'scale_level: grid 1, department 3, task force 4 (spec 7)');
SELECT is(sanse.scale_level('street'), NULL, 'scale_level of an unknown scale is NULL');

-----------------------------------------------------------------------------
-- 3. check_in's kept plans follow what changes in the session
-----------------------------------------------------------------------------
SELECT ok(pg_temp.ci_ok('Wang', 'vol', '2024-03-02 09:00+08'), 'a check-in (its plans prepared and kept)');
ALTER TABLE sanse.visit ADD COLUMN t36 text DEFAULT 'added';
SELECT ok(pg_temp.ci_ok('Wang', 'vol', '2024-03-03 09:00+08'), 'a check-in after a column was added to visit');
SELECT is((SELECT v.t36 FROM visit v WHERE v.resident_id = pg_temp.resident_id('Wang') AND v.at = '2024-03-03 09:00+08'), 'added',
          'its visit has the new column''s default (the insert was planned again)');
ALTER TABLE sanse.visit DROP COLUMN t36;
DROP INDEX sanse.visit_worker_at;
SELECT ok(pg_temp.ci_ok('Wang', 'vol', '2024-03-04 09:00+08'), 'a check-in after the column was dropped and an index it used dropped');
SELECT is((SELECT r.last_visit_at FROM resident r WHERE r.name = 'Wang'), '2024-03-04 09:00+08'::timestamptz, 'the anchor moved to it');
-- the tier's cadence edited in the session: the next window follows it
UPDATE tier_policy SET cadence = 'rolling 3 days' WHERE tier = 'red';
SELECT ok(pg_temp.ci_ok('Wang', 'vol', '2024-03-05 09:00+08'), 'a check-in after the red cadence was edited');
SELECT is((SELECT due_at(r.next_visit) FROM resident r WHERE r.name = 'Wang'), '2024-03-08 09:00+08'::timestamptz,
          'the window after it is three days long');
-- a late visit (due 03-08 09:00, visited 03-09) opens and closes its event through the PL/pgSQL helpers
SELECT ok(pg_temp.ci_ok('Wang', 'vol', '2024-03-09 09:00+08'), 'a late check-in');
SELECT is((SELECT format('%s %s %s', e.status, e.due_at AT TIME ZONE 'Asia/Shanghai', e.charged_to = sanse.carers_of(e.resident_id))
             FROM event e WHERE e.resident_id = pg_temp.resident_id('Wang') AND e.kind = 'overdue'),
          'closed 2024-03-08 09:00:00 t', 'its overdue event was opened (charged to the carers) and closed by it');
SELECT is((SELECT sum(p.windows_missed)::int FROM worker_month_pending p WHERE p.month = '2024-03-01'), 2,
          'the missed window is tallied against both carers (tally_missed)');

-- the bound role, checked in C after the plan is kept
SELECT is(pg_temp.sqlstate_session('sanse_t36_app', pg_temp.ci_sql('Wang', 'bound', '2024-03-10 09:00+08')), 'ok',
          'the role a worker is bound to checks in as them');
SELECT is(pg_temp.sqlstate_session('sanse_t36_stranger', pg_temp.ci_sql('Wang', 'bound', '2024-03-10 10:00+08')), '42501',
          'another role may not (42501)');
CREATE ROLE sanse_t36_member NOLOGIN IN ROLE sanse_t36_app;
SELECT is(pg_temp.sqlstate_session('sanse_t36_member', pg_temp.ci_sql('Wang', 'bound', '2024-03-10 11:00+08')), 'ok',
          'a member of it, made in the same session, may');
REVOKE sanse_t36_app FROM sanse_t36_member;
SELECT is(pg_temp.sqlstate_session('sanse_t36_member', pg_temp.ci_sql('Wang', 'bound', '2024-03-10 12:00+08')), '42501',
          'and no longer once the membership is revoked');
REVOKE USAGE ON SCHEMA sanse FROM sanse_t36_app;
DROP ROLE sanse_t36_app;
SELECT is(pg_temp.sqlstate_of(pg_temp.ci_sql('Wang', 'bound', '2024-03-10 13:00+08')), '42501',
          'a worker bound to a role dropped in the session checks in for nobody, not even a superuser (42501)');

SELECT * FROM finish();
ROLLBACK;
