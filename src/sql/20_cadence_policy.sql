-----------------------------------------------------------------------------
-- Cadences and the next visit window (spec 3)
-----------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION window_after(anchor timestamptz, cadence text, tz text) RETURNS visit_window
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION window_after(timestamptz, text, text) IS
	'window in which the next visit after anchor is due, for a cadence computed in zone tz';

CREATE OR REPLACE FUNCTION cadence_is_valid(cadence text) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cadence_is_valid(text) IS
	'true for a cadence in the grammar; raises 22P02 otherwise';

CREATE OR REPLACE FUNCTION current_zone() RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION current_zone() IS 'the zone due dates are computed in (setting sanse.timezone)';

CREATE TABLE tier_policy (
	tier risk_tier PRIMARY KEY,
	cadence text NOT NULL CHECK (cadence_is_valid(cadence)),
	escalate_after interval NOT NULL CHECK (escalate_after > interval '0')
);
COMMENT ON TABLE tier_policy IS 'visit cadence and escalation delay of each risk tier';
GRANT SELECT ON tier_policy TO PUBLIC;	-- every writer of residents reads the cadences

INSERT INTO tier_policy (tier, cadence, escalate_after) VALUES
	('red', 'rolling 2 days', interval '4 hours'),
	('yellow', 'calendar week', interval '1 day'),
	('blue', 'calendar month', interval '3 days');

CREATE OR REPLACE FUNCTION tier_policy_upsert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'tier_policy_upsert', '{sanse.tier_policy}');
	UPDATE sanse.tier_policy
	   SET cadence = NEW.cadence, escalate_after = NEW.escalate_after
	 WHERE tier = NEW.tier;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER tier_policy_upsert BEFORE INSERT ON tier_policy
	FOR EACH ROW EXECUTE FUNCTION tier_policy_upsert();

CREATE OR REPLACE FUNCTION tier_policy_keep() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'tier_policy_keep', '{sanse.tier_policy}');
	IF TG_OP = 'TRUNCATE' OR TG_OP = 'DELETE' OR OLD.tier <> NEW.tier THEN
		RAISE EXCEPTION 'every risk tier must keep its policy'
			USING ERRCODE = '23001',
				  DETAIL = CASE WHEN TG_OP = 'TRUNCATE' THEN 'The policies cannot be truncated; update their cadences instead.'
				                ELSE format('The policy of tier %s cannot be removed; update its cadence instead.', OLD.tier) END;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER tier_policy_keep BEFORE DELETE OR UPDATE OF tier ON tier_policy
	FOR EACH ROW EXECUTE FUNCTION tier_policy_keep();

SELECT pg_catalog.pg_extension_config_dump('tier_policy', '');

CREATE OR REPLACE FUNCTION window_after(tier risk_tier, anchor timestamptz) RETURNS visit_window
	AS 'MODULE_PATHNAME', 'window_after_tier' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION window_after(risk_tier, timestamptz) IS
	'window in which the next visit after anchor is due for a tier, in zone sanse.timezone';

-- Policies are cached per backend; this tells every backend to reload.
CREATE OR REPLACE FUNCTION cache_invalidate() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
CREATE TRIGGER tier_policy_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tier_policy
	FOR EACH STATEMENT EXECUTE FUNCTION cache_invalidate();

CREATE TRIGGER tier_policy_keep_truncate BEFORE TRUNCATE ON tier_policy
	FOR EACH STATEMENT EXECUTE FUNCTION tier_policy_keep();

-- pg_restore in replica mode merges restored policies and drops cached ones
ALTER TABLE tier_policy ENABLE ALWAYS TRIGGER tier_policy_upsert;
ALTER TABLE tier_policy ENABLE ALWAYS TRIGGER tier_policy_cache;
CREATE TRIGGER a_restore_guard BEFORE INSERT ON tier_policy FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER tier_policy_audit AFTER INSERT OR UPDATE OR DELETE ON tier_policy
	FOR EACH STATEMENT EXECUTE FUNCTION audit_change();
REVOKE ALL ON FUNCTION tier_policy_upsert() FROM PUBLIC;
REVOKE ALL ON FUNCTION tier_policy_keep() FROM PUBLIC;
REVOKE ALL ON FUNCTION cache_invalidate() FROM PUBLIC;
