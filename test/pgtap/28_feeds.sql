-- pgTAP: issue 20 — department feeds (spec 9).
--   * The ID number is checked in C (18 characters, 17 digits and an ISO 7064
--     MOD 11-2 check character, lower-case x read as X) and stored only as
--     its keyed hash, equal to sanse.id_number_hash of the same number.
--   * apply_feed: matched, registered, left, rejected with their reasons;
--     idempotent; snapshot withdraws what a department omits, delta changes
--     only its rows; a rejected row is not an omission; reclassified at once
--     with the tier history naming department and batch; left is a task for
--     the micro-grid leader, and closing it ends the care.
--   * factor_source: what apps write into resident.factors is the visit
--     source's; a department's factor cannot be removed by an app.
--   * Unknown department, mode or batch: 22023; a role without a feed grant:
--     42501; audited.
-- Check characters are computed here, in SQL, from the ISO 7064 MOD 11-2
-- definition (weights 2^(17-i) mod 11, check = (12 - sum mod 11) mod 11, 10
-- written X), independently of the C code; 11010519491231002X is the
-- standard's published example.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
SET LOCAL sanse.timezone = 'Asia/Shanghai';
\ir include/helpers.psql
SELECT plan(63);

CREATE FUNCTION pg_temp.mod11_2(body text) RETURNS text LANGUAGE sql AS $$
	SELECT body || substr('10X98765432',
	         (SELECT sum(substr(body, i, 1)::int * ((2 ^ (18 - i))::int % 11)) FROM generate_series(1, 17) i)::int % 11 + 1, 1)
$$;

-----------------------------------------------------------------------------
-- the check character
-----------------------------------------------------------------------------
SELECT is(pg_temp.mod11_2('11010519491231002'), '11010519491231002X', 'the check computed here gives the standard''s published example');
SELECT is(sanse.id_number_problem('11010519491231002X'), NULL, 'the published example is well formed');
SELECT is(sanse.id_number_problem('11010519491231002x'), NULL, 'a lower-case x is read as X');
SELECT is(sanse.id_number_problem(' 11010519491231002X '), NULL, 'blanks around a number are ignored');
SELECT is(sanse.id_number_problem('110105194912310021'), 'bad check character', 'a wrong check character is refused');
SELECT is(sanse.id_number_problem('1101051949123100'), 'an ID number has 18 characters', 'a short number is refused');
SELECT is(sanse.id_number_problem('1101051949123100AX'), 'an ID number is 17 digits and a check character', 'letters among the digits are refused');
SELECT is(sanse.id_number_problem('11010519491231002Y'), 'an ID number is 17 digits and a check character', 'a check character other than 0-9 or X is refused');
SELECT is((SELECT count(*) FROM generate_series(1, 2000) g
            WHERE sanse.id_number_problem(pg_temp.mod11_2(lpad((g * 7919 + 1000003)::text, 17, '0'))) IS NOT NULL), 0::bigint,
          '2000 numbers with check characters computed here are all well formed');
SELECT is((SELECT count(*) FROM generate_series(1, 2000) g,
                  LATERAL (SELECT pg_temp.mod11_2(lpad((g * 7919 + 1000003)::text, 17, '0')) AS ok) n,
                  LATERAL (SELECT substr(n.ok, 1, 17) || c AS bad FROM unnest(ARRAY['0','1','2','3','4','5','6','7','8','9','X']) c
                            WHERE c <> substr(n.ok, 18, 1)) b
            WHERE sanse.id_number_problem(b.bad) IS DISTINCT FROM 'bad check character'), 0::bigint,
          'every other check character of those 2000 numbers is refused as a bad check character');

-----------------------------------------------------------------------------
-- fixture: a district with two towns, a micro-grid leader, two departments,
-- a loader of the health feed for town t, residents known before
-----------------------------------------------------------------------------
INSERT INTO sanse.area (id, path, kind, name) OVERRIDING SYSTEM VALUE VALUES
  (928001, 'f28', 'district', 'F'), (928002, 'f28.t', 'town', 'FT'), (928003, 'f28.t.v', 'village', 'FV'),
  (928004, 'f28.t.v.tg', 'total_grid', 'FTG'), (928005, 'f28.t.v.tg.g', 'general_grid', 'FG'),
  (928006, 'f28.t.v.tg.g.m1', 'micro_grid', 'FM1'),
  (928008, 'f28.u', 'town', 'FU'), (928009, 'f28.u.v', 'village', 'UV'),
  (928010, 'f28.u.v.tg', 'total_grid', 'UTG'), (928011, 'f28.u.v.tg.g', 'general_grid', 'UG'),
  (928012, 'f28.u.v.tg.g.m', 'micro_grid', 'UM');
INSERT INTO sanse.worker (name, force, role, area_id) VALUES ('t28 lead', 'grid_officer', 'micro_grid_leader', 928006);
INSERT INTO sanse.department (code, name) VALUES ('t28_health', 'Health commission'), ('t28_civil', 'Civil affairs');
CREATE ROLE t28_loader NOLOGIN;
CREATE ROLE t28_attacker NOLOGIN;
GRANT USAGE ON SCHEMA sanse TO t28_attacker;
INSERT INTO sanse.feed_grant (role, department, path) VALUES ('t28_loader', 't28_health', 'f28.t');

CREATE TEMP TABLE ids (k text PRIMARY KEY, n text);
INSERT INTO ids SELECT k, pg_temp.mod11_2(b) FROM (VALUES
  ('A', '11010519491231002'), ('B', '11010119400101123'), ('C', '51010719500315004'), ('D', '51010719380622002'),
  ('E', '51010719451101006'), ('F', '51010719420707001'), ('G', '51010719551212003'), ('H', '51010719600229007'),
  ('I', '51010719331010005')) v(k, b);
SELECT n AS id_a FROM ids WHERE k = 'A' \gset
SELECT n AS id_b FROM ids WHERE k = 'B' \gset
SELECT n AS id_c FROM ids WHERE k = 'C' \gset
SELECT n AS id_d FROM ids WHERE k = 'D' \gset
SELECT n AS id_e FROM ids WHERE k = 'E' \gset
SELECT n AS id_f FROM ids WHERE k = 'F' \gset
SELECT n AS id_g FROM ids WHERE k = 'G' \gset
SELECT n AS id_h FROM ids WHERE k = 'H' \gset
SELECT n AS id_i FROM ids WHERE k = 'I' \gset
-- known: A (lives alone, by a visit), C and D in town t, G in town u
INSERT INTO sanse.resident (area_id, name, factors, id_number) VALUES
  (928006, 'A', '{lives_alone}', :'id_a'), (928006, 'C', '{}', :'id_c'),
  (928006, 'D', '{mobility_impaired}', :'id_d'), (928012, 'G', '{}', :'id_g');
CREATE FUNCTION pg_temp.rid(n text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM sanse.resident WHERE name = n $$;
CREATE FUNCTION pg_temp.tier(n text) RETURNS text LANGUAGE sql AS $$ SELECT coalesce(tier::text, '-') FROM sanse.resident WHERE name = n $$;
CREATE FUNCTION pg_temp.outcomes(d text, b text) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(line || ':' || coalesce(outcome, '-') || coalesce(' (' || reason || ')', ''), '; ' ORDER BY line)
	  FROM sanse.feed_inbox WHERE department = d AND batch = b
$$;

SELECT is((SELECT string_agg(source || ':' || factor, ',' ORDER BY factor) FROM sanse.factor_source WHERE resident_id = pg_temp.rid('A')),
          'visit:lives_alone', 'what an app writes into resident.factors is the visit source''s');

-----------------------------------------------------------------------------
-- the loader COPYs batch b1: the clear numbers become hashes as stored
-----------------------------------------------------------------------------
SET LOCAL ROLE t28_loader;
COPY sanse.feed_inbox (department, batch, line, id_number, name, area_path, factors, left_programme) FROM STDIN;
t28_health	b1	1	11010519491231002x	\N	\N	{sudden_illness,no_caregiver}	f
t28_health	b1	2	110101194001011234	New B	f28.t.v.tg.g.m1	{sudden_illness,no_caregiver}	f
t28_health	b1	3	510107195003150040	\N	\N	{unstable_chronic}	f
t28_health	b1	4	510107193806220023	\N	\N	\N	t
t28_health	b1	5	510107194511010066	No area E	\N	{lives_alone}	f
t28_health	b1	6	510107194207070013	Twice F	f28.t.v.tg.g.m1	{lives_alone}	f
t28_health	b1	7	510107194207070013	Twice F	f28.t.v.tg.g.m1	{disabled}	f
t28_health	b1	8	510107195512120034	\N	\N	{accident_risk}	f
t28_health	b1	9	510107196002290070	Village H	f28.t.v	{lives_alone}	f
t28_health	b1	10	510107193310100052	Flying I	f28.t.v.tg.g.m1	{flying}	f
t28_health	b1	11	110105194912310021	Bad check	f28.t.v.tg.g.m1	{lives_alone}	f
t28_health	b1	12	1101051949123100	Short	f28.t.v.tg.g.m1	{lives_alone}	f
\.
SELECT is(pg_temp.sqlstate_of($$INSERT INTO sanse.feed_inbox (department, batch, line, id_number) VALUES ('t28_civil', 'x', 1, '11010519491231002X')$$),
          '42501', 'the loader may not load another department''s feed (42501)');
SELECT is(pg_temp.sqlstate_of($$SELECT * FROM sanse.feed_inbox$$), '42501', 'the loader does not read feed_inbox (hashes, names)');
SELECT is((SELECT count(*) FROM sanse.feed_outcome WHERE batch = 'b1'), 12::bigint, 'the loader sees its rows through feed_outcome');
RESET ROLE;
SELECT is((SELECT count(*) FROM sanse.feed_inbox WHERE id_number IS NOT NULL), 0::bigint, 'no clear ID number is stored');
SELECT is((SELECT string_agg(line::text, ',' ORDER BY line) FROM sanse.feed_inbox WHERE batch = 'b1' AND id_number_hash IS NOT NULL),
          '1,2,3,4,5,6,7,8,9,10', 'the well-formed numbers have their hash');
SELECT is((SELECT id_number_hash FROM sanse.feed_inbox WHERE batch = 'b1' AND line = 1), sanse.id_number_hash(:'id_a'),
          'the hash made in C is sanse.id_number_hash of the number (lower-case x read as X)');
SELECT is((SELECT id_number_hash FROM sanse.feed_inbox WHERE batch = 'b1' AND line = 1),
          (SELECT id_number_hash FROM sanse.resident WHERE name = 'A'), 'and the hash the resident was registered with');
SELECT is(pg_temp.outcomes('t28_health', 'b1'),
          '1:-; 2:-; 3:-; 4:-; 5:-; 6:-; 7:-; 8:-; 9:-; 10:-; 11:rejected (bad check character); 12:rejected (an ID number has 18 characters)',
          'a malformed number is kept only as its outcome and reason');

-----------------------------------------------------------------------------
-- applying it
-----------------------------------------------------------------------------
SELECT now() AS t0 \gset
SELECT coalesce(max(id), 0) AS h0 FROM sanse.tier_history \gset
SET LOCAL ROLE t28_loader;
SELECT results_eq($$SELECT outcome, n FROM sanse.apply_feed('t28_health', 'b1')$$,
                  $$VALUES ('matched', 2::bigint), ('registered', 1::bigint), ('left', 1::bigint), ('rejected', 8::bigint)$$,
                  'the loader applies b1: 2 matched, 1 registered, 1 left, 8 rejected');
RESET ROLE;
SELECT is(pg_temp.outcomes('t28_health', 'b1'),
          '1:matched; 2:registered; 3:matched; 4:left; 5:rejected (no resident of the areas this role may feed has this ID number, and the row names no area); '
          '6:rejected (the same person is twice in this batch); 7:rejected (the same person is twice in this batch); '
          '8:rejected (no resident of the areas this role may feed has this ID number, and the row names no area); 9:rejected (the area is not a micro grid); '
          '10:rejected (unknown factor "flying"); 11:rejected (bad check character); 12:rejected (an ID number has 18 characters)',
          'each row''s outcome and reason');
SELECT is(pg_temp.tier('A'), 'red', 'A: sudden illness and no caregiver from health, red at once');
SELECT is((SELECT factors FROM sanse.resident WHERE name = 'A'), '{lives_alone,no_caregiver,sudden_illness}'::text[],
          'A''s factors are the union of the visit''s and health''s');
SELECT is((SELECT string_agg(source || ':' || factor || ':' || coalesce(batch, '-'), ',' ORDER BY factor, source)
             FROM sanse.factor_source WHERE resident_id = pg_temp.rid('A') AND until IS NULL),
          'visit:lives_alone:-,t28_health:no_caregiver:b1,t28_health:sudden_illness:b1', 'each factor of A with its source');
SELECT is((SELECT reason FROM sanse.tier_history WHERE resident_id = pg_temp.rid('A') AND id > :h0),
          'feed t28_health, batch b1', 'A''s tier history names the department and the batch');
SELECT is((SELECT string_agg(area_id || ' ' || tier || ' ' || (id_number_hash = sanse.id_number_hash(:'id_b')), ',')
             FROM sanse.resident WHERE name = 'New B'), '928006 red true', 'B is registered in its micro grid, red, with its hash');
SELECT ok((SELECT sanse.due_at(next_visit) <= :'t0'::timestamptz + interval '2 days' FROM sanse.resident WHERE name = 'New B'),
          'B (sudden illness, no caregiver) is due a visit within two days of the feed');
SELECT is((SELECT reason FROM sanse.tier_history WHERE resident_id = pg_temp.rid('New B')),
          'feed t28_health, batch b1', 'B''s first tier history row names the feed');
SELECT is(pg_temp.tier('C'), 'blue', 'C: unstable chronic disease from health, blue');
SELECT is((SELECT count(*) FROM sanse.resident WHERE name IN ('No area E', 'Twice F', 'Village H', 'Flying I', 'Bad check', 'Short')),
          0::bigint, 'no rejected row registered anybody');
SELECT is((SELECT factors FROM sanse.resident WHERE name = 'G'), '{}'::text[], 'G outside the loader''s areas is untouched');
-- left
SELECT is((SELECT string_agg(e.kind || ' ' || e.status || ' ' || e.level || ' ' || w.name, ',')
             FROM sanse.event e JOIN sanse.worker w ON w.id = e.assignee_id WHERE e.resident_id = pg_temp.rid('D')),
          'task called 1 t28 lead', 'D reported left: a task for the micro-grid leader, in called');
SELECT is((SELECT active::text || ' ' || tier FROM sanse.resident WHERE name = 'D'), 'true blue',
          'until it is confirmed D stays as it was (active, blue)');
SELECT is((SELECT detail FROM sanse.audit_log WHERE act = 'feed_apply' ORDER BY id DESC LIMIT 1),
          'department t28_health, batch b1, mode snapshot: matched 2, registered 1, left 1, rejected 8', 'applying a feed is audited with its counts');

-- the same batch again changes nothing
CREATE TEMP TABLE before_again AS
SELECT (SELECT count(*) FROM sanse.factor_source) AS sources, (SELECT count(*) FROM sanse.tier_history) AS history,
       (SELECT count(*) FROM sanse.event) AS events, (SELECT count(*) FROM sanse.resident) AS residents,
       (SELECT string_agg(f.*::text, ';' ORDER BY resident_id, factor, source) FROM sanse.factor_source f) AS detail,
       (SELECT xmin::text FROM sanse.feed_inbox WHERE batch = 'b1' AND line = 1) AS row_version;
SET LOCAL ROLE t28_loader;
SELECT results_eq($$SELECT outcome, n FROM sanse.apply_feed('t28_health', 'b1')$$,
                  $$VALUES ('matched', 2::bigint), ('registered', 1::bigint), ('left', 1::bigint), ('rejected', 8::bigint)$$,
                  'applying b1 again gives the same outcomes (B stays registered)');
RESET ROLE;
SELECT is((SELECT (SELECT count(*) FROM sanse.factor_source) = sources AND (SELECT count(*) FROM sanse.tier_history) = history
                  AND (SELECT count(*) FROM sanse.event) = events AND (SELECT count(*) FROM sanse.resident) = residents
                  AND (SELECT string_agg(f.*::text, ';' ORDER BY resident_id, factor, source) FROM sanse.factor_source f) = detail
             FROM before_again), true, 'and changes no source, tier, event or resident');
SELECT is((SELECT xmin::text FROM sanse.feed_inbox WHERE batch = 'b1' AND line = 1), (SELECT row_version FROM before_again),
          'nor the feed rows');

-----------------------------------------------------------------------------
-- a corrected snapshot b2: A without no_caregiver, C's row rejected (kept),
-- B and D omitted (B's factors withdrawn; D's departure still pending)
-----------------------------------------------------------------------------
INSERT INTO sanse.feed_inbox (department, batch, line, id_number, factors) VALUES
  ('t28_health', 'b2', 1, :'id_a', '{sudden_illness}'),
  ('t28_health', 'b2', 2, :'id_c', '{flying}');
SELECT coalesce(max(id), 0) AS h1 FROM sanse.tier_history \gset
SET LOCAL ROLE t28_loader;
SELECT results_eq($$SELECT outcome, n FROM sanse.apply_feed('t28_health', 'b2') WHERE n > 0$$,
                  $$VALUES ('matched', 1::bigint), ('rejected', 1::bigint)$$, 'b2: 1 matched, 1 rejected');
RESET ROLE;
SELECT is(pg_temp.tier('A'), '-', 'A without no_caregiver has no tier any more (dynamic adjustment)');
SELECT is((SELECT factors FROM sanse.resident WHERE name = 'A'), '{lives_alone,sudden_illness}'::text[], 'A''s factors');
SELECT is((SELECT until_batch FROM sanse.factor_source WHERE resident_id = pg_temp.rid('A') AND factor = 'no_caregiver'),
          'b2', 'health''s no_caregiver of A was closed by b2');
SELECT is(pg_temp.tier('New B'), '-', 'B, omitted from the snapshot, loses health''s factors');
SELECT is(pg_temp.tier('C'), 'blue', 'C, whose row was rejected, keeps what health asserted before');
SELECT is((SELECT string_agg(r.name || ':' || h.reason, ', ' ORDER BY r.name) FROM sanse.tier_history h JOIN sanse.resident r ON r.id = h.resident_id
            WHERE h.id > :h1), 'A:feed t28_health, batch b2, New B:feed t28_health, batch b2', 'the tier history names b2');

-- a delta b3 changes only its rows
INSERT INTO sanse.feed_inbox (department, batch, line, id_number, factors) VALUES
  ('t28_health', 'b3', 1, :'id_c', '{partial_care,unstable_chronic}');
SET LOCAL ROLE t28_loader;
SELECT results_eq($$SELECT outcome, n FROM sanse.apply_feed('t28_health', 'b3', 'delta') WHERE n > 0$$,
                  $$VALUES ('matched', 1::bigint)$$, 'delta b3: 1 matched');
RESET ROLE;
SELECT is(pg_temp.tier('C') || ' ' || pg_temp.tier('A'), 'yellow -', 'C yellow; A, not in the delta, keeps health''s sudden illness');
SELECT is((SELECT factors FROM sanse.resident WHERE name = 'A'), '{lives_alone,sudden_illness}'::text[], 'A unchanged by the delta');

-----------------------------------------------------------------------------
-- what an app writes replaces the visit source's factors only
-----------------------------------------------------------------------------
UPDATE sanse.resident SET factors = '{}' WHERE name = 'C';
SELECT is((SELECT factors FROM sanse.resident WHERE name = 'C'), '{partial_care,unstable_chronic}'::text[],
          'an app cannot remove a department''s factors');
UPDATE sanse.resident SET factors = '{mobility_impaired}' WHERE name = 'A';
SELECT is((SELECT factors FROM sanse.resident WHERE name = 'A'), '{mobility_impaired,sudden_illness}'::text[],
          'an app replaces the visit factors: lives_alone ended, mobility_impaired added, sudden_illness (health) stays');
SELECT is((SELECT string_agg(source || ':' || factor, ',' ORDER BY factor) FROM sanse.factor_source
            WHERE resident_id = pg_temp.rid('A') AND until IS NULL), 'visit:mobility_impaired,t28_health:sudden_illness',
          'A''s open sources');
SELECT is(pg_temp.tier('A'), 'blue', 'and A is reclassified (mobility impaired: blue)');

-----------------------------------------------------------------------------
-- the departure confirmed through the loop ends the care
-----------------------------------------------------------------------------
SELECT id AS ev_d FROM sanse.event WHERE resident_id = pg_temp.rid('D') \gset
SELECT id AS lead FROM sanse.worker WHERE name = 't28 lead' \gset
INSERT INTO sanse.feed_inbox (department, batch, line, id_number, factors) VALUES ('t28_health', 'b4', 1, :'id_d', '{disabled}');
SET LOCAL ROLE t28_loader;
SELECT results_eq($$SELECT outcome, n FROM sanse.apply_feed('t28_health', 'b4', 'delta') WHERE n > 0$$,
                  $$VALUES ('matched', 1::bigint)$$, 'D listed again by health (delta b4)');
RESET ROLE;
SELECT sanse.arrive(:ev_d, :lead, sanse.door_token(pg_temp.rid('D')));
SELECT sanse.handle_event(:ev_d, :lead, 'the family says he moved to his daughter''s');
SELECT sanse.feed_back(:ev_d, :lead, 'moved away');
CREATE ROLE t28_supervisor NOLOGIN;
INSERT INTO sanse.area_grant (role, path, access) VALUES ('t28_supervisor', 'f28', 'care');
GRANT EXECUTE ON FUNCTION sanse.evaluate(bigint, integer, boolean, text, text, timestamptz) TO t28_supervisor;
SET LOCAL ROLE t28_supervisor;
SELECT sanse.evaluate(:ev_d, 5, true, 'supervisor');
RESET ROLE;
SELECT is((SELECT active::text || ' ' || array_to_string(factors, ',') FROM sanse.resident WHERE name = 'D'), 'false mobility_impaired',
          'closing the task ends D''s care and health''s assertions (disabled), the visit''s stay');
SELECT isnt((SELECT confirmed_at FROM sanse.feed_departure WHERE event_id = :ev_d), NULL, 'the departure is confirmed');

-----------------------------------------------------------------------------
-- refusals
-----------------------------------------------------------------------------
SELECT is(pg_temp.sqlstate_of(q), s, d) FROM (VALUES
  ($$SELECT * FROM sanse.apply_feed('t28_nobody', 'b1')$$, '22023', 'an unknown department is refused (22023)'),
  ($$SELECT * FROM sanse.apply_feed('t28_health', 'b1', 'merge')$$, '22023', 'an unknown mode is refused (22023)'),
  ($$SELECT * FROM sanse.apply_feed('t28_health', 'b99')$$, '22023', 'a batch without rows is refused (22023)')) t(q, s, d);
SELECT is(pg_temp.sqlstate_as('t28_attacker', $$SELECT * FROM sanse.apply_feed('t28_health', 'b1')$$), '42501',
          'a role with only USAGE on the schema may not apply a feed');
SELECT is(pg_temp.sqlstate_as('t28_attacker', $$SELECT id_number_hash FROM sanse.feed_inbox$$), '42501',
          'nor read the feed''s hashes');
SELECT is(pg_temp.sqlstate_as('t28_attacker', $$SELECT * FROM sanse.factor_source$$), '42501',
          'nor the factors'' sources');
SELECT is(pg_temp.sqlstate_as('t28_attacker', $$INSERT INTO sanse.feed_inbox (department, batch, line, id_number) VALUES ('t28_health', 'x', 1, NULL)$$),
          '42501', 'nor load a feed');
DELETE FROM sanse.feed_grant WHERE role = 't28_loader';
SELECT is(pg_temp.sqlstate_as('t28_loader', $$SELECT * FROM sanse.apply_feed('t28_health', 'b1')$$), '42501',
          'deleting the feed grant takes the loader''s privileges back');
SELECT is((SELECT count(*) FROM sanse.audit_log WHERE act = 'grant_change' AND detail LIKE '% on feed_grant'), 2::bigint,
          'feed grant changes are audited');

SELECT * FROM finish();
ROLLBACK;
