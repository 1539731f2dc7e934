-- pgTAP: issue 18, items 8 and 9 — what real clients do with residents.
--   * The owner's bulk COPY of residents (the column list of a client, no
--     ids) loads them as INSERT would: classified, windowed, ID numbers
--     hashed, one tier_history row each.  The restore guard took the
--     history rows the resident trigger writes during that COPY for a
--     restore (55000) and refused the whole COPY.
--   * A dump's COPY is still refused: a COPY naming resident.id, a COPY of
--     tier_history (test/dump_restore.sh refuses a whole plain pg_restore).
--   * Under row-level security PostgreSQL refuses COPY FROM (0A000) to every
--     role but the owner and superusers; INSERT … SELECT from a temporary
--     table loaded with COPY is the bulk path for a care role (the README).
--     Areas have no row-level security: a role granted INSERT COPYs them.
--   * next_visit and the other derived columns: a role that is not a
--     superuser may not write them (42501); a superuser's value is replaced.
--   * What a care role learns from resident ids (documented in the README):
--     OVERRIDING SYSTEM VALUE with an id taken elsewhere is 23505.
-- Expected values are worked out here from the default rules and cadences
-- (red: rolling 2 days, yellow: calendar week, blue: calendar month; zone
-- Asia/Shanghai, which has no DST), never read back from sanse.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
SET LOCAL sanse.timezone = 'Asia/Shanghai';
\ir include/helpers.psql
SELECT plan(25);

-- a tree of its own, with ids fixed so COPY data can name the micro grids
INSERT INTO sanse.area (id, path, kind, name) OVERRIDING SYSTEM VALUE VALUES
  (924001, 'c24', 'district', 'C'), (924002, 'c24.t', 'town', 'CT'), (924003, 'c24.t.v', 'village', 'CV'),
  (924004, 'c24.t.v.tg', 'total_grid', 'CTG'), (924005, 'c24.t.v.tg.g', 'general_grid', 'CG'),
  (924006, 'c24.t.v.tg.g.m1', 'micro_grid', 'CM1'), (924007, 'c24.t.v.tg.g.m2', 'micro_grid', 'CM2'),
  (924008, 'c24.u', 'town', 'CU'), (924009, 'c24.u.v', 'village', 'UV'),
  (924010, 'c24.u.v.tg', 'total_grid', 'UTG'), (924011, 'c24.u.v.tg.g', 'general_grid', 'UG'),
  (924012, 'c24.u.v.tg.g.m', 'micro_grid', 'UM');
CREATE ROLE t24_care NOLOGIN;
INSERT INTO sanse.area_grant (role, path, access) VALUES ('t24_care', 'c24.t', 'care');

-----------------------------------------------------------------------------
-- the owner's COPY of residents, as a client sends it
-----------------------------------------------------------------------------
SELECT now() AS t0 \gset
-- psql sets no SQLSTATE for a COPY FROM STDIN: whether it went through is
-- told by the transaction still being alive, and by the rows
SAVEPOINT owner_copy;
\set ON_ERROR_STOP 0
COPY sanse.resident (area_id, name, factors, id_number) FROM STDIN;
924006	copy red	{accident_risk,lives_alone}	110101194001011238
924006	copy yellow	{partial_care,mobility_impaired}	\N
924007	copy blue	{mobility_impaired}	\N
924007	copy none	{lives_alone}	\N
\.
SELECT '00000' AS copy_state \gset
\if :ERROR
ROLLBACK TO SAVEPOINT owner_copy;
\set copy_state 'failed (the transaction was aborted)'
\endif
\set ON_ERROR_STOP 1
SELECT is(:'copy_state'::text, '00000', 'the owner COPYs four residents (area_id, name, factors, id_number) FROM STDIN');
SELECT is((SELECT string_agg(name || ':' || coalesce(tier::text, '-') || '/' || coalesce(computed_tier::text, '-'), ', ' ORDER BY name)
             FROM sanse.resident WHERE name LIKE 'copy %'),
          'copy blue:blue/blue, copy none:-/-, copy red:red/red, copy yellow:yellow/yellow',
          'each COPYed resident is classified by the default rules (accident_risk red, partial care and limited mobility yellow, limited mobility blue, living alone alone: no tier)');
SELECT is((SELECT registered_at FROM sanse.resident WHERE name = 'copy red'), :'t0'::timestamptz,
          'registered_at defaults to the COPY''s transaction time');
SELECT is((SELECT next_visit FROM sanse.resident WHERE name = 'copy red'),
          sanse.visit_window(:'t0'::timestamptz, :'t0'::timestamptz + interval '2 days'),
          'red: next visit due within two days of registration (rolling 2 days)');
SELECT is((SELECT next_visit FROM sanse.resident WHERE name = 'copy yellow'),
          sanse.visit_window((date_trunc('week', :'t0'::timestamptz AT TIME ZONE 'Asia/Shanghai') + interval '7 days') AT TIME ZONE 'Asia/Shanghai',
                             (date_trunc('week', :'t0'::timestamptz AT TIME ZONE 'Asia/Shanghai') + interval '14 days') AT TIME ZONE 'Asia/Shanghai'),
          'yellow: the next local calendar week (Monday to Monday, Asia/Shanghai)');
SELECT is((SELECT next_visit FROM sanse.resident WHERE name = 'copy blue'),
          sanse.visit_window((date_trunc('month', :'t0'::timestamptz AT TIME ZONE 'Asia/Shanghai') + interval '1 month') AT TIME ZONE 'Asia/Shanghai',
                             (date_trunc('month', :'t0'::timestamptz AT TIME ZONE 'Asia/Shanghai') + interval '2 months') AT TIME ZONE 'Asia/Shanghai'),
          'blue: the next local calendar month');
SELECT ok((SELECT next_visit IS NULL FROM sanse.resident WHERE name = 'copy none'), 'no tier, no window');
SELECT is((SELECT string_agg(r.name || ':' || coalesce(h.old_tier::text, '-') || '>' || h.new_tier || '/' || h.new_computed_tier
                             || '/' || coalesce(h.new_override::text, '-') || '/' || h.changed_by, ', ' ORDER BY r.name)
             FROM sanse.tier_history h JOIN sanse.resident r ON r.id = h.resident_id WHERE r.name LIKE 'copy %'),
          'copy blue:->blue/blue/-/' || current_user || ', copy red:->red/red/-/' || current_user || ', copy yellow:->yellow/yellow/-/' || current_user,
          'tier_history: one row per classified resident, from no tier to its tier, by the role that COPYed; none for the unclassified one');
SELECT is((SELECT count(*) FROM sanse.tier_history h JOIN sanse.resident r ON r.id = h.resident_id
            WHERE r.name LIKE 'copy %' AND h.changed_at = :'t0'::timestamptz), 3::bigint,
          'the history rows are dated at the COPY');
SELECT is((SELECT id_number IS NULL AND id_number_hash IS NOT NULL FROM sanse.resident WHERE name = 'copy red'), true,
          'the clear ID number COPYed is replaced by its keyed hash');
SELECT is((SELECT array_agg(x) FROM sanse.find_resident_by_id_number('110101194001011238', 'pgTAP 24: a COPYed number is found') x),
          ARRAY[pg_temp.resident_id('copy red')], 'and find_resident_by_id_number finds that resident by it');

-----------------------------------------------------------------------------
-- a dump's COPY is still taken for a restore
-----------------------------------------------------------------------------
-- (from a server-side file, so psql reports the SQLSTATE; the guard reads
-- the statement's text either way)
SELECT '/tmp/sanse_pgtap24_' || pg_backend_pid() || '_' || md5(random()::text) AS f \gset
COPY (VALUES (924100, 924006, 'dumped', '{}')) TO :'f';
SAVEPOINT dump_copy;
\set ON_ERROR_STOP 0
COPY sanse.resident (id, area_id, name, factors) FROM :'f';
\set copy_state :SQLSTATE
\set ON_ERROR_STOP 1
ROLLBACK TO SAVEPOINT dump_copy;
SELECT is(:'copy_state'::text, '55000', 'a COPY of residents naming the id column (what pg_dump writes) is refused as a restore');
COPY (VALUES (924100, 'red')) TO :'f';
SAVEPOINT dump_copy;
\set ON_ERROR_STOP 0
COPY sanse.tier_history (resident_id, new_tier) FROM :'f';
\set copy_state :SQLSTATE
\set ON_ERROR_STOP 1
ROLLBACK TO SAVEPOINT dump_copy;
SELECT is(:'copy_state'::text, '55000', 'a top-level COPY into tier_history, a table only sanse writes, is refused as a restore');

-----------------------------------------------------------------------------
-- a care role: COPY under row-level security, and the bulk path it has
-----------------------------------------------------------------------------
COPY (VALUES (924006, 'care copy', '{accident_risk}')) TO :'f';
GRANT pg_read_server_files TO t24_care;   -- so that the file is not what stops it
SAVEPOINT care_copy;
SET LOCAL ROLE t24_care;
\set ON_ERROR_STOP 0
COPY sanse.resident (area_id, name, factors) FROM :'f';
\set copy_state :SQLSTATE
\set ON_ERROR_STOP 1
ROLLBACK TO SAVEPOINT care_copy;
SELECT is(:'copy_state'::text, '0A000', 'a care role''s COPY FROM into resident is refused by PostgreSQL under row-level security (0A000)');
REVOKE pg_read_server_files FROM t24_care;
-- the district's structure has no row-level security: with the recipe's hand
-- grant the same role COPYs areas (naming the columns, without id)
GRANT INSERT, UPDATE ON sanse.area TO t24_care;
SET LOCAL ROLE t24_care;
COPY sanse.area (path, kind, name) FROM STDIN;
c24.t.v2	village	copied village
c24.t.v2.tg	total_grid	copied total grid
\.
RESET ROLE;
SELECT is((SELECT string_agg(path::text || ':' || kind, ', ' ORDER BY path) FROM sanse.area WHERE path <@ 'c24.t.v2'),
          'c24.t.v2:village, c24.t.v2.tg:total_grid', 'the care role with INSERT on sanse.area by hand COPYs two areas');
SET LOCAL ROLE t24_care;
CREATE TEMP TABLE t24_load (area_id bigint, name text, factors text[]);
COPY t24_load FROM STDIN;
924006	bulk red	{accident_risk}
924007	bulk blue	{mobility_impaired}
\.
INSERT INTO sanse.resident (area_id, name, factors) SELECT area_id, name, factors FROM t24_load;
SELECT is((SELECT string_agg(name || ':' || tier, ', ' ORDER BY name) FROM sanse.resident WHERE name LIKE 'bulk %'),
          'bulk blue:blue, bulk red:red', 'the care role COPYs into a temporary table and INSERTs … SELECTs from it: both residents classified');
RESET ROLE;
SELECT is((SELECT count(*) FROM sanse.tier_history h JOIN sanse.resident r ON r.id = h.resident_id
            WHERE r.name LIKE 'bulk %' AND h.changed_by = 't24_care'), 2::bigint,
          'with one history row each, by the care role');

-----------------------------------------------------------------------------
-- next_visit and the other derived columns
-----------------------------------------------------------------------------
SELECT is(pg_temp.sqlstate_as('t24_care', format($$UPDATE sanse.resident SET next_visit = '[2024-01-01 00:00+08,2024-01-02 00:00+08)' WHERE id = %s$$,
                                                 pg_temp.resident_id('bulk red'))),
          '42501', 'a care role writing next_visit: 42501');
SELECT is(pg_temp.sqlstate_as('t24_care', $$INSERT INTO sanse.resident (area_id, name, factors, next_visit)
                                            VALUES (924006, 'n', '{accident_risk}', '[2024-01-01 00:00+08,2024-01-02 00:00+08)')$$),
          '42501', 'a care role inserting a next_visit: 42501');
SELECT is(pg_temp.sqlstate_as('t24_care', format($$UPDATE sanse.resident SET tier = 'blue' WHERE id = %s$$, pg_temp.resident_id('bulk red'))),
          '42501', 'a care role writing tier: 42501');
SELECT is(pg_temp.sqlstate_as('t24_care', format($$UPDATE sanse.resident SET next_visit = next_visit, name = 'bulk red' WHERE id = %s$$,
                                                 pg_temp.resident_id('bulk red'))),
          'ok', 'a care role writing a row back unchanged is fine');
UPDATE sanse.resident SET next_visit = '[2024-01-01 00:00+08,2024-01-02 00:00+08)', tier = 'blue' WHERE name = 'bulk red';
SELECT is((SELECT next_visit::text || ' ' || tier FROM sanse.resident WHERE name = 'bulk red'),
          sanse.visit_window(:'t0'::timestamptz, :'t0'::timestamptz + interval '2 days')::text || ' red',
          'a superuser''s next_visit and tier are replaced by the derived ones');

-----------------------------------------------------------------------------
-- resident ids: what a care role learns (the README's known limits)
-----------------------------------------------------------------------------
INSERT INTO sanse.resident (id, area_id, name, factors) OVERRIDING SYSTEM VALUE VALUES (924200, 924012, 'elsewhere', '{}');
SELECT is(pg_temp.sqlstate_as('t24_care', 'SELECT count(*) FROM sanse.resident WHERE id = 924200'), 'ok',
          'the care role may query for a resident outside its grant');
SET LOCAL ROLE t24_care;
SELECT is((SELECT count(*) FROM sanse.resident WHERE id = 924200), 0::bigint, '… and sees no row');
RESET ROLE;
SELECT is(pg_temp.sqlstate_as('t24_care', $$INSERT INTO sanse.resident (id, area_id, name, factors) OVERRIDING SYSTEM VALUE
                                            VALUES (924200, 924006, 'probe', '{}')$$),
          '23505', 'but OVERRIDING SYSTEM VALUE with that id is 23505: the id exists elsewhere (documented in the README)');

SELECT * FROM finish();
ROLLBACK;
