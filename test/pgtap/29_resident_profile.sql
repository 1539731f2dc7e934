-- pgTAP: issue 20 — sanse.resident_profile, one record per person (一人一档),
-- care access only (spec 9): tier, computed tier, override and reason, each
-- factor with its open sources and since when, carers, last visit, next
-- window, open events; the rows of the role's care subtrees only; read and
-- aggregate roles, loaders and a role with only USAGE on the schema are
-- refused (42501); the area_grant recipe gives and takes it.
-- Expected values are written here from the fixture, not read back.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
SET LOCAL sanse.timezone = 'Asia/Shanghai';
\ir include/helpers.psql
SELECT plan(18);

INSERT INTO sanse.area (id, path, kind, name) OVERRIDING SYSTEM VALUE VALUES
  (929001, 'p29', 'district', 'P'), (929002, 'p29.t', 'town', 'PT'), (929003, 'p29.t.v', 'village', 'PV'),
  (929004, 'p29.t.v.tg', 'total_grid', 'PTG'), (929005, 'p29.t.v.tg.g', 'general_grid', 'PG'),
  (929006, 'p29.t.v.tg.g.m', 'micro_grid', 'PM'),
  (929008, 'p29.u', 'town', 'PU'), (929009, 'p29.u.v', 'village', 'UV'),
  (929010, 'p29.u.v.tg', 'total_grid', 'UTG'), (929011, 'p29.u.v.tg.g', 'general_grid', 'UG'),
  (929012, 'p29.u.v.tg.g.m', 'micro_grid', 'UM');
INSERT INTO sanse.worker (name, force, role, area_id) VALUES
  ('p29 lead', 'grid_officer', 'micro_grid_leader', 929006), ('p29 vol', 'volunteer', 'member', 929006);
INSERT INTO sanse.department (code, name) VALUES ('t29_health', 'Health commission');
CREATE ROLE t29_care NOLOGIN;
CREATE ROLE t29_read NOLOGIN;
CREATE ROLE t29_aggregate NOLOGIN;
CREATE ROLE t29_loader NOLOGIN;
CREATE ROLE t29_usage NOLOGIN;
GRANT USAGE ON SCHEMA sanse TO t29_usage;
INSERT INTO sanse.area_grant (role, path, access) VALUES
  ('t29_care', 'p29.t', 'care'), ('t29_read', 'p29', 'read'), ('t29_aggregate', 'p29', 'aggregate');
INSERT INTO sanse.feed_grant (role, department, path) VALUES ('t29_loader', 't29_health', 'p29');

-- P: lives alone (a visit), health adds sudden illness, no caregiver and
-- lives alone too; Q in town u; a carer, an open warning
INSERT INTO sanse.resident (area_id, name, factors, id_number) VALUES
  (929006, 'P', '{lives_alone}', '11010519491231002X'), (929012, 'Q', '{mobility_impaired}', NULL);
SELECT now() AS t0 \gset
INSERT INTO sanse.feed_inbox (department, batch, line, id_number, factors) VALUES
  ('t29_health', 'h1', 1, '11010519491231002X', '{sudden_illness,no_caregiver,lives_alone}');
SELECT is((SELECT string_agg(outcome || ' ' || n, ',') FROM sanse.apply_feed('t29_health', 'h1') WHERE n > 0), 'matched 1',
          'health''s batch matches P');
INSERT INTO sanse.carer (resident_id, worker_id)
SELECT r.id, w.id FROM sanse.resident r, sanse.worker w WHERE r.name = 'P' AND w.name = 'p29 vol';
SELECT sanse.raise_event('warning', (SELECT id FROM sanse.resident WHERE name = 'P'), 'fall sensor') AS ev \gset
UPDATE sanse.resident SET tier_override = 'yellow', override_reason = 'daughter moved in next door' WHERE name = 'P';

-----------------------------------------------------------------------------
-- the care role's view of P
-----------------------------------------------------------------------------
SET LOCAL ROLE t29_care;
SELECT is((SELECT count(*) FROM sanse.resident_profile WHERE area_id IN (929006, 929012)), 1::bigint,
          'the care role sees one profile: P (Q lives outside its subtree)');
SELECT is((SELECT tier::text || ' ' || computed_tier || ' ' || tier_override || ' / ' || override_reason
             FROM sanse.resident_profile WHERE name = 'P'), 'yellow red yellow / daughter moved in next door',
          'tier, computed tier, override and its reason');
SELECT is((SELECT jsonb_agg(f->>'factor') FROM sanse.resident_profile, jsonb_array_elements(factors) f WHERE name = 'P'),
          '["lives_alone", "no_caregiver", "sudden_illness"]'::jsonb, 'its factors, as resident.factors orders them');
SELECT is((SELECT string_agg(s->>'source' || coalesce(':' || (s->>'batch'), ''), ',' ORDER BY s->>'source')
             FROM sanse.resident_profile, jsonb_array_elements(factors) f, jsonb_array_elements(f->'sources') s
            WHERE name = 'P' AND f->>'factor' = 'lives_alone'), 't29_health:h1,visit',
          'lives alone: asserted by the visit and by health''s batch h1');
SELECT is((SELECT string_agg(s->>'source' || coalesce(':' || (s->>'batch'), ''), ',')
             FROM sanse.resident_profile, jsonb_array_elements(factors) f, jsonb_array_elements(f->'sources') s
            WHERE name = 'P' AND f->>'factor' = 'sudden_illness'), 't29_health:h1', 'sudden illness: health only');
SELECT is((SELECT bool_and((s->>'since')::timestamptz = :'t0'::timestamptz)
             FROM sanse.resident_profile, jsonb_array_elements(factors) f, jsonb_array_elements(f->'sources') s WHERE name = 'P'),
          true, 'each source says since when (this transaction''s time)');
SELECT is((SELECT carers FROM sanse.resident_profile WHERE name = 'P'),
          jsonb_build_array(jsonb_build_object('worker_id', (SELECT id FROM sanse.worker WHERE name = 'p29 vol'),
                                               'force', 'volunteer', 'name', 'p29 vol')), 'its carers');
SELECT is((SELECT open_events FROM sanse.resident_profile WHERE name = 'P'),
          jsonb_build_array(jsonb_build_object('event_id', :ev, 'kind', 'warning', 'stage', 'called', 'level', 1)),
          'its open events');
SELECT is((SELECT (last_visit_at IS NULL) || ' ' || (next_visit IS NOT NULL) FROM sanse.resident_profile WHERE name = 'P'),
          'true true', 'no visit yet, a next window');
RESET ROLE;

-----------------------------------------------------------------------------
-- care access only
-----------------------------------------------------------------------------
SELECT is(pg_temp.sqlstate_as(r, 'SELECT * FROM sanse.resident_profile'), '42501', d) FROM (VALUES
  ('t29_read', 'a read role may not read profiles (42501)'),
  ('t29_aggregate', 'an aggregate role may not'),
  ('t29_loader', 'a feed loader may not'),
  ('t29_usage', 'a role with only USAGE on the schema may not')) t(r, d);
SELECT is(pg_temp.sqlstate_as('t29_care', 'SELECT * FROM sanse.resident_profile'), 'ok', 'a care role may');
DELETE FROM sanse.area_grant WHERE role = 't29_care';
SELECT is(pg_temp.sqlstate_as('t29_care', 'SELECT * FROM sanse.resident_profile'), '42501',
          'deleting the care grant takes the profile back');
-- a forgotten resident has no profile
INSERT INTO sanse.area_grant (role, path, access) VALUES ('t29_care', 'p29', 'care');
UPDATE sanse.resident SET active = false WHERE name = 'P';
SELECT sanse.forget_resident((SELECT id FROM sanse.resident WHERE name = 'P'), 'moved away, purpose ended');
SET LOCAL ROLE t29_care;
SELECT is((SELECT string_agg(name, ',') FROM sanse.resident_profile WHERE area_id IN (929006, 929012)), 'Q',
          'a forgotten resident has no profile; the grant on the district shows Q');
RESET ROLE;
SELECT is((SELECT count(*) FROM sanse.feed_inbox WHERE batch = 'h1' AND department = 't29_health'
             AND (id_number_hash IS NOT NULL OR factors IS NOT NULL)), 0::bigint,
          'forgetting P erased the feed row that named P (hash, factors)');

SELECT * FROM finish();
ROLLBACK;
