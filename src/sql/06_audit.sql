-----------------------------------------------------------------------------
-- The audit of sensitive acts (spec 8): append-only, one row per act — a
-- tier override, a rule or policy change, a token revocation, an ID-number
-- lookup, forgetting a resident — with who (the login and the role acting:
-- SET ROLE's, else the login) and why.
--
-- Tamper evidence: each row carries hash = sha256(the previous row's hash ||
-- the row's immutable part), written by the extension under a lock on the
-- one-row chain head, so rows join the chain in id order, one transaction at
-- a time.  The free text (purpose, detail) is outside the chain, sealed by an
-- HMAC under a random per-row key: forgetting a resident erases the text and
-- the key (the seal, in the chain, then tells nothing about the text), and
-- sanse.audit_verify() checks every text still there against its seal.
-----------------------------------------------------------------------------
CREATE TABLE audit_log (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	session_user_name name NOT NULL,
	current_user_name name NOT NULL,
	act text NOT NULL CONSTRAINT audit_log_act_known REFERENCES audit_act (value),
	resident_ids bigint[] NOT NULL DEFAULT '{}',
	purpose text CHECK (length(purpose) <= @SANSE_FREE_TEXT_MAX@),
	detail text,
	text_key bytea,
	text_seal bytea,
	prev_id bigint,
	hash bytea
);
CREATE INDEX audit_log_at ON audit_log (at);
-- forgetting finds the rows that name a resident
CREATE INDEX audit_log_resident_ids ON audit_log USING gin (resident_ids);
COMMENT ON COLUMN audit_log.text_key IS 'random key of the text''s seal; erased with the text';
COMMENT ON COLUMN audit_log.text_seal IS 'hmac-sha256(purpose and detail, text_key): in the chain, so a changed text is evident';
COMMENT ON COLUMN audit_log.prev_id IS 'the row before this one in the chain (NULL for the first)';
COMMENT ON COLUMN audit_log.hash IS 'sha256 of the previous row''s hash and this row''s act, who, when, residents and text seal; written by sanse';
REVOKE ALL ON audit_log FROM PUBLIC;
COMMENT ON TABLE audit_log IS 'append-only audit of sensitive acts: tier overrides, rule and policy changes, token revocations, ID-number lookups, forgotten residents';
SELECT pg_catalog.pg_extension_config_dump('audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('audit_log_id_seq', '');

-- Append-only even for the owner's sessions (and in replica mode).
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'audit_log_append_only', '{sanse.audit_log}');
	-- the one change allowed: forgetting erases the free text (and its key)
	-- of a row that names a forgotten resident; the act, who, when, the
	-- residents and the chain stay as they were
	IF TG_OP = 'UPDATE' AND NEW.purpose IS NULL AND NEW.detail IS NULL AND NEW.text_key IS NULL
	   AND (NEW.id, NEW.at, NEW.session_user_name, NEW.current_user_name, NEW.act, NEW.resident_ids,
	        NEW.text_seal, NEW.prev_id, NEW.hash)
	       IS NOT DISTINCT FROM
	       (OLD.id, OLD.at, OLD.session_user_name, OLD.current_user_name, OLD.act, OLD.resident_ids,
	        OLD.text_seal, OLD.prev_id, OLD.hash)
	   AND OLD.act <> 'forget_resident'
	   AND EXISTS (SELECT 1 FROM sanse.resident r WHERE r.id = ANY (OLD.resident_ids) AND r.forgotten_at IS NOT NULL) THEN
		RETURN NEW;
	END IF;
	RAISE EXCEPTION 'sanse.audit_log is append-only: % is refused', TG_OP
		USING ERRCODE = '42501', HINT = 'Audit rows are never changed or removed (forgetting a resident only erases their free text).';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;

-- The chain head: the last row appended and its hash.  No row until the
-- first append (so a restored head never meets one CREATE EXTENSION made).
CREATE TABLE audit_chain (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	last_id bigint NOT NULL,
	last_hash bytea NOT NULL
);
REVOKE ALL ON audit_chain FROM PUBLIC;
COMMENT ON TABLE audit_chain IS 'the head of the audit log''s hash chain: the last row appended and its hash';
SELECT pg_catalog.pg_extension_config_dump('audit_chain', '');

-- What a row's hash covers, in a text no session setting changes (the time
-- in microseconds since 1970; a record's text form quotes each field).
CREATE OR REPLACE FUNCTION audit_row_hash(prev_hash bytea, a audit_log) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT pg_catalog.sha256(coalesce(audit_row_hash.prev_hash, '\x'::bytea)
	       || pg_catalog.convert_to(ROW((audit_row_hash.a).id, (audit_row_hash.a).prev_id,
	                                    (EXTRACT(epoch FROM (audit_row_hash.a).at) * 1000000)::bigint,
	                                    (audit_row_hash.a).session_user_name::text, (audit_row_hash.a).current_user_name::text,
	                                    (audit_row_hash.a).act, (audit_row_hash.a).resident_ids::text,
	                                    pg_catalog.encode((audit_row_hash.a).text_seal, 'hex'))::text, 'UTF8'));
END;
-- The seal of a row's free text under its key.
CREATE OR REPLACE FUNCTION audit_text_seal(purpose text, detail text, key bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT hmac(pg_catalog.convert_to(ROW(audit_text_seal.purpose, audit_text_seal.detail)::text, 'UTF8'),
	            audit_text_seal.key, 'sha256');
END;

-- A fresh random key for a row's seal (pgcrypto, bound when created).
CREATE OR REPLACE FUNCTION audit_text_key() RETURNS bytea
LANGUAGE sql VOLATILE SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT gen_random_bytes(32);
END;

-- Appends join the chain: under the head's row lock (held to the end of the
-- transaction, so the next append sees this one committed), the row takes
-- the next id, its predecessor and its hash; whatever an INSERT said there
-- is replaced.  The predecessor is the head's row, or the last row this
-- transaction appended after it (the head is written once, at commit).
-- Waits for
-- the head at most lock_timeout 10 s (55P03).  A restore (replica mode)
-- loads rows as they were, hashes and all.
CREATE OR REPLACE FUNCTION audit_log_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse SET lock_timeout = '10s' AS $$
DECLARE
	head sanse.audit_chain;
	prev_id bigint;
	prev_hash bytea;
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'audit_log_chain', '{sanse.audit_log}');
	IF NEW.hash IS NOT NULL AND pg_catalog.current_setting('session_replication_role') = 'replica' THEN
		RETURN NEW;
	END IF;
	SELECT * INTO head FROM sanse.audit_chain c FOR UPDATE;
	IF NOT FOUND THEN
		INSERT INTO sanse.audit_chain (one, last_id, last_hash) VALUES (true, 0, '\x') ON CONFLICT DO NOTHING;
		SELECT * INTO head FROM sanse.audit_chain c FOR UPDATE;
	END IF;
	-- rows after the head are this transaction's own (any other appender
	-- wrote the head before it committed, and we hold the head's lock)
	-- (planned at each call, on the log's size now: a plan cached while the
	-- log was small would read it whole)
	EXECUTE 'SELECT a.id, a.hash FROM sanse.audit_log a WHERE a.id > $1 ORDER BY a.id DESC LIMIT 1'
	   INTO prev_id, prev_hash USING head.last_id;
	IF prev_id IS NULL THEN
		prev_id := nullif(head.last_id, 0);
		prev_hash := nullif(head.last_hash, '\x');
	END IF;
	NEW.id := pg_catalog.nextval('sanse.audit_log_id_seq');
	NEW.prev_id := prev_id;
	IF NEW.purpose IS NULL AND NEW.detail IS NULL THEN
		NEW.text_key := NULL;
		NEW.text_seal := NULL;
	ELSE
		NEW.text_key := sanse.audit_text_key();
		NEW.text_seal := sanse.audit_text_seal(NEW.purpose, NEW.detail, NEW.text_key);
	END IF;
	NEW.hash := sanse.audit_row_hash(prev_hash, NEW);
	RETURN NEW;
END
$$;
-- The head follows the transaction's last row, at commit (a deferred
-- constraint trigger: it fires for each row, and writes for the last only;
-- written for each row, the head would pile up versions no one can prune
-- before the commit, and each append would read them all).
CREATE OR REPLACE FUNCTION audit_log_chain_head() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	last_id bigint;
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'audit_log_chain_head', '{sanse.audit_log}');
	-- (planned at each call, as above)
	EXECUTE 'SELECT a.id FROM sanse.audit_log a ORDER BY a.id DESC LIMIT 1' INTO last_id;
	IF last_id = NEW.id THEN
		UPDATE sanse.audit_chain c SET last_id = NEW.id, last_hash = NEW.hash WHERE c.last_id < NEW.id;
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_chain;
CREATE CONSTRAINT TRIGGER audit_log_chain_head AFTER INSERT ON audit_log
	DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION audit_log_chain_head();
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_chain_head;

-- The first row that breaks the chain, NULL when it is whole: a row whose
-- hash does not follow from its predecessor's and its own content, whose
-- text does not match its seal, or whose text is gone though no later
-- forget_resident row (in the chain itself) names one of its residents; for
-- a row deleted, its id (named by the row after it, or by the head for the
-- last).
CREATE OR REPLACE FUNCTION audit_verify() RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	broken bigint;
	head sanse.audit_chain;
BEGIN
	SELECT CASE WHEN w.prev_id IS DISTINCT FROM w.before AND w.prev_id IS NOT NULL
	             AND (w.before IS NULL OR w.prev_id > w.before) THEN w.prev_id ELSE w.id END
	  INTO broken
	  FROM (SELECT a.id, a.prev_id, a.hash, a.text_key, a.text_seal, a.purpose, a.detail, a.act, a.resident_ids,
	               lag(a.id) OVER (ORDER BY a.id) AS before,
	               sanse.audit_row_hash(lag(a.hash) OVER (ORDER BY a.id), a) AS expected
	          FROM sanse.audit_log a) w
	 WHERE w.prev_id IS DISTINCT FROM w.before
	    OR w.hash IS DISTINCT FROM w.expected
	    OR (w.text_key IS NOT NULL
	        AND w.text_seal IS DISTINCT FROM sanse.audit_text_seal(w.purpose, w.detail, w.text_key))
	    OR (w.text_key IS NULL AND w.text_seal IS NULL AND (w.purpose IS NOT NULL OR w.detail IS NOT NULL))
	    OR (w.text_key IS NULL AND w.text_seal IS NOT NULL
	        AND (w.purpose IS NOT NULL OR w.detail IS NOT NULL OR w.act = 'forget_resident'
	             OR NOT EXISTS (SELECT 1 FROM sanse.audit_log f
	                             WHERE f.act = 'forget_resident' AND f.id > w.id AND f.resident_ids && w.resident_ids)))
	 ORDER BY w.id
	 LIMIT 1;
	IF broken IS NOT NULL THEN
		RETURN broken;
	END IF;
	-- the head names the last row committed: gone (rows at the end deleted)
	-- or changed, it breaks there (rows after it are this transaction's)
	SELECT * INTO head FROM sanse.audit_chain;
	IF nullif(head.last_id, 0) IS NOT NULL
	   AND NOT EXISTS (SELECT 1 FROM sanse.audit_log a WHERE a.id = head.last_id AND a.hash = head.last_hash) THEN
		RETURN head.last_id;
	END IF;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION audit_verify() FROM PUBLIC;
COMMENT ON FUNCTION audit_verify() IS 'the id of the first audit row that breaks the hash chain (deleted, changed, its text altered), NULL when the log is whole';
CREATE TRIGGER a_restore_guard BEFORE INSERT ON audit_log FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

-- Write an audit row.  Run as the owner (SECURITY DEFINER functions and
-- triggers call it), so current_user is the owner: the acting role is the
-- session's SET ROLE, else the login.
CREATE OR REPLACE FUNCTION audit(act text, resident_ids bigint[], purpose text, detail text DEFAULT NULL,
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
CREATE OR REPLACE FUNCTION audit_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'audit_change', ARRAY['sanse.classification_rule'::regclass, 'sanse.tier_policy'::regclass,
		'sanse.loop_policy'::regclass, 'sanse.area_grant'::regclass, 'sanse.feed_grant'::regclass,
		'sanse.device_rule'::regclass],
		'sanse''s rule and policy tables');
	-- an upsert's nested UPDATE is part of its INSERT: audited once, at the top
	IF pg_catalog.pg_trigger_depth() > 1 THEN
		RETURN NULL;
	END IF;
	PERFORM sanse.audit(CASE TG_TABLE_NAME WHEN 'classification_rule' THEN 'rule_change' WHEN 'device_rule' THEN 'rule_change'
	                                       WHEN 'area_grant' THEN 'grant_change' WHEN 'feed_grant' THEN 'grant_change'
	                                       ELSE 'policy_change' END,
	                    '{}', NULL, format('%s on %s', TG_OP, TG_TABLE_NAME));
	RETURN NULL;
END
$$;
-- TRUNCATE of the rules or the loop policies would bypass their row
-- triggers (built-in rules, re-derived clocks, the audit): refused.
CREATE OR REPLACE FUNCTION refuse_truncate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'refuse_truncate', ARRAY['sanse.classification_rule'::regclass, 'sanse.loop_policy'::regclass,
		'sanse.area_grant'::regclass],
		'sanse''s rule and policy tables');
	RAISE EXCEPTION 'sanse.% cannot be truncated', TG_TABLE_NAME
		USING ERRCODE = '23001', HINT = 'Delete the rows (built-in rules can only be switched off).';
END
$$;
REVOKE ALL ON FUNCTION audit_change(), audit_log_append_only(), refuse_truncate(), audit_log_chain(), audit_log_chain_head() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_row_hash(bytea, audit_log), audit_text_seal(text, text, bytea), audit_text_key() FROM PUBLIC;
