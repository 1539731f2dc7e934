-- Security: secrets stay the owner's, a hostile search_path changes nothing.
SET search_path = sanse, public;
SET TimeZone = 'Asia/Shanghai';
INSERT INTO area (path, kind, name) VALUES
  ('s', 'district', 'S'), ('s.t', 'town', 'T'), ('s.t.v', 'village', 'V'),
  ('s.t.v.tg', 'total_grid', 'TG'), ('s.t.v.tg.g', 'general_grid', 'G'), ('s.t.v.tg.g.m', 'micro_grid', 'M');
INSERT INTO worker (name, force, role, area_id) SELECT 'carer', 'volunteer', 'member', id FROM area WHERE kind = 'micro_grid';
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT id, 'Wang', '{accident_risk}', '2024-03-01 09:00+08' FROM area WHERE kind = 'micro_grid';
INSERT INTO carer (resident_id, worker_id) SELECT r.id, w.id FROM resident r, worker w;
SELECT door_token(r.id) AS token FROM resident r \gset

CREATE ROLE regress_sanse_app;
GRANT USAGE ON SCHEMA sanse TO regress_sanse_app;
GRANT SELECT ON resident TO regress_sanse_app;
SET ROLE regress_sanse_app;
-- the secret, the token table and token minting are the owner's
SELECT * FROM installation_secret;
\echo SQLSTATE :SQLSTATE
SELECT * FROM door_token;
\echo SQLSTATE :SQLSTATE
SELECT door_token(1);
\echo SQLSTATE :SQLSTATE
SELECT id_number_hash('51010119400101123X');
\echo SQLSTATE :SQLSTATE
-- but an app can check in with the token from the door
SELECT check_in(:'token', 1, '2024-03-02 10:00+08') AS visit_id;
RESET ROLE;

-- A schema that shadows sanse's helpers, first on the search path, changes
-- nothing: SECURITY DEFINER and internal functions pin their search_path.
CREATE SCHEMA evil;
CREATE FUNCTION evil.due_at(visit_window) RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'infinity'::timestamptz $$;
CREATE FUNCTION evil.zone_add(timestamptz, interval) RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'infinity'::timestamptz $$;
CREATE FUNCTION evil.leader_for(bigint, int) RETURNS bigint LANGUAGE sql AS $$ SELECT -1::bigint $$;
CREATE FUNCTION evil.hmac(bytea, bytea, text) RETURNS bytea LANGUAGE sql AS $$ SELECT '\x00'::bytea $$;
SET search_path = evil, sanse, public;
SELECT check_in(:'token', 1, '2024-03-05 12:00+08') > 0 AS checked_in;   -- late: makes its event
SELECT * FROM sweep('2024-03-09 00:00+08');
SELECT due_at, level, level_since, status, assignee_id IS NULL AS no_leader FROM sanse.event ORDER BY due_at;
SELECT count(*) AS steps, bool_and(at < 'infinity') AS finite FROM sanse.event_step;
UPDATE resident SET id_number = '51010119400101123X';
SELECT id_number_hash <> '\x00' AS real_hmac, find_resident_by_id_number('51010119400101123x') AS found FROM resident;
SET search_path = sanse, public;

DROP SCHEMA evil CASCADE;
TRUNCATE event_step, event, visit, door_token, carer, tier_history, resident, worker, area RESTART IDENTITY CASCADE;
DROP OWNED BY regress_sanse_app;
DROP ROLE regress_sanse_app;
