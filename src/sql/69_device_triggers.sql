-----------------------------------------------------------------------------
-- The triggers of devices, rules and readings, in an idempotent DO block: an
-- upgrade runs it after every function of src/sql exists.
-----------------------------------------------------------------------------
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = 'sanse.device_rule'::regclass AND tgname = 'device_rule_upsert') THEN
		CREATE TRIGGER device_rule_upsert BEFORE INSERT ON sanse.device_rule
			FOR EACH ROW EXECUTE FUNCTION sanse.device_rule_upsert();
		ALTER TABLE sanse.device_rule ENABLE ALWAYS TRIGGER device_rule_upsert;
	END IF;
	-- the write path's caches (device_cache.c): the rules, and the device
	-- columns they hold (not the last times the write path itself writes)
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = 'sanse.device'::regclass AND tgname = 'device_cache') THEN
		CREATE TRIGGER device_rule_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sanse.device_rule
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.cache_invalidate();
		ALTER TABLE sanse.device_rule ENABLE ALWAYS TRIGGER device_rule_cache;
		CREATE TRIGGER device_cache AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF kind, active ON sanse.device
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.cache_invalidate();
		ALTER TABLE sanse.device ENABLE ALWAYS TRIGGER device_cache;
		CREATE TRIGGER device_area BEFORE INSERT OR UPDATE OF resident_id, area_id ON sanse.device
			FOR EACH ROW EXECUTE FUNCTION sanse.device_area();
		CREATE TRIGGER resident_devices_follow AFTER UPDATE OF area_id ON sanse.resident
			FOR EACH ROW WHEN (OLD.area_id IS DISTINCT FROM NEW.area_id)
			EXECUTE FUNCTION sanse.resident_devices_follow();
	END IF;
	-- the write path of readings (reading.c); reading_check is cloned onto
	-- every partition, reading_flush is put on each by reading_partition()
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = 'sanse.reading'::regclass AND tgname = 'reading_check') THEN
		CREATE TRIGGER reading_check BEFORE INSERT ON sanse.reading
			FOR EACH ROW EXECUTE FUNCTION sanse.reading_check();
		CREATE TRIGGER reading_flush AFTER INSERT ON sanse.reading
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.reading_flush();
	END IF;
END
$$;

-- Roles that held read or care before devices existed get what the
-- area_grant recipe now gives them (90_area_grant.sql): devices and their
-- readings in their areas, and for care the writing of devices.
DO $$
DECLARE
	g record;
BEGIN
	FOR g IN SELECT x.rolname, max(a.position) AS best
	           FROM sanse.area_grant ag JOIN pg_catalog.pg_roles x ON x.rolname = ag.role AND x.oid = ag.role_oid
	           JOIN sanse.grant_access a ON a.value = ag.access
	          GROUP BY x.rolname ORDER BY 1 LOOP
		IF g.best >= (SELECT a.position FROM sanse.grant_access a WHERE a.value = 'read') THEN
			EXECUTE format('GRANT SELECT ON sanse.device, sanse.device_reading TO %I', g.rolname);
		END IF;
		IF g.best >= (SELECT a.position FROM sanse.grant_access a WHERE a.value = 'care') THEN
			EXECUTE format('GRANT INSERT (kind, resident_id, area_id, report_every, active, installed_at), '
			               'UPDATE (kind, resident_id, area_id, report_every, active, installed_at) ON sanse.device TO %I', g.rolname);
		END IF;
	END LOOP;
END
$$;
