-----------------------------------------------------------------------------
-- The audit of sensitive acts (spec 8): append-only, one row per act — a
-- tier override, a rule or policy change, a token revocation, an ID-number
-- lookup, forgetting a resident — with who (the login and the role acting:
-- SET ROLE's, else the login) and why.
-----------------------------------------------------------------------------
CREATE TABLE audit_log (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	session_user_name name NOT NULL,
	current_user_name name NOT NULL,
	act text NOT NULL CHECK (act IN ('tier_override', 'rule_change', 'policy_change', 'grant_change',
	                                 'token_revocation', 'id_lookup', 'forget_resident', 'lock_timeout')),
	resident_ids bigint[] NOT NULL DEFAULT '{}',
	purpose text CHECK (length(purpose) <= 2000),
	detail text
);
CREATE INDEX audit_log_at ON audit_log (at);
REVOKE ALL ON audit_log FROM PUBLIC;
COMMENT ON TABLE audit_log IS 'append-only audit of sensitive acts: tier overrides, rule and policy changes, token revocations, ID-number lookups, forgotten residents';
SELECT pg_catalog.pg_extension_config_dump('audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('audit_log_id_seq', '');

-- Append-only even for the owner's sessions (and in replica mode).
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.audit_log'::regclass THEN
		RAISE EXCEPTION 'trigger function audit_log_append_only() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.audit_log.';
	END IF;
	RAISE EXCEPTION 'sanse.audit_log is append-only: % is refused', TG_OP
		USING ERRCODE = '42501', HINT = 'Audit rows are never changed or removed.';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;
CREATE TRIGGER a_restore_guard BEFORE INSERT ON audit_log FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

-- Write an audit row.  Run as the owner (SECURITY DEFINER functions and
-- triggers call it), so current_user is the owner: the acting role is the
-- session's SET ROLE, else the login.
CREATE FUNCTION audit(act text, resident_ids bigint[], purpose text, detail text DEFAULT NULL,
                      acting name DEFAULT NULL) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	INSERT INTO sanse.audit_log (session_user_name, current_user_name, act, resident_ids, purpose, detail)
	VALUES (session_user,
	        coalesce(audit.acting, nullif(pg_catalog.current_setting('role'), 'none')::name, session_user),
	        audit.act, coalesce(audit.resident_ids, '{}'), audit.purpose, audit.detail);
END;
REVOKE ALL ON FUNCTION audit(text, bigint[], text, text, name) FROM PUBLIC;

-- Rule and policy changes, one row per statement.
CREATE FUNCTION audit_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID NOT IN ('sanse.classification_rule'::regclass, 'sanse.tier_policy'::regclass,
	                    'sanse.loop_policy'::regclass, 'sanse.area_grant'::regclass) THEN
		RAISE EXCEPTION 'trigger function audit_change() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse''s rule and policy tables.';
	END IF;
	-- an upsert's nested UPDATE is part of its INSERT: audited once, at the top
	IF pg_catalog.pg_trigger_depth() > 1 THEN
		RETURN NULL;
	END IF;
	PERFORM sanse.audit(CASE TG_TABLE_NAME WHEN 'classification_rule' THEN 'rule_change'
	                                       WHEN 'area_grant' THEN 'grant_change' ELSE 'policy_change' END,
	                    '{}', NULL, format('%s on %s', TG_OP, TG_TABLE_NAME));
	RETURN NULL;
END
$$;
-- TRUNCATE of the rules or the loop policies would bypass their row
-- triggers (built-in rules, re-derived clocks, the audit): refused.
CREATE FUNCTION refuse_truncate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID NOT IN ('sanse.classification_rule'::regclass, 'sanse.loop_policy'::regclass,
	                    'sanse.area_grant'::regclass) THEN
		RAISE EXCEPTION 'trigger function refuse_truncate() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse''s rule and policy tables.';
	END IF;
	RAISE EXCEPTION 'sanse.% cannot be truncated', TG_TABLE_NAME
		USING ERRCODE = '23001', HINT = 'Delete the rows (built-in rules can only be switched off).';
END
$$;
REVOKE ALL ON FUNCTION audit_change(), audit_log_append_only(), refuse_truncate() FROM PUBLIC;
