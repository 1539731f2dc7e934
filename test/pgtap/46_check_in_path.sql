-- pgTAP: issue 22, check_in reads what it needs through the tables' indexes
-- (src/checkin_read.c) instead of its entry query.  What those reads decide
-- is checked here where the query and the C differ in how they compute it:
-- a leader's area containing the home (ltree's @>, now on the paths' text:
-- 'm1' does not contain its sibling 'm10'), a token revoked or a check-in
-- recorded earlier in the same transaction (the reads see this
-- transaction's own writes), a retried scan, the flags read from the
-- worker's visits, and a table whose index the reads need being dropped
-- (check_in falls back on its query).  Expected values are typed from the
-- fixture (include/district.psql).
BEGIN;
SET LOCAL sanse.max_backdate = '100 years';	-- check-ins dated in 2024
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(16);

CREATE FUNCTION pg_temp.ci(res text, wk text, at timestamptz) RETURNS bigint LANGUAGE sql AS $$
	SELECT sanse.check_in(pg_temp.token(res), pg_temp.worker_id(wk), at)
$$;
CREATE FUNCTION pg_temp.ci_state(res text, wk text, at timestamptz) RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.sqlstate_of(pg_temp.check_in_sql(pg_temp.token(res), pg_temp.worker_id(wk), at))
$$;
CREATE FUNCTION pg_temp.flags(v_id bigint) RETURNS text[] LANGUAGE sql AS $$
	SELECT v.flags FROM sanse.visit v WHERE v.id = v_id
$$;

-- a micro grid M10 beside M1 (its path's text begins with M1's), Wang in M1, Zhou in M10, Sun in M3
INSERT INTO area (path, kind, name) VALUES ('d.t.v.tg.g.m10', 'micro_grid', 'M10');
INSERT INTO worker (name, force, role, area_id) VALUES ('vol', 'volunteer', 'member', pg_temp.area_id('d.t.v.tg.g.m1'));
INSERT INTO resident (area_id, name, factors, registered_at, lat, lon)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'Wang', '{accident_risk}', '2024-03-01 09:00+08', 31.20, 121.40),
       (pg_temp.area_id('d.t.v.tg.g.m10'), 'Zhou', '{accident_risk}', '2024-03-01 09:00+08', 31.21, 121.41),
       (pg_temp.area_id('d.t.v.tg.g2.m3'), 'Sun', '{accident_risk}', '2024-03-01 09:00+08', 39.90, 116.40);
INSERT INTO carer (resident_id, worker_id)
SELECT r.id, pg_temp.worker_id('vol') FROM resident r WHERE r.name IN ('Wang', 'Sun');

-- 1. who may check in: the leader's area contains the home, label by label
SELECT is(pg_temp.ci_state('Zhou', 'lead m1', '2024-03-02 10:00+08'), '42501',
          'M1''s leader may not check in at a home in M10 (m1 is not an ancestor of m10)');
SELECT ok(pg_temp.ci('Wang', 'lead m1', '2024-03-02 10:00+08') > 0, 'M1''s leader checks in at a home in M1');
SELECT ok(pg_temp.ci('Zhou', 'lead g', '2024-03-02 10:00+08') > 0, 'G''s leader checks in at a home in M10');
SELECT ok(pg_temp.ci('Zhou', 'task force', '2024-03-02 10:01+08') > 0, 'the task force of D checks in anywhere in D');
SELECT is(pg_temp.ci_state('Zhou', 'task force e', '2024-03-02 10:02+08'), '42501',
          'the task force of E may not check in in D');
SELECT is(pg_temp.ci_state('Zhou', 'vol', '2024-03-02 10:03+08'), '42501',
          'a member who is not the resident''s carer may not check in');
SELECT is(pg_temp.sqlstate_of(pg_temp.check_in_sql(pg_temp.token('Wang'), -1, '2024-03-02 10:04+08')), '42501',
          'an unknown worker may not check in');

-- 2. a retried scan gets its visit back; the flags come from the worker's visits
SELECT is(pg_temp.ci('Wang', 'vol', '2024-03-02 11:00+08'), pg_temp.ci('Wang', 'vol', '2024-03-02 11:00+08'),
          'the same scan twice is one visit');
SELECT is(pg_temp.flags(pg_temp.ci('Wang', 'vol', '2024-03-02 11:05+08')), '{repeat_visit}',
          'five minutes later at the same door: repeat_visit');
-- Sun lives about 1,070 km from Wang: two minutes later is impossible, and quick
SELECT is(pg_temp.flags(pg_temp.ci('Sun', 'vol', '2024-03-02 11:07+08')), '{quick_succession,impossible_travel}',
          'two minutes after Wang''s door, at Sun''s: quick_succession and impossible_travel');
SELECT is(pg_temp.flags(pg_temp.ci('Wang', 'vol', '2024-03-02 18:00+08')), '{impossible_travel}',
          'back at Wang''s seven hours later (150 km/h): impossible_travel only, the repeat window long past');

-- 3. the reads see what this transaction wrote before them
SELECT is((SELECT last_visit_at FROM resident WHERE name = 'Wang'), '2024-03-02 18:00+08'::timestamptz,
          'the latest visit moved Wang''s anchor');
SELECT is(pg_temp.flags(pg_temp.ci('Wang', 'vol', '2024-03-02 18:00+08')), '{impossible_travel}',
          'the same scan again, in the same transaction, returns the visit just written');
CREATE TEMP TABLE zhou_token AS SELECT pg_temp.token('Zhou') AS token;
UPDATE door_token SET revoked_at = now() WHERE resident_id = pg_temp.resident_id('Zhou');
SELECT is(pg_temp.sqlstate_of(format('SELECT sanse.check_in(%L, %s, %L)', (SELECT token FROM zhou_token),
                                     pg_temp.worker_id('lead g'), '2024-03-02 19:00+08')), '28000',
          'a token revoked earlier in the transaction is refused');

-- 4. without the index the reads need, check_in runs its query, to the same outcome
DROP INDEX visit_worker_at;
SELECT is(pg_temp.flags(pg_temp.ci('Sun', 'vol', '2024-03-02 18:03+08')), '{quick_succession,impossible_travel}',
          'without visit_worker_at: the flags as before');
SELECT is(pg_temp.ci_state('Zhou', 'lead m1', '2024-03-02 19:10+08'), '42501',
          'without visit_worker_at: M1''s leader still may not check in in M10');

SELECT * FROM finish();
ROLLBACK;
