-- Security: secrets stay the owner's, a hostile search_path changes nothing.
SET search_path = sanse, public;
SET TimeZone = 'Asia/Shanghai';
SET sanse.max_backdate = '100 years';	-- check-ins dated in 2024
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
SELECT id_number_hash <> '\x00' AS real_hmac, find_resident_by_id_number('51010119400101123x', 'matching records in a test') AS found FROM resident;
SET search_path = sanse, public;


-----------------------------------------------------------------------------
-- Issue 9: nothing of sanse runs attacker-chosen code as its owner.
-----------------------------------------------------------------------------
-- Every SECURITY DEFINER function and who may execute it.  A new one, or a
-- new grantee, changes this list: review it before accepting the output.
SELECT p.oid::regprocedure AS function,
       coalesce((SELECT string_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END, ', ' ORDER BY 1)
                   FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                  WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner), '(owner only)') AS executable_by
  FROM pg_proc p
 WHERE p.pronamespace = 'sanse'::regnamespace AND p.prosecdef
 ORDER BY p.oid::regprocedure::text;
-- SECURITY DEFINER functions pin their search_path
SELECT count(*) AS secdef_without_search_path FROM pg_proc p
 WHERE p.pronamespace = 'sanse'::regnamespace AND p.prosecdef
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%');
-- No trigger function of sanse is executable by PUBLIC (triggers fire without it)
SELECT p.oid::regprocedure AS public_trigger_function
  FROM pg_proc p
 WHERE p.pronamespace = 'sanse'::regnamespace AND p.prorettype = 'trigger'::regtype
   AND EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE');

-- A role holding only USAGE on the schema cannot attach sanse's trigger
-- functions to a table of its own (the superuser-through-a-cast attack).
CREATE ROLE regress_sanse_bi;
GRANT USAGE ON SCHEMA sanse TO regress_sanse_bi;
SET ROLE regress_sanse_bi;
CREATE TEMP TABLE mine (id bigint, id_number text, id_number_hash bytea);
CREATE TRIGGER steal BEFORE INSERT ON mine FOR EACH ROW EXECUTE FUNCTION sanse.resident_hash_id_number();
\echo SQLSTATE :SQLSTATE
CREATE TRIGGER forge AFTER INSERT ON mine FOR EACH ROW EXECUTE FUNCTION sanse.resident_history_update();
\echo SQLSTATE :SQLSTATE
CREATE TRIGGER crash BEFORE INSERT ON mine FOR EACH ROW EXECUTE FUNCTION sanse.resident_maintain();
\echo SQLSTATE :SQLSTATE
-- nor lock the sweeps out: an advisory lock is nothing to sanse, its own lock is not the role's to take
SELECT pg_advisory_lock(hashtext('sanse.sweep'));
BEGIN;
LOCK TABLE sanse.sweep_lock IN EXCLUSIVE MODE NOWAIT;
\echo SQLSTATE :SQLSTATE
ROLLBACK;
RESET ROLE;
SELECT skipped FROM sweep('2024-03-09 00:00+08');
SELECT sweeps_skipped, running_pid FROM sweep_status;
SELECT pg_advisory_unlock_all();

-- Fired by the owner on the wrong table, every trigger function refuses
-- (39P01) before reading a column: the C ones never read a bigint as an array.
CREATE TEMP TABLE wrong (id bigint, factors bigint, tier bigint, tier_override bigint, override_reason text,
                         registered_at timestamptz, last_visit_at timestamptz, next_visit bigint, active boolean);
CREATE FUNCTION pg_temp.fire(fn text, timing text DEFAULT 'BEFORE', level text DEFAULT 'ROW') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	s text := 'ok';
BEGIN
	EXECUTE format('CREATE TRIGGER t %s INSERT ON wrong FOR EACH %s EXECUTE FUNCTION sanse.%I()', timing, level, fn);
	BEGIN
		INSERT INTO wrong VALUES (1, 42, 1, NULL, NULL, now(), now(), 7, true);
	EXCEPTION WHEN OTHERS THEN
		s := SQLSTATE || ' ' || SQLERRM;
	END;
	DROP TRIGGER t ON wrong;
	RETURN s;
END
$$;
SELECT p.proname, pg_temp.fire(p.proname,
         CASE WHEN p.proname IN ('resident_history_insert', 'resident_history_update', 'resident_keep_missed_window',
                                 'event_tally', 'cache_invalidate', 'classification_rule_reclassify', 'tier_policy_rederive',
                                 'reading_flush', 'resident_devices_follow')
              THEN 'AFTER' ELSE 'BEFORE' END,
         CASE WHEN p.proname IN ('resident_history_insert', 'event_tally', 'cache_invalidate', 'classification_rule_reclassify',
                                 'tier_policy_rederive', 'restore_guard', 'reading_flush')
              THEN 'STATEMENT' ELSE 'ROW' END) AS refused
  FROM pg_proc p
 WHERE p.pronamespace = 'sanse'::regnamespace AND p.prorettype = 'trigger'::regtype
 ORDER BY 1;

-- A NULL factors array is a NOT NULL violation, not a crash
INSERT INTO resident (area_id, name, factors) SELECT id, 'Null', NULL FROM area WHERE kind = 'micro_grid';
\echo SQLSTATE :SQLSTATE

-- Integrity: an app with the resident grants cannot write what sanse derives
-- (a grant row of care on the district gives it the rows and privileges)
GRANT SELECT, INSERT, UPDATE ON resident TO regress_sanse_bi;
INSERT INTO area_grant (role, path, access) VALUES ('regress_sanse_bi', 's', 'care');
SET ROLE regress_sanse_bi;
UPDATE resident SET last_visit_at = now() WHERE name = 'Wang';
\echo SQLSTATE :SQLSTATE
UPDATE resident SET last_visit_at = NULL WHERE name = 'Wang';
\echo SQLSTATE :SQLSTATE
UPDATE resident SET id_number_hash = '\x00' WHERE name = 'Wang';
\echo SQLSTATE :SQLSTATE
UPDATE resident SET tier = 'blue' WHERE name = 'Wang';
\echo SQLSTATE :SQLSTATE
UPDATE resident SET next_visit = NULL WHERE name = 'Wang';
\echo SQLSTATE :SQLSTATE
INSERT INTO resident (area_id, name, factors, last_visit_at) SELECT area_id, 'Forged', '{}', now() FROM resident WHERE name = 'Wang';
\echo SQLSTATE :SQLSTATE
-- writing a row back as read, or a column of its own, is fine
UPDATE resident SET name = 'Wang', tier = tier, last_visit_at = last_visit_at, next_visit = next_visit WHERE name = 'Wang';
\echo SQLSTATE :SQLSTATE
UPDATE resident SET id_number = ' 51010119400101123x ' WHERE name = 'Wang';
SELECT id_number_hash IS NOT NULL AS hashed FROM resident WHERE name = 'Wang';
RESET ROLE;

-- Bounded texts
UPDATE resident SET tier_override = 'red', override_reason = repeat('x', 2001) WHERE name = 'Wang';
\echo SQLSTATE :SQLSTATE
SELECT check_in(:'token', 1, now(), '{}', repeat('n', 2001));
\echo SQLSTATE :SQLSTATE
-- a checklist counts each item once
SELECT check_in(:'token', 1, now(), '{ask_health,ask_health}');
\echo SQLSTATE :SQLSTATE
-- how far back a visit may be dated: registration, and sanse.max_backdate
RESET sanse.max_backdate;
SHOW sanse.max_backdate;
SELECT check_in(:'token', 1, now() - interval '31 days');
\echo SQLSTATE :SQLSTATE
SET sanse.max_backdate = '100 years';
SELECT check_in(:'token', 1, '2024-02-29 09:00+08');
\echo SQLSTATE :SQLSTATE
SET ROLE regress_sanse_bi;
SET sanse.max_backdate = '100 years';
\echo SQLSTATE :SQLSTATE
RESET ROLE;
-- and a sweep may not run ahead of the clock
SELECT * FROM sweep(now() + interval '3 days');
\echo SQLSTATE :SQLSTATE
SELECT * FROM sweep_overdue(now() + interval '1 hour');
\echo SQLSTATE :SQLSTATE
SELECT * FROM sweep_escalations('infinity');
\echo SQLSTATE :SQLSTATE
SET ROLE regress_sanse_bi;
SELECT * FROM sweep();
\echo SQLSTATE :SQLSTATE
RESET ROLE;
DROP TABLE wrong;
DELETE FROM area_grant WHERE role = 'regress_sanse_bi';
DROP OWNED BY regress_sanse_bi;
DROP ROLE regress_sanse_bi;

-- sees_area loads its expansion of the grant rows as the owner: no operator
-- from the search_path of the session that triggers the load may run there.
-- The role owns a schema, put before pg_catalog, with its own = operators.
CREATE ROLE regress_sanse_shadow;
CREATE SCHEMA shadow AUTHORIZATION regress_sanse_shadow;
SET ROLE regress_sanse_shadow;
CREATE FUNCTION shadow.text_eq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RAISE WARNING 'shadow text = ran as %', current_user; RETURN pg_catalog.texteq(a, b); END $$;
CREATE OPERATOR shadow.= (FUNCTION = shadow.text_eq, LEFTARG = text, RIGHTARG = text);
CREATE FUNCTION shadow.name_eq(a name, b name) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RAISE WARNING 'shadow name = ran as %', current_user; RETURN pg_catalog.nameeq(a, b); END $$;
CREATE OPERATOR shadow.= (FUNCTION = shadow.name_eq, LEFTARG = name, RIGHTARG = name);
RESET ROLE;
-- the new grant row drops the expansion; the next probe loads it again
INSERT INTO sanse.area_grant (role, path, access)
SELECT 'regress_sanse_shadow', path, 'read' FROM sanse.area WHERE kind = 'micro_grid';
SET ROLE regress_sanse_shadow;
SET search_path = shadow, pg_catalog, sanse;
SELECT sanse.sees_area(a.id, 'read') AS sees_its_grid, sanse.sees_area(a.id, 'care') AS may_care
  FROM sanse.area a WHERE a.kind OPERATOR(pg_catalog.=) 'micro_grid';
RESET ROLE;
SET search_path = sanse, public;
DELETE FROM area_grant WHERE role = 'regress_sanse_shadow';
-- a grant row rolled back leaves nothing behind in the expansion (a pooled
-- session goes on with the next request)
SELECT id AS micro FROM area WHERE kind = 'micro_grid' \gset
BEGIN;
INSERT INTO area_grant (role, path, access) SELECT 'regress_sanse_shadow', path, 'care' FROM area WHERE id = :micro;
SET LOCAL ROLE regress_sanse_shadow;
SELECT sees_area(:micro, 'care') AS may_care_in_the_transaction;
ROLLBACK;
SET ROLE regress_sanse_shadow;
SELECT sees_area(:micro, 'care') AS may_care_after_rollback;
RESET ROLE;
BEGIN;
SAVEPOINT s;
INSERT INTO area_grant (role, path, access) SELECT 'regress_sanse_shadow', path, 'care' FROM area WHERE id = :micro;
SET LOCAL ROLE regress_sanse_shadow;
SELECT current_user, sees_area(:micro, 'care') AS may_care_in_the_savepoint;
ROLLBACK TO SAVEPOINT s;
SET LOCAL ROLE regress_sanse_shadow;
SELECT sees_area(:micro, 'care') AS may_care_after_rollback_to_savepoint;
COMMIT;
DROP SCHEMA shadow CASCADE;
DROP OWNED BY regress_sanse_shadow;
DROP ROLE regress_sanse_shadow;

-----------------------------------------------------------------------------
-- Issue 21: the write path of readings runs as the owner at the end of a
-- gateway's statement (the devices' last times, the warnings): no operator
-- or function from the gateway's search_path runs there, and the gateway
-- holds INSERT on sanse.reading only.
-----------------------------------------------------------------------------
SELECT reading_partition((now() AT TIME ZONE current_zone())::date) IS NOT NULL AS partition_made;
INSERT INTO device (kind, resident_id, area_id) SELECT 'smoke', r.id, r.area_id FROM resident r WHERE r.name = 'Wang' RETURNING id AS smoke \gset
CREATE ROLE regress_sanse_gateway;
GRANT INSERT ON reading TO regress_sanse_gateway;
CREATE SCHEMA gw AUTHORIZATION regress_sanse_gateway;
SET ROLE regress_sanse_gateway;
CREATE FUNCTION gw.tstz_gt(a timestamptz, b timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RAISE WARNING 'gateway > ran as %', current_user; RETURN pg_catalog.timestamptz_gt(a, b); END $$;
CREATE OPERATOR gw.> (FUNCTION = gw.tstz_gt, LEFTARG = timestamptz, RIGHTARG = timestamptz);
CREATE FUNCTION gw.text_eq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RAISE WARNING 'gateway text = ran as %', current_user; RETURN pg_catalog.texteq(a, b); END $$;
CREATE OPERATOR gw.= (FUNCTION = gw.text_eq, LEFTARG = text, RIGHTARG = text);
CREATE FUNCTION gw.leader_for(bigint, int) RETURNS bigint LANGUAGE sql AS $$ SELECT -1::bigint $$;
SET search_path = gw, pg_catalog, sanse;
INSERT INTO sanse.reading (device_id, at, value, alarm) VALUES (:smoke, now() - interval '1 minute', 0, true);
SELECT count(*) FROM sanse.reading;
\echo SQLSTATE :SQLSTATE
SELECT count(*) FROM sanse.device;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SET search_path = sanse, public;
SELECT kind, rule, repeats, assignee_id IS NULL AS no_leader FROM event WHERE device_id = :smoke;
SELECT last_reading_at IS NOT NULL AS seen FROM device WHERE id = :smoke;
DROP SCHEMA gw CASCADE;
REVOKE ALL ON reading FROM regress_sanse_gateway;
DROP ROLE regress_sanse_gateway;
TRUNCATE reading;

DROP SCHEMA evil CASCADE;
TRUNCATE event_transition, event_step, device, event, visit, door_token, carer, tier_history, resident, worker, area RESTART IDENTITY CASCADE;
DROP OWNED BY regress_sanse_app;
DROP ROLE regress_sanse_app;

-----------------------------------------------------------------------------
-- Issue 23, the city: a client role holding USAGE on the schema reads none
-- of the city's tables and runs none of its functions; screen_as_of shows a
-- role without a grant no row.
-----------------------------------------------------------------------------
CREATE ROLE regress_sanse_city_bi;
GRANT USAGE ON SCHEMA sanse TO regress_sanse_city_bi;
SELECT c.relname, has_table_privilege('regress_sanse_city_bi', c.oid, 'SELECT') AS bi_reads,
       has_table_privilege('public', c.oid, 'SELECT') AS public_reads
  FROM pg_class c
 WHERE c.relnamespace = 'sanse'::regnamespace AND c.relname IN ('city_member', 'city_day', 'city_district', 'city_screen', 'screen_as_of')
 ORDER BY 1;
SELECT p.oid::regprocedure AS city_function, has_function_privilege('regress_sanse_city_bi', p.oid, 'EXECUTE') AS bi_runs
  FROM pg_proc p
 WHERE p.pronamespace = 'sanse'::regnamespace AND p.proname LIKE 'city\_%'
 ORDER BY 1::text;
SET ROLE regress_sanse_city_bi;
SELECT * FROM sanse.city_screen;
\echo SQLSTATE :SQLSTATE
SELECT sanse.city_publish('x');
\echo SQLSTATE :SQLSTATE
SELECT sanse.city_add_district('x', 'localhost', 5432, 'care', 'u', 'p');
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS as_of_rows_without_a_grant FROM sanse.screen_as_of;
RESET ROLE;
DROP OWNED BY regress_sanse_city_bi;
DROP ROLE regress_sanse_city_bi;

-----------------------------------------------------------------------------
-- Issue 22, the daily history carried from the day before: a client role
-- with USAGE on the schema reads and writes none of what it keeps (the
-- residents counted, the changes noted), and runs none of its steps; its
-- writes are noted by a SECURITY DEFINER trigger (listed above).
-----------------------------------------------------------------------------
CREATE ROLE regress_sanse_history_app;
GRANT USAGE ON SCHEMA sanse TO regress_sanse_history_app;
SELECT c.relname, has_table_privilege('regress_sanse_history_app', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE') AS app_any,
       has_table_privilege('public', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE') AS public_any
  FROM pg_class c
 WHERE c.relnamespace = 'sanse'::regnamespace AND c.relname LIKE 'area\_day\_%' AND c.relkind = 'r'
 ORDER BY 1;
SELECT p.oid::regprocedure AS history_step, has_function_privilege('regress_sanse_history_app', p.oid, 'EXECUTE') AS app_runs
  FROM pg_proc p
 WHERE p.pronamespace = 'sanse'::regnamespace AND p.proname LIKE 'area\_day\_%'
 ORDER BY 1::text;
SET ROLE regress_sanse_history_app;
SELECT count(*) FROM sanse.area_day_member;
\echo SQLSTATE :SQLSTATE
INSERT INTO sanse.area_day_change VALUES (1, now());
\echo SQLSTATE :SQLSTATE
RESET ROLE;
DROP OWNED BY regress_sanse_history_app;
DROP ROLE regress_sanse_history_app;
