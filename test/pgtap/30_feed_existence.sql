-- pgTAP: issue 20 — what a feed's answers tell a loader about people outside
-- the areas it may feed (spec 9 with spec 8).  A loader holding a feed grant
-- for town t probes ID numbers: one of each pair below is registered in town
-- u (outside its areas), the other is registered nowhere.  Each pair of rows
-- has the same content otherwise, and the loader must get the same answer
-- (outcome, reason, resident) for both, except for the one answer that
-- cannot be the same: a row that would register an unknown person in town t
-- cannot register someone registered elsewhere.  The data office still
-- sees what was withheld (feed_inbox.withheld, the audit row's residents).
-- Check characters are computed here from the ISO 7064 MOD 11-2 definition.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
\ir include/helpers.psql
SELECT plan(13);

CREATE FUNCTION pg_temp.mod11_2(body text) RETURNS text LANGUAGE sql AS $$
	SELECT body || substr('10X98765432',
	         (SELECT sum(substr(body, i, 1)::int * ((2 ^ (18 - i))::int % 11)) FROM generate_series(1, 17) i)::int % 11 + 1, 1)
$$;

INSERT INTO sanse.area (id, path, kind, name) OVERRIDING SYSTEM VALUE VALUES
  (930001, 'f30', 'district', 'F'), (930002, 'f30.t', 'town', 'FT'), (930003, 'f30.t.v', 'village', 'FV'),
  (930004, 'f30.t.v.tg', 'total_grid', 'FTG'), (930005, 'f30.t.v.tg.g', 'general_grid', 'FG'),
  (930006, 'f30.t.v.tg.g.m', 'micro_grid', 'FM'),
  (930008, 'f30.u', 'town', 'FU'), (930009, 'f30.u.v', 'village', 'UV'),
  (930010, 'f30.u.v.tg', 'total_grid', 'UTG'), (930011, 'f30.u.v.tg.g', 'general_grid', 'UG'),
  (930012, 'f30.u.v.tg.g.m', 'micro_grid', 'UM');
INSERT INTO sanse.worker (name, force, role, area_id) VALUES ('t30 lead', 'grid_officer', 'micro_grid_leader', 930006);
INSERT INTO sanse.department (code, name) VALUES ('t30_health', 'Health commission');
CREATE ROLE t30_loader NOLOGIN;
INSERT INTO sanse.feed_grant (role, department, path) VALUES ('t30_loader', 't30_health', 'f30.t');

-- P1..P5 registered in town u (outside the loader's areas); Q1..Q5 nowhere
CREATE TEMP TABLE ids (k text PRIMARY KEY, n text);
INSERT INTO ids SELECT k, pg_temp.mod11_2('5101073' || lpad(i::text, 10, '0'))
  FROM (VALUES ('P1', 11), ('P2', 12), ('P3', 13), ('P4', 14), ('P5', 15),
               ('Q1', 21), ('Q2', 22), ('Q3', 23), ('Q4', 24), ('Q5', 25)) v(k, i);
INSERT INTO sanse.resident (area_id, name, factors, id_number)
SELECT 930012, k, '{lives_alone}', n FROM ids WHERE k LIKE 'P%';

-- each pair: the same row but for the number
INSERT INTO sanse.feed_inbox (department, batch, line, id_number, name, area_path, factors, left_programme)
SELECT 't30_health', 'b1', l, (SELECT n FROM ids WHERE k = p || s), nm, ar, '{sudden_illness}', lv
  FROM (VALUES (1, '1', NULL, NULL, false),                          -- no area
               (2, '2', 'Left', 'f30.t.v.tg.g.m', true),             -- reported left
               (3, '3', 'Outside', 'f30.u.v.tg.g.m', false),         -- an area outside the loader's
               (4, '4', NULL, 'f30.t.v.tg.g.m', false),              -- no name
               (5, '5', 'New', 'f30.t.v.tg.g.m', false)) r(o, s, nm, ar, lv),  -- would register
       LATERAL (VALUES ('P', 2 * o - 1), ('Q', 2 * o)) x(p, l);

SET LOCAL ROLE t30_loader;
SELECT results_eq($$SELECT outcome, n FROM sanse.apply_feed('t30_health', 'b1') WHERE n > 0$$,
                  $$VALUES ('registered', 1::bigint), ('rejected', 9::bigint)$$,
                  'the loader applies b1: only the unknown person with a name and an area of its own is registered');
CREATE TEMP TABLE seen ON COMMIT DROP AS SELECT line, outcome, reason, resident_id FROM sanse.feed_outcome WHERE batch = 'b1';
RESET ROLE;
CREATE FUNCTION pg_temp.answer(l int) RETURNS text LANGUAGE sql AS $$
	SELECT outcome || ' | ' || coalesce(reason, '-') || ' | ' || coalesce(resident_id::text, '-') FROM seen WHERE line = l
$$;
SELECT is(pg_temp.answer(1), pg_temp.answer(2),
          'no area: the same answer whether the person is registered elsewhere or nowhere');
SELECT is(pg_temp.answer(3), pg_temp.answer(4),
          'reported left: the same answer whether the person is registered elsewhere or nowhere');
SELECT is(pg_temp.answer(5), pg_temp.answer(6),
          'an area outside the loader''s: the same answer whether the person is registered elsewhere or nowhere');
SELECT is(pg_temp.answer(7), pg_temp.answer(8),
          'no name: the same answer whether the person is registered elsewhere or nowhere');
SELECT is((SELECT count(*) FROM seen WHERE outcome = 'rejected' AND resident_id IS NOT NULL), 0::bigint,
          'no rejected row shows the loader a resident');
SELECT is((SELECT outcome FROM seen WHERE line = 10), 'registered', 'the unknown person with a name and an area of the loader''s is registered');
-- the residual: the one that cannot be registered, without saying where
SELECT is((SELECT outcome || ' | ' || coalesce(resident_id::text, '-') FROM seen WHERE line = 9), 'rejected | -',
          'the person registered elsewhere is not registered again, and the loader sees no resident');
SELECT ok((SELECT reason !~* 'outside|lives|elsewhere|registered (in|by|at)' FROM seen WHERE line = 9),
          'its reason does not say the person lives outside the loader''s areas');
SELECT is((SELECT count(*) FROM sanse.resident r JOIN ids ON ids.k = 'P5' AND r.id_number_hash = sanse.id_number_hash(ids.n)),
          1::bigint, 'P5 stays one resident');
SELECT is((SELECT count(*) FROM sanse.factor_source s JOIN sanse.resident r ON r.id = s.resident_id WHERE r.name LIKE 'P%' AND s.source = 't30_health'),
          0::bigint, 'nothing of the residents outside the loader''s areas changed');

-- the data office sees what was withheld
SELECT is((SELECT string_agg(i.line || ':' || r.name, ',' ORDER BY i.line) FROM sanse.feed_inbox i JOIN sanse.resident r ON r.id = i.resident_id
            WHERE i.batch = 'b1' AND i.department = 't30_health' AND i.withheld IS NOT NULL),
          '1:P1,3:P2,5:P3,7:P4,9:P5', 'feed_inbox (owner only) keeps which rows named whom outside the loader''s areas');
SELECT is((SELECT resident_ids FROM sanse.audit_log WHERE act = 'feed_apply' ORDER BY id DESC LIMIT 1),
          ARRAY(SELECT id FROM sanse.resident WHERE name LIKE 'P%' ORDER BY id), 'and the audit row of the apply names them');

SELECT * FROM finish();
ROLLBACK;
