-----------------------------------------------------------------------------
-- Devices on the screen for the roles granted before 1.5
-----------------------------------------------------------------------------
-- Roles that held a grant before device_status existed read it too (the
-- area_grant recipe grants it from now on).
DO $$
DECLARE
	r name;
BEGIN
	FOR r IN SELECT DISTINCT g.role FROM sanse.area_grant g JOIN pg_catalog.pg_roles x ON x.rolname = g.role AND x.oid = g.role_oid
	          ORDER BY 1 LOOP
		EXECUTE format('GRANT SELECT ON sanse.device_status TO %I', r);
	END LOOP;
END
$$;
