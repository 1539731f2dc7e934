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
END
$$;
