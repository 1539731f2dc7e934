-----------------------------------------------------------------------------
-- Feed grants (spec 9): who loads and applies a department's feed, for which
-- areas' residents; a row of sanse.feed_grant (91_feed_tables.sql) is the
-- whole recipe.
-----------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION feed_grant_role() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.feed_grant'::regclass THEN
		RAISE EXCEPTION 'trigger function feed_grant_role() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.feed_grant.';
	END IF;
	IF NEW.role IS NULL THEN
		RETURN NEW;		-- the NOT NULL constraint refuses it (23502)
	END IF;
	NEW.role_oid := (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = NEW.role);
	IF NEW.role_oid IS NULL THEN
		IF pg_catalog.current_setting('session_replication_role') = 'replica' THEN
			NEW.role_oid := 0;
			RETURN NEW;
		END IF;
		RAISE EXCEPTION 'role "%" does not exist', NEW.role USING ERRCODE = '42704';
	END IF;
	RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION feed_grant_role() FROM PUBLIC;

-- The areas whose residents a role may feed for a department: the subtrees of
-- its feed grants (or of a role it may act as).  Fails closed like
-- granted_areas; superusers and the owner feed every area.
CREATE OR REPLACE FUNCTION feed_areas(p_department text, p_role name) RETURNS SETOF bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF p_role IS NULL OR p_department IS NULL
	   OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = p_role)
	   OR NOT pg_catalog.pg_has_role(session_user, p_role, 'MEMBER') THEN
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = p_role AND r.rolsuper)
	   OR p_role = (SELECT o.rolname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_roles o ON o.oid = e.extowner
	                 WHERE e.extname = 'sanse') THEN
		RETURN QUERY SELECT a.id FROM sanse.area a;
		RETURN;
	END IF;
	RETURN QUERY
	SELECT DISTINCT a.id
	  FROM sanse.feed_grant g
	  JOIN sanse.area a ON sanse.path_contains(g.path, a.path)
	 WHERE g.department = p_department
	   AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = g.role AND r.oid = g.role_oid)
	   AND pg_catalog.pg_has_role(p_role, g.role, 'USAGE');
END
$$;
REVOKE ALL ON FUNCTION feed_areas(text, name) FROM PUBLIC;
COMMENT ON FUNCTION feed_areas(text, name) IS 'ids of the areas whose residents a role may feed for a department (every area for superusers and the owner; none when it is not the session''s to ask)';

-- Whether a role may load the department's feed at all (any feed grant).
CREATE OR REPLACE FUNCTION may_load_feed(p_department text, p_role name) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT EXISTS (SELECT 1 FROM sanse.feed_areas(may_load_feed.p_department, may_load_feed.p_role));
END;
REVOKE ALL ON FUNCTION may_load_feed(text, name) FROM PUBLIC;
COMMENT ON FUNCTION may_load_feed(text, name) IS 'true when the role holds a feed grant for the department (or is a superuser or the owner)';

CREATE OR REPLACE FUNCTION feed_grant_privileges() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	r name;
	roles name[];
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.feed_grant'::regclass THEN
		RAISE EXCEPTION 'trigger function feed_grant_privileges() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.feed_grant.';
	END IF;
	LOCK TABLE sanse.grant_lock IN EXCLUSIVE MODE;	-- one grant change at a time (90_area_grant.sql)
	IF TG_OP = 'INSERT' THEN
		roles := ARRAY(SELECT DISTINCT n.role FROM new_rows n);
	ELSIF TG_OP = 'DELETE' THEN
		roles := ARRAY(SELECT DISTINCT o.role FROM old_rows o);
	ELSE
		roles := ARRAY(SELECT n.role FROM new_rows n UNION SELECT o.role FROM old_rows o);
	END IF;
	FOREACH r IN ARRAY roles LOOP
		CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles x WHERE x.rolname = r);
		IF EXISTS (SELECT 1 FROM sanse.feed_grant g
		            WHERE g.role = r AND g.role_oid = (SELECT x.oid FROM pg_catalog.pg_roles x WHERE x.rolname = r)) THEN
			EXECUTE format('GRANT INSERT ON sanse.feed_inbox TO %I', r);
			EXECUTE format('GRANT SELECT ON sanse.feed_outcome TO %I', r);
			EXECUTE format('GRANT EXECUTE ON FUNCTION sanse.apply_feed(text, text, text), sanse.may_load_feed(text, name) TO %I', r);
			-- its sessions load sanse's library (and log hook) as they start,
			-- before a first statement could carry a clear number to the log
			EXECUTE format('ALTER ROLE %I SET session_preload_libraries = %L', r, 'sanse');
		ELSE
			EXECUTE format('REVOKE ALL ON sanse.feed_inbox FROM %I', r);
			EXECUTE format('REVOKE ALL ON sanse.feed_outcome FROM %I', r);
			EXECUTE format('REVOKE ALL ON FUNCTION sanse.apply_feed(text, text, text), sanse.may_load_feed(text, name) FROM %I', r);
			EXECUTE format('ALTER ROLE %I RESET session_preload_libraries', r);
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION feed_grant_privileges() FROM PUBLIC;
