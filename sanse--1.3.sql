-- sanse 1.3: three-colour household assistance (三色入户帮)
-- Generated from src/sql/*.sql by make; edit those files, not this one.
\echo Use "CREATE EXTENSION sanse" to load this file. \quit

-- src/sql/00_schema.sql
-- Every role may use the schema: check_in is for everyone (the door token is
-- the proof), and without USAGE a client gets 42501 "permission denied for
-- schema", which an app cannot tell from "this worker may not check in".
-- Tables stay protected by their own grants, and nothing that runs as the
-- owner is executable by PUBLIC except check_in (sql/security.sql lists them).
GRANT USAGE ON SCHEMA sanse TO PUBLIC;

-- src/sql/05_restore_guard.sql
-- Restore: sanse's rows come back only through pg_restore in replica mode
-- (PGOPTIONS='-c session_replication_role=replica'), which loads them as
-- they were without re-running sanse's triggers; only the triggers that
-- merge restored rows over the defaults CREATE EXTENSION made and drop
-- cached copies fire there (ENABLE ALWAYS, next to each table).
-----------------------------------------------------------------------------
-- A plain pg_restore would re-run sanse's triggers over restored rows
-- (history dated at the restore, override times overwritten, every missed
-- window tallied twice).  It is refused up front instead: sanse's rows come
-- back only with its triggers held back (replica mode, where this trigger
-- does not fire).  A dump's rows are recognised by what clients never send:
-- a COPY of a table that only sanse writes, or a COPY naming the identity
-- column.  (A plain-SQL dump made with --inserts is not recognised.)
-- Only the COPY's own table is judged: pg_restore's COPY of a table is the
-- top-level statement (trigger depth 1 here), while the rows sanse's
-- triggers write during a client's COPY of residents (their tier history,
-- audit rows) come from statements nested in a trigger (depth 2 and more)
-- under the same query text, and are not a restore.
-----------------------------------------------------------------------------
CREATE FUNCTION restore_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	q text := left(current_query(), 4000);
	cols text;
BEGIN
	IF TG_RELID NOT IN ('sanse.area'::regclass, 'sanse.worker'::regclass, 'sanse.classification_rule'::regclass,
	                    'sanse.installation_secret'::regclass, 'sanse.tier_policy'::regclass,
	                    'sanse.resident'::regclass, 'sanse.tier_history'::regclass, 'sanse.carer'::regclass,
	                    'sanse.door_token'::regclass, 'sanse.visit'::regclass, 'sanse.event'::regclass,
	                    'sanse.event_step'::regclass, 'sanse.worker_month'::regclass,
	                    'sanse.worker_month_pending'::regclass, 'sanse.visit_withdrawn'::regclass,
	                    'sanse.department'::regclass, 'sanse.loop_policy'::regclass, 'sanse.event_transition'::regclass,
	                    'sanse.audit_log'::regclass, 'sanse.area_grant'::regclass,
	                    'sanse.area_day'::regclass, 'sanse.area_day_recorded'::regclass) THEN
		RAISE EXCEPTION 'trigger function restore_guard() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse''s tables.';
	END IF;
	IF pg_trigger_depth() > 1 THEN
		RETURN NULL;   -- written by a trigger during the COPY of another table
	END IF;
	IF q ~* '^\s*copy\s' THEN
		cols := substring(q FROM '^\s*[Cc][Oo][Pp][Yy]\s+[^(\s]+\s*\(([^)]*)\)');
		-- clients bulk-load areas, workers, residents (without ids) and carers
		IF TG_TABLE_NAME = 'carer'
		   OR (TG_TABLE_NAME IN ('area', 'worker', 'resident') AND cols IS NOT NULL
		       AND cols !~* '(^|,)\s*"?id"?\s*(,|$)') THEN
			RETURN NULL;
		END IF;
	ELSE
		RETURN NULL;
	END IF;
	RAISE EXCEPTION 'rows of sanse.% look like a restore; sanse''s data must be restored with its triggers held back', TG_TABLE_NAME
		USING ERRCODE = '55000',
		      DETAIL = 'A plain restore would re-run sanse''s triggers over restored rows: tier history dated at the restore, override times overwritten, missed windows counted twice.',
		      HINT = 'Restore into a fresh database as a superuser with: PGOPTIONS=''-c session_replication_role=replica'' pg_restore -d <database> <dump>';
END
$$;
REVOKE ALL ON FUNCTION restore_guard() FROM PUBLIC;

-- src/sql/06_audit.sql
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
	act text NOT NULL CHECK (act IN ('tier_override', 'rule_change', 'policy_change', 'grant_change',
	                                 'token_revocation', 'id_lookup', 'forget_resident', 'lock_timeout')),
	resident_ids bigint[] NOT NULL DEFAULT '{}',
	purpose text CHECK (length(purpose) <= 2000),
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
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.audit_log'::regclass THEN
		RAISE EXCEPTION 'trigger function audit_log_append_only() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.audit_log.';
	END IF;
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
CREATE FUNCTION audit_row_hash(prev_hash bytea, a audit_log) RETURNS bytea
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
CREATE FUNCTION audit_text_seal(purpose text, detail text, key bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT hmac(pg_catalog.convert_to(ROW(audit_text_seal.purpose, audit_text_seal.detail)::text, 'UTF8'),
	            audit_text_seal.key, 'sha256');
END;

-- A fresh random key for a row's seal (pgcrypto, bound when created).
CREATE FUNCTION audit_text_key() RETURNS bytea
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
CREATE FUNCTION audit_log_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse SET lock_timeout = '10s' AS $$
DECLARE
	head sanse.audit_chain;
	prev_id bigint;
	prev_hash bytea;
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.audit_log'::regclass THEN
		RAISE EXCEPTION 'trigger function audit_log_chain() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.audit_log.';
	END IF;
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
CREATE FUNCTION audit_log_chain_head() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	last_id bigint;
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.audit_log'::regclass THEN
		RAISE EXCEPTION 'trigger function audit_log_chain_head() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.audit_log.';
	END IF;
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
CREATE FUNCTION audit_verify() RETURNS bigint
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
REVOKE ALL ON FUNCTION audit_change(), audit_log_append_only(), refuse_truncate(), audit_log_chain(), audit_log_chain_head() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_row_hash(bytea, audit_log), audit_text_seal(text, text, bytea), audit_text_key() FROM PUBLIC;

-- src/sql/10_risk_tier.sql
-----------------------------------------------------------------------------
-- risk_tier: 1 byte, codes 1 blue < 2 yellow < 3 red.  Comparison and hashing
-- reuse core's "char" functions, which compare the byte unsigned.
-----------------------------------------------------------------------------

CREATE TYPE risk_tier;
CREATE FUNCTION risk_tier_in(cstring) RETURNS risk_tier
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION risk_tier_out(risk_tier) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION risk_tier_recv(internal) RETURNS risk_tier
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION risk_tier_send(risk_tier) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE risk_tier (
	INPUT = risk_tier_in,
	OUTPUT = risk_tier_out,
	RECEIVE = risk_tier_recv,
	SEND = risk_tier_send,
	INTERNALLENGTH = 1,
	PASSEDBYVALUE,
	ALIGNMENT = char,
	STORAGE = plain
);
COMMENT ON TYPE risk_tier IS 'care risk tier: blue < yellow < red';

CREATE FUNCTION risk_tier_eq(risk_tier, risk_tier) RETURNS bool
	AS 'chareq' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION risk_tier_ne(risk_tier, risk_tier) RETURNS bool
	AS 'charne' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION risk_tier_lt(risk_tier, risk_tier) RETURNS bool
	AS 'charlt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION risk_tier_le(risk_tier, risk_tier) RETURNS bool
	AS 'charle' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION risk_tier_gt(risk_tier, risk_tier) RETURNS bool
	AS 'chargt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION risk_tier_ge(risk_tier, risk_tier) RETURNS bool
	AS 'charge' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION risk_tier_cmp(risk_tier, risk_tier) RETURNS int4
	AS 'btcharcmp' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION risk_tier_hash(risk_tier) RETURNS int4
	AS 'hashchar' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION risk_tier_hash_extended(risk_tier, int8) RETURNS int8
	AS 'hashcharextended' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION risk_tier_larger(risk_tier, risk_tier) RETURNS risk_tier
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION risk_tier_smaller(risk_tier, risk_tier) RETURNS risk_tier
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR = (
	LEFTARG = risk_tier, RIGHTARG = risk_tier, PROCEDURE = risk_tier_eq,
	COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel,
	HASHES, MERGES
);
CREATE OPERATOR <> (
	LEFTARG = risk_tier, RIGHTARG = risk_tier, PROCEDURE = risk_tier_ne,
	COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR < (
	LEFTARG = risk_tier, RIGHTARG = risk_tier, PROCEDURE = risk_tier_lt,
	COMMUTATOR = >, NEGATOR = >=, RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR <= (
	LEFTARG = risk_tier, RIGHTARG = risk_tier, PROCEDURE = risk_tier_le,
	COMMUTATOR = >=, NEGATOR = >, RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR > (
	LEFTARG = risk_tier, RIGHTARG = risk_tier, PROCEDURE = risk_tier_gt,
	COMMUTATOR = <, NEGATOR = <=, RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR >= (
	LEFTARG = risk_tier, RIGHTARG = risk_tier, PROCEDURE = risk_tier_ge,
	COMMUTATOR = <=, NEGATOR = <, RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS risk_tier_ops
	DEFAULT FOR TYPE risk_tier USING btree AS
		OPERATOR 1 <,
		OPERATOR 2 <=,
		OPERATOR 3 =,
		OPERATOR 4 >=,
		OPERATOR 5 >,
		FUNCTION 1 risk_tier_cmp(risk_tier, risk_tier);

CREATE OPERATOR CLASS risk_tier_hash_ops
	DEFAULT FOR TYPE risk_tier USING hash AS
		OPERATOR 1 =,
		FUNCTION 1 risk_tier_hash(risk_tier),
		FUNCTION 2 risk_tier_hash_extended(risk_tier, int8);

CREATE AGGREGATE max(risk_tier) (
	SFUNC = risk_tier_larger, STYPE = risk_tier, COMBINEFUNC = risk_tier_larger,
	SORTOP = >, PARALLEL = SAFE
);
CREATE AGGREGATE min(risk_tier) (
	SFUNC = risk_tier_smaller, STYPE = risk_tier, COMBINEFUNC = risk_tier_smaller,
	SORTOP = <, PARALLEL = SAFE
);
-- Clients bind tiers as text or varchar (JDBC setString): assignments take
-- them as they are.  No implicit cast back to text: comparisons must stay
-- severity-ordered (as text, 'red' < 'yellow').
CREATE CAST (text AS risk_tier) WITH INOUT AS ASSIGNMENT;
CREATE CAST (varchar AS risk_tier) WITH INOUT AS ASSIGNMENT;

COMMENT ON AGGREGATE max(risk_tier) IS 'most severe tier';
COMMENT ON AGGREGATE min(risk_tier) IS 'least severe tier';

-- src/sql/11_visit_window.sql
-----------------------------------------------------------------------------
-- visit_window: [opens, due), 16 bytes, ordered by due then opens.
-- Text I/O follows DateStyle and TimeZone, so it is STABLE like timestamptz's.
-----------------------------------------------------------------------------

CREATE TYPE visit_window;

CREATE FUNCTION visit_window_in(cstring) RETURNS visit_window
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION visit_window_out(visit_window) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION visit_window_recv(internal) RETURNS visit_window
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION visit_window_send(visit_window) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE visit_window (
	INPUT = visit_window_in,
	OUTPUT = visit_window_out,
	RECEIVE = visit_window_recv,
	SEND = visit_window_send,
	INTERNALLENGTH = 16,
	ALIGNMENT = double,
	STORAGE = plain
);
COMMENT ON TYPE visit_window IS 'half-open span [opens, due) in which a visit is due';

CREATE FUNCTION visit_window(opens timestamptz, due timestamptz) RETURNS visit_window
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION visit_window(timestamptz, timestamptz) IS 'window [opens, due)';
CREATE FUNCTION opens_at(visit_window) RETURNS timestamptz
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION opens_at(visit_window) IS 'first instant inside the window';
CREATE FUNCTION due_at(visit_window) RETURNS timestamptz
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION due_at(visit_window) IS 'due time: first instant after the window';
CREATE FUNCTION is_overdue(visit_window, timestamptz) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION is_overdue(visit_window, timestamptz) IS 'true when the time is at or after the due time';
CREATE FUNCTION lateness(visit_window, timestamptz) RETURNS interval
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION lateness(visit_window, timestamptz) IS 'time past the due time, zero when not overdue';

CREATE FUNCTION visit_window_contains(visit_window, timestamptz) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION visit_window_contained(timestamptz, visit_window) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION visit_window_overlaps(visit_window, visit_window) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION visit_window_eq(visit_window, visit_window) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION visit_window_ne(visit_window, visit_window) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION visit_window_lt(visit_window, visit_window) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION visit_window_le(visit_window, visit_window) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION visit_window_gt(visit_window, visit_window) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION visit_window_ge(visit_window, visit_window) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION visit_window_cmp(visit_window, visit_window) RETURNS int4
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION visit_window_sortsupport(internal) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION visit_window_hash(visit_window) RETURNS int4
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION visit_window_hash_extended(visit_window, int8) RETURNS int8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR @> (
	LEFTARG = visit_window, RIGHTARG = timestamptz, PROCEDURE = visit_window_contains,
	COMMUTATOR = <@, RESTRICT = contsel, JOIN = contjoinsel
);
CREATE OPERATOR <@ (
	LEFTARG = timestamptz, RIGHTARG = visit_window, PROCEDURE = visit_window_contained,
	COMMUTATOR = @>, RESTRICT = contsel, JOIN = contjoinsel
);
CREATE OPERATOR && (
	LEFTARG = visit_window, RIGHTARG = visit_window, PROCEDURE = visit_window_overlaps,
	COMMUTATOR = &&, RESTRICT = areasel, JOIN = areajoinsel
);
CREATE OPERATOR = (
	LEFTARG = visit_window, RIGHTARG = visit_window, PROCEDURE = visit_window_eq,
	COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel,
	HASHES, MERGES
);
CREATE OPERATOR <> (
	LEFTARG = visit_window, RIGHTARG = visit_window, PROCEDURE = visit_window_ne,
	COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR < (
	LEFTARG = visit_window, RIGHTARG = visit_window, PROCEDURE = visit_window_lt,
	COMMUTATOR = >, NEGATOR = >=, RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR <= (
	LEFTARG = visit_window, RIGHTARG = visit_window, PROCEDURE = visit_window_le,
	COMMUTATOR = >=, NEGATOR = >, RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR > (
	LEFTARG = visit_window, RIGHTARG = visit_window, PROCEDURE = visit_window_gt,
	COMMUTATOR = <, NEGATOR = <=, RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR >= (
	LEFTARG = visit_window, RIGHTARG = visit_window, PROCEDURE = visit_window_ge,
	COMMUTATOR = <=, NEGATOR = <, RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS visit_window_ops
	DEFAULT FOR TYPE visit_window USING btree AS
		OPERATOR 1 <,
		OPERATOR 2 <=,
		OPERATOR 3 =,
		OPERATOR 4 >=,
		OPERATOR 5 >,
		FUNCTION 1 visit_window_cmp(visit_window, visit_window),
		FUNCTION 2 visit_window_sortsupport(internal);

CREATE OPERATOR CLASS visit_window_hash_ops
	DEFAULT FOR TYPE visit_window USING hash AS
		OPERATOR 1 =,
		FUNCTION 1 visit_window_hash(visit_window),
		FUNCTION 2 visit_window_hash_extended(visit_window, int8);

CREATE FUNCTION visit_window_larger(visit_window, visit_window) RETURNS visit_window
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION visit_window_smaller(visit_window, visit_window) RETURNS visit_window
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE max(visit_window) (
	SFUNC = visit_window_larger, STYPE = visit_window, COMBINEFUNC = visit_window_larger,
	SORTOP = >, PARALLEL = SAFE
);
CREATE AGGREGATE min(visit_window) (
	SFUNC = visit_window_smaller, STYPE = visit_window, COMBINEFUNC = visit_window_smaller,
	SORTOP = <, PARALLEL = SAFE
);
COMMENT ON AGGREGATE max(visit_window) IS 'latest-due window';
COMMENT ON AGGREGATE min(visit_window) IS 'earliest-due window';

-- src/sql/20_cadence_policy.sql
-----------------------------------------------------------------------------
-- Cadences and the next visit window (spec 3)
-----------------------------------------------------------------------------

CREATE FUNCTION window_after(anchor timestamptz, cadence text, tz text) RETURNS visit_window
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION window_after(timestamptz, text, text) IS
	'window in which the next visit after anchor is due, for a cadence computed in zone tz';

CREATE FUNCTION cadence_is_valid(cadence text) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cadence_is_valid(text) IS
	'true for a cadence in the grammar; raises 22P02 otherwise';

CREATE FUNCTION current_zone() RETURNS text
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

CREATE FUNCTION tier_policy_upsert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.tier_policy'::regclass THEN
		RAISE EXCEPTION 'trigger function tier_policy_upsert() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.tier_policy.';
	END IF;
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

CREATE FUNCTION tier_policy_keep() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.tier_policy'::regclass THEN
		RAISE EXCEPTION 'trigger function tier_policy_keep() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.tier_policy.';
	END IF;
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

CREATE FUNCTION window_after(tier risk_tier, anchor timestamptz) RETURNS visit_window
	AS 'MODULE_PATHNAME', 'window_after_tier' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION window_after(risk_tier, timestamptz) IS
	'window in which the next visit after anchor is due for a tier, in zone sanse.timezone';

-- Policies are cached per backend; this tells every backend to reload.
CREATE FUNCTION cache_invalidate() RETURNS trigger
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

-- src/sql/30_grid.sql
-----------------------------------------------------------------------------
-- Grid hierarchy (微网实格) on ltree paths
-----------------------------------------------------------------------------

CREATE FUNCTION area_kind_level(kind text) RETURNS int
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN array_position(ARRAY['district', 'town', 'village', 'total_grid', 'general_grid', 'micro_grid'], kind);
COMMENT ON FUNCTION area_kind_level(text) IS 'depth of an area kind: district 1 ... micro_grid 6';

CREATE TABLE area (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	path ltree NOT NULL UNIQUE,
	kind text NOT NULL CHECK (area_kind_level(kind) IS NOT NULL),
	name text NOT NULL,
	UNIQUE (id, kind)
);
CREATE INDEX area_path_gist ON area USING gist (path);

-- Grants by area (spec 8): a role sees the rows of an area's subtree only
-- through a row here (for itself or a role it is a member of).  aggregate:
-- the screen views, small cells hidden; read: rows, without factors,
-- coordinates or ID hashes; care: all columns, and writes residents and
-- carers.  The root ('') is refused: it would grant everything.
CREATE TABLE area_grant (
	role name NOT NULL,
	path ltree NOT NULL CONSTRAINT area_grant_not_the_root CHECK (nlevel(path) > 0),
	access text NOT NULL CHECK (access IN ('aggregate', 'read', 'care')),
	role_oid oid NOT NULL,
	PRIMARY KEY (role, path, access)
);
COMMENT ON COLUMN area_grant.role_oid IS 'the role the row was granted to (set by sanse): a role dropped and created again under the same name does not inherit the row';

-- The row names a role that exists now; its OID is kept, so the grant dies
-- with the role even if the name comes back.
CREATE FUNCTION area_grant_role() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.area_grant'::regclass THEN
		RAISE EXCEPTION 'trigger function area_grant_role() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.area_grant.';
	END IF;
	IF NEW.role IS NULL THEN
		RETURN NEW;		-- the NOT NULL constraint refuses it (23502)
	END IF;
	NEW.role_oid := (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = NEW.role);
	IF NEW.role_oid IS NULL THEN
		-- a restore into a cluster without the role keeps the row, matching nobody
		IF pg_catalog.current_setting('session_replication_role') = 'replica' THEN
			NEW.role_oid := 0;
			RETURN NEW;
		END IF;
		RAISE EXCEPTION 'role "%" does not exist', NEW.role USING ERRCODE = '42704';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER area_grant_role BEFORE INSERT OR UPDATE ON area_grant
	FOR EACH ROW EXECUTE FUNCTION area_grant_role();
-- a restored row takes the OID its role has in this cluster
ALTER TABLE area_grant ENABLE ALWAYS TRIGGER area_grant_role;
REVOKE ALL ON FUNCTION area_grant_role() FROM PUBLIC;
REVOKE ALL ON area_grant FROM PUBLIC;
COMMENT ON TABLE area_grant IS 'grants by area: a role (or its members) sees the subtree of path with access aggregate, read or care';
SELECT pg_catalog.pg_extension_config_dump('area_grant', '');

-- The areas a role sees with at least an access: the subtrees granted to it
-- or to a role it is a member of.  Fails closed: an unknown or dropped role,
-- no grant, or a role the session may not act as sees nothing.  Superusers
-- and the extension owner see every area.  Row-level security and the
-- screen views call it with current_user; runs as the owner to read grants.
CREATE FUNCTION granted_areas(p_access text, p_role name) RETURNS SETOF bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF p_role IS NULL OR p_access IS NULL
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
	  FROM sanse.area_grant g
	  JOIN sanse.area a ON sanse.path_contains(g.path, a.path)
	 WHERE g.access = ANY (CASE p_access WHEN 'aggregate' THEN ARRAY['aggregate', 'read', 'care']
	                                     WHEN 'read' THEN ARRAY['read', 'care']
	                                     WHEN 'care' THEN ARRAY['care']
	                                     ELSE '{}'::text[] END)
	   AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = g.role AND r.oid = g.role_oid)
	   -- USAGE: the privileges of g.role are the role's own (inherited, or by SET ROLE)
	   AND pg_catalog.pg_has_role(p_role, g.role, 'USAGE');
END
$$;
COMMENT ON FUNCTION granted_areas(text, name) IS 'ids of the areas a role sees with at least this access (every area for superusers and the owner; none when it is not the session''s to ask)';

-- The areas the current user sees on the screen views, each with whether it
-- sees them exactly (read or care) or as aggregates only (small cells
-- hidden): what every screen view joins on.  Inlined into the views.
CREATE FUNCTION screen_areas() RETURNS TABLE (id bigint, exact boolean)
LANGUAGE sql STABLE
BEGIN ATOMIC
	SELECT g.id, g.id IN (SELECT sanse.granted_areas('read', current_user))
	  FROM sanse.granted_areas('aggregate', current_user) g(id);
END;
COMMENT ON FUNCTION screen_areas() IS 'the areas current_user sees on the screen views, and whether exactly (read or care) or as aggregates only';

-- The same question asked per row, as a probe of a per-backend expansion of
-- the grant rows (area_access.c), reloaded when area_grant, area or the roles
-- change: what row-level security asks of every row a role reads or writes.
-- Fails closed like granted_areas.  current_user is SET ROLE's role, or a
-- SECURITY DEFINER function's owner.
CREATE FUNCTION sees_area(area_id bigint, access text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sees_area' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sees_area(bigint, text) IS 'true when current_user sees the area with at least this access (aggregate, read or care); false for NULLs';

-- Whether the role acting in this session (SET ROLE's, else the login) sees
-- an area with at least an access: what sanse's SECURITY DEFINER functions,
-- which run as the owner, check before they touch a person's rows, so they
-- leak nothing across subtrees (a resident outside is "does not exist").
CREATE FUNCTION caller_sees(p_area bigint, p_access text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'caller_sees' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION caller_sees(bigint, text) IS 'true when the acting role of the session sees the area with at least this access';

-- A count as an aggregate-only role sees it: 1 to sanse.min_cell - 1 hidden.
-- In C: reading the threshold loads sanse's library, so sanse.min_cell is
-- the superuser-only setting, never a placeholder any role could have set
-- before the library was loaded in its session.
CREATE FUNCTION cell(n bigint, exact boolean) RETURNS bigint
	AS 'MODULE_PATHNAME', 'cell' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cell(bigint, boolean) IS 'a count, NULL when from 1 to sanse.min_cell - 1 and not exact (aggregate-only access)';

-- ltree's @> bound when the extension is created (ltree may live in any
-- schema), for C code that must not build SQL text around a schema name.
CREATE FUNCTION path_contains(ancestor ltree, descendant ltree) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ancestor @> descendant;
COMMENT ON FUNCTION path_contains(ltree, ltree) IS 'true when ancestor is descendant or one of its ancestors (ltree @>)';
COMMENT ON TABLE area IS 'grid hierarchy: district > town > village > total_grid > general_grid > micro_grid';

-- As the owner: its checks for child areas, residents and workers must see
-- every row, not what the caller's row-level security shows.
CREATE FUNCTION area_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	parent sanse.area;
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.area'::regclass THEN
		RAISE EXCEPTION 'trigger function area_check() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.area.';
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') AND (TG_OP = 'DELETE' OR OLD.path <> NEW.path) THEN
		IF EXISTS (SELECT 1 FROM sanse.area a WHERE a.path <@ OLD.path AND a.id <> OLD.id) THEN
			RAISE EXCEPTION 'area % still has child areas', OLD.path
				USING ERRCODE = '2BP01', HINT = 'Move or delete the child areas first.';
		END IF;
		IF EXISTS (SELECT 1 FROM sanse.resident r WHERE r.area_id = OLD.id) THEN
			RAISE EXCEPTION 'area % still has residents', OLD.path
				USING ERRCODE = '2BP01', HINT = 'Move the residents to another micro grid first.';
		END IF;
		IF EXISTS (SELECT 1 FROM sanse.worker w WHERE w.area_id = OLD.id) THEN
			RAISE EXCEPTION 'area % still has workers', OLD.path
				USING ERRCODE = '2BP01', HINT = 'Move the workers to another area first.';
		END IF;
	END IF;
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;
	END IF;

	IF nlevel(NEW.path) = 1 THEN
		IF NEW.kind <> 'district' THEN
			RAISE EXCEPTION 'a top-level area must be a district, not a %', NEW.kind
				USING ERRCODE = '23514';
		END IF;
		RETURN NEW;
	END IF;
	SELECT * INTO parent FROM sanse.area a WHERE a.path = subpath(NEW.path, 0, -1) FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'parent area % does not exist', subpath(NEW.path, 0, -1)
			USING ERRCODE = '23503';
	END IF;
	IF sanse.area_kind_level(NEW.kind) <> sanse.area_kind_level(parent.kind) + 1 THEN
		RAISE EXCEPTION 'a % cannot be a child of a %', NEW.kind, parent.kind
			USING ERRCODE = '23514',
				  HINT = 'The levels are district, town, village, total_grid, general_grid, micro_grid; a child is one level below its parent.';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER area_check BEFORE INSERT OR UPDATE OF path, kind OR DELETE ON area
	FOR EACH ROW EXECUTE FUNCTION area_check();
-- SQL bodies below are bound to ltree and pgcrypto when created; this
-- PL/pgSQL one finds ltree's functions through its search_path.
DO $$
BEGIN
	EXECUTE format('ALTER FUNCTION sanse.area_check() SET search_path = pg_catalog, %I, sanse',
	               (SELECT n.nspname FROM pg_catalog.pg_extension e
	                  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
	                 WHERE e.extname = 'ltree'));
END
$$;

-----------------------------------------------------------------------------
-- Workers of the five forces (五类力量) and leaders
-----------------------------------------------------------------------------

-- The five forces (五类力量), and the worker roles: member, then the leader
-- of escalation level 1 to 4 (worker_roles()[level + 1]).
CREATE FUNCTION forces() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['department_staff', 'community_cadre', 'grid_officer', 'service_professional', 'volunteer'];
COMMENT ON FUNCTION forces() IS 'the five forces of the five-for-one, in order';
CREATE FUNCTION worker_roles() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['member', 'micro_grid_leader', 'general_grid_leader', 'total_grid_leader', 'task_force'];
COMMENT ON FUNCTION worker_roles() IS 'member, then the leader of escalation level 1 to 4';

-- Departments that the grid whistles for (网格吹哨); department staff carry
-- worker.department.
CREATE TABLE department (
	code text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]*$'),
	name text NOT NULL
);
COMMENT ON TABLE department IS 'departments the grid can whistle for (网格吹哨): code and name';
SELECT pg_catalog.pg_extension_config_dump('department', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON department FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

CREATE TABLE worker (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name text NOT NULL,
	force text NOT NULL CONSTRAINT worker_force_check CHECK (force = ANY (forces())),
	role text NOT NULL DEFAULT 'member' CONSTRAINT worker_role_check CHECK (role = ANY (worker_roles())),
	area_id bigint NOT NULL REFERENCES area (id),
	db_role name,
	active boolean NOT NULL DEFAULT true,
	-- the kind of area a leader's role requires; NULL for members (not checked)
	led_area_kind text GENERATED ALWAYS AS (
		CASE role WHEN 'micro_grid_leader' THEN 'micro_grid'
		          WHEN 'general_grid_leader' THEN 'general_grid'
		          WHEN 'total_grid_leader' THEN 'total_grid'
		          WHEN 'task_force' THEN 'district' END) STORED,
	department text REFERENCES department (code),
	UNIQUE (id, force),
	CONSTRAINT worker_leads_area_of_its_kind FOREIGN KEY (area_id, led_area_kind) REFERENCES area (id, kind)
);
CREATE INDEX worker_area ON worker (area_id);
COMMENT ON TABLE worker IS 'grid workers of the five forces; leaders lead the area of their role''s kind';
SELECT pg_catalog.pg_extension_config_dump('area', '');
SELECT pg_catalog.pg_extension_config_dump('area_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('worker', '');
SELECT pg_catalog.pg_extension_config_dump('worker_id_seq', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON area FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON worker FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
REVOKE ALL ON FUNCTION area_check() FROM PUBLIC;
-- sees_area's expansion of the grants follows the areas and the grant rows
CREATE TRIGGER area_access_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON area
	FOR EACH STATEMENT EXECUTE FUNCTION cache_invalidate();
CREATE TRIGGER area_access_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON area_grant
	FOR EACH STATEMENT EXECUTE FUNCTION cache_invalidate();
ALTER TABLE area ENABLE ALWAYS TRIGGER area_access_cache;
ALTER TABLE area_grant ENABLE ALWAYS TRIGGER area_access_cache;

-- src/sql/35_classification.sql
-----------------------------------------------------------------------------
-- Classification rules (风险分级)
-----------------------------------------------------------------------------

CREATE FUNCTION factor_names() RETURNS text[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION factor_names() IS 'the pinned risk factor names';
CREATE FUNCTION factors_are_valid(factors text[]) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION factors_are_valid(text[]) IS 'true for known factors; raises 22023 naming an unknown one';

CREATE TABLE classification_rule (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tier risk_tier NOT NULL,
	all_of text[] NOT NULL CHECK (cardinality(all_of) > 0 AND factors_are_valid(all_of)),
	enabled boolean NOT NULL DEFAULT true,
	builtin boolean NOT NULL DEFAULT false,
	note text,
	CONSTRAINT classification_rule_note_length CHECK (length(note) <= 2000)
);
COMMENT ON TABLE classification_rule IS 'a resident with all of these factors is at least this tier';
GRANT SELECT ON classification_rule TO PUBLIC;	-- every writer of residents reads the rules

INSERT INTO classification_rule (tier, all_of, builtin, note) VALUES
	('red', '{sudden_illness,no_caregiver}', true, 'sudden illness and no caregiver'),
	('red', '{accident_risk}', true, 'an accident may happen at any time'),
	('yellow', '{partial_care,unstable_chronic}', true, 'some care, unstable chronic disease'),
	('yellow', '{partial_care,mobility_impaired}', true, 'some care, limited mobility'),
	('blue', '{self_care_difficulty}', true, 'difficulty caring for oneself'),
	('blue', '{unstable_chronic}', true, 'unstable chronic disease'),
	('blue', '{mobility_impaired}', true, 'limited mobility');

CREATE FUNCTION classify(factors text[]) RETURNS risk_tier
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION classify(text[]) IS 'most severe tier among the enabled rules these factors satisfy; NULL if none';

CREATE FUNCTION classify_explain(factors text[])
RETURNS TABLE (rule_id bigint, tier risk_tier, all_of text[], note text, decisive boolean)
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT r.id, r.tier, r.all_of, r.note, r.tier = max(r.tier) OVER ()
	  FROM sanse.classification_rule r
	 WHERE sanse.factors_are_valid(classify_explain.factors)
	   AND r.enabled AND r.all_of <@ classify_explain.factors
	 ORDER BY r.tier DESC, r.id;
END;
COMMENT ON FUNCTION classify_explain(text[]) IS 'the enabled rules these factors satisfy; decisive marks those giving the tier';

CREATE FUNCTION classification_rule_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.classification_rule'::regclass THEN
		RAISE EXCEPTION 'trigger function classification_rule_guard() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.classification_rule.';
	END IF;
	IF TG_OP = 'INSERT' THEN
		IF NEW.builtin THEN
			UPDATE sanse.classification_rule r SET enabled = NEW.enabled, note = NEW.note
			 WHERE r.builtin AND r.tier = NEW.tier
			   AND r.all_of @> NEW.all_of AND r.all_of <@ NEW.all_of;
			IF NOT FOUND THEN
				RAISE EXCEPTION 'only the extension creates built-in rules'
					USING ERRCODE = '42501', HINT = 'Insert the rule with builtin = false.';
			END IF;
			RETURN NULL;
		END IF;
		RETURN NEW;
	END IF;
	IF OLD.builtin THEN
		IF TG_OP = 'DELETE' THEN
			RAISE EXCEPTION 'built-in rule % cannot be deleted', OLD.id
				USING ERRCODE = '23001', HINT = 'Set enabled = false to switch it off.';
		END IF;
		IF NEW.tier <> OLD.tier OR NOT (NEW.all_of @> OLD.all_of AND NEW.all_of <@ OLD.all_of)
		   OR NOT NEW.builtin THEN
			RAISE EXCEPTION 'built-in rule % cannot be edited', OLD.id
				USING ERRCODE = '23001', HINT = 'Switch it off (enabled = false) and add a rule of your own.';
		END IF;
	ELSIF TG_OP = 'UPDATE' AND NEW.builtin THEN
		RAISE EXCEPTION 'a rule cannot become built-in' USING ERRCODE = '42501';
	END IF;
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER classification_rule_guard BEFORE INSERT OR UPDATE OR DELETE ON classification_rule
	FOR EACH ROW EXECUTE FUNCTION classification_rule_guard();
CREATE TRIGGER classification_rule_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON classification_rule
	FOR EACH STATEMENT EXECUTE FUNCTION cache_invalidate();

SELECT pg_catalog.pg_extension_config_dump('classification_rule', '');
SELECT pg_catalog.pg_extension_config_dump('classification_rule_id_seq', '');
ALTER TABLE classification_rule ENABLE ALWAYS TRIGGER classification_rule_guard;
ALTER TABLE classification_rule ENABLE ALWAYS TRIGGER classification_rule_cache;
CREATE TRIGGER a_restore_guard BEFORE INSERT ON classification_rule FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER classification_rule_audit AFTER INSERT OR UPDATE OR DELETE ON classification_rule
	FOR EACH STATEMENT EXECUTE FUNCTION audit_change();
CREATE TRIGGER classification_rule_no_truncate BEFORE TRUNCATE ON classification_rule
	FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
REVOKE ALL ON FUNCTION classification_rule_guard() FROM PUBLIC;

-- src/sql/38_secret.sql
-----------------------------------------------------------------------------
-- The per-installation secret (keyed hashes of ID numbers; door tokens)
-----------------------------------------------------------------------------

CREATE TABLE installation_secret (
	id int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	secret bytea NOT NULL CHECK (length(secret) >= 32)
);
REVOKE ALL ON installation_secret FROM PUBLIC;
COMMENT ON TABLE installation_secret IS 'random key made at install time; readable only by the extension owner';
INSERT INTO installation_secret (secret) VALUES (gen_random_bytes(32));

CREATE FUNCTION installation_secret_replace() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.installation_secret'::regclass THEN
		RAISE EXCEPTION 'trigger function installation_secret_replace() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.installation_secret.';
	END IF;
	UPDATE sanse.installation_secret SET secret = NEW.secret WHERE id = NEW.id;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER installation_secret_replace BEFORE INSERT ON installation_secret
	FOR EACH ROW EXECUTE FUNCTION installation_secret_replace();

-- Keyed hash of a clear ID card number (blanks trimmed, letters upper-cased).
CREATE FUNCTION id_number_hash(id_number text) RETURNS bytea
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT hmac(convert_to(upper(btrim(id_number)), 'UTF8'), s.secret, 'sha256')
	  FROM sanse.installation_secret s;
END;
REVOKE ALL ON FUNCTION id_number_hash(text) FROM PUBLIC;
COMMENT ON FUNCTION id_number_hash(text) IS 'HMAC-SHA256 of a normalized ID card number under the installation secret';

CREATE TRIGGER installation_secret_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON installation_secret
	FOR EACH STATEMENT EXECUTE FUNCTION cache_invalidate();
SELECT pg_catalog.pg_extension_config_dump('installation_secret', '');
ALTER TABLE installation_secret ENABLE ALWAYS TRIGGER installation_secret_replace;
ALTER TABLE installation_secret ENABLE ALWAYS TRIGGER installation_secret_cache;
CREATE TRIGGER a_restore_guard BEFORE INSERT ON installation_secret FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
REVOKE ALL ON FUNCTION installation_secret_replace() FROM PUBLIC;

-- src/sql/40_resident.sql
-----------------------------------------------------------------------------
-- Residents under special care (特殊关爱人群)
-----------------------------------------------------------------------------

CREATE TABLE resident (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	area_id bigint NOT NULL,
	name text NOT NULL,
	factors text[] NOT NULL DEFAULT '{}',
	tier risk_tier,
	tier_override risk_tier,
	override_reason text,
	registered_at timestamptz NOT NULL DEFAULT now(),
	last_visit_at timestamptz,
	next_visit visit_window,
	active boolean NOT NULL DEFAULT true,
	lat float8 CHECK (lat BETWEEN -90 AND 90),
	lon float8 CHECK (lon BETWEEN -180 AND 180),
	computed_tier risk_tier,
	override_by name,
	override_at timestamptz,
	id_number text,
	id_number_hash bytea,
	written_by name,
	area_kind text NOT NULL GENERATED ALWAYS AS ('micro_grid') STORED,
	deactivated_at timestamptz,
	forgotten_at timestamptz,
	CONSTRAINT resident_lives_in_a_micro_grid FOREIGN KEY (area_id, area_kind) REFERENCES area (id, kind),
	CONSTRAINT resident_clear_id_number_never_stored CHECK (id_number IS NULL)
);
CREATE INDEX resident_area ON resident (area_id);
CREATE INDEX resident_forget_due ON resident (deactivated_at) WHERE NOT active AND forgotten_at IS NULL;
CREATE INDEX resident_factors ON resident USING gin (factors);
CREATE INDEX resident_id_number_hash ON resident (id_number_hash) WHERE id_number_hash IS NOT NULL;
COMMENT ON TABLE resident IS 'residents under special care; tier, computed_tier and next_visit are maintained by sanse';
COMMENT ON COLUMN resident.written_by IS 'the role that last wrote the row (maintained; the history names it)';
COMMENT ON COLUMN resident.id_number IS 'write a clear ID card number here; it is replaced by id_number_hash and never stored';

CREATE FUNCTION resident_hash_id_number() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_hash_id_number() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	IF NEW.id_number IS NOT NULL THEN
		IF btrim(NEW.id_number) = '' THEN
			NEW.id_number_hash := NULL;
		ELSE
			NEW.id_number_hash := sanse.id_number_hash(NEW.id_number);
		END IF;
		NEW.id_number := NULL;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER resident_10_hash_id_number BEFORE INSERT OR UPDATE OF id_number ON resident
	FOR EACH ROW EXECUTE FUNCTION resident_hash_id_number();

-- 20: tiers and the window invariant, in C
CREATE FUNCTION resident_maintain() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
CREATE TRIGGER resident_20_maintain BEFORE INSERT OR UPDATE ON resident
	FOR EACH ROW EXECUTE FUNCTION resident_maintain();

-- Matching records across departments is a sensitive act: it needs a
-- purpose, and it is audited with the residents it found.
CREATE FUNCTION find_resident_by_id_number(id_number text, purpose text) RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	found bigint[];
BEGIN
	IF purpose IS NULL OR btrim(purpose) = '' THEN
		RAISE EXCEPTION 'an ID-number lookup needs a purpose' USING ERRCODE = '22023',
			HINT = 'Say why the record is looked up; the lookup is audited with it.';
	END IF;
	IF id_number IS NULL THEN
		RAISE EXCEPTION 'the ID number must not be NULL' USING ERRCODE = '22004';
	END IF;
	-- only residents of the caller's subtrees (read access)
	found := ARRAY(SELECT r.id FROM sanse.resident r
	                WHERE r.id_number_hash = sanse.id_number_hash(id_number)
	                  AND sanse.caller_sees(r.area_id, 'read') ORDER BY r.id);
	PERFORM sanse.audit('id_lookup', found, purpose);
	RETURN QUERY SELECT unnest(found);
END
$$;
REVOKE ALL ON FUNCTION find_resident_by_id_number(text, text) FROM PUBLIC;
COMMENT ON FUNCTION find_resident_by_id_number(text, text) IS 'ids of residents registered with this clear ID card number; needs a purpose, audited';

-- Tier overrides are audited — set, changed, cleared, or their reason
-- rewritten alone (who and why is in the history too, for tier changes).
CREATE FUNCTION resident_audit_override() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_audit_override() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	IF TG_OP = 'INSERT' THEN
		PERFORM sanse.audit('tier_override', ARRAY[n.id], n.override_reason, 'set on registration', n.written_by)
		   FROM new_rows n WHERE n.tier_override IS NOT NULL;
	ELSE
		PERFORM sanse.audit('tier_override', ARRAY[NEW.id], NEW.override_reason,
		                    CASE WHEN OLD.tier_override IS NOT DISTINCT FROM NEW.tier_override
		                         THEN format('%s, reason changed', NEW.tier_override)
		                         ELSE format('%s -> %s', coalesce(OLD.tier_override::text, 'none'), coalesce(NEW.tier_override::text, 'none')) END,
		                    NEW.written_by);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER resident_audit_override_insert AFTER INSERT ON resident
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION resident_audit_override();
-- (forgetting a resident is audited as such)
CREATE TRIGGER resident_audit_override_update AFTER UPDATE ON resident
	FOR EACH ROW WHEN ((OLD.tier_override IS DISTINCT FROM NEW.tier_override
	                    OR (NEW.tier_override IS NOT NULL AND OLD.override_reason IS DISTINCT FROM NEW.override_reason))
	                   AND NEW.forgotten_at IS NULL)
	EXECUTE FUNCTION resident_audit_override();

-- When a resident left the programme, for deletion once the purpose ends.
CREATE FUNCTION resident_deactivated() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_deactivated() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	NEW.deactivated_at := CASE WHEN NEW.active THEN NULL ELSE now() END;
	RETURN NEW;
END
$$;
CREATE TRIGGER resident_30_deactivated_insert BEFORE INSERT ON resident
	FOR EACH ROW WHEN (NOT NEW.active) EXECUTE FUNCTION resident_deactivated();
CREATE TRIGGER resident_30_deactivated_update BEFORE UPDATE OF active ON resident
	FOR EACH ROW WHEN (OLD.active IS DISTINCT FROM NEW.active) EXECUTE FUNCTION resident_deactivated();

-- History of computed tier, override and effective tier
CREATE TABLE tier_history (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	resident_id bigint NOT NULL REFERENCES resident (id) ON DELETE CASCADE,
	changed_at timestamptz NOT NULL DEFAULT now(),
	changed_by name NOT NULL DEFAULT current_user,
	old_computed_tier risk_tier,
	new_computed_tier risk_tier,
	old_override risk_tier,
	new_override risk_tier,
	old_tier risk_tier,
	new_tier risk_tier,
	override_reason text
);
CREATE INDEX tier_history_resident ON tier_history (resident_id, changed_at);
COMMENT ON TABLE tier_history IS 'every change of a resident''s computed tier, override or effective tier';

CREATE FUNCTION resident_history_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_history_insert() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	INSERT INTO sanse.tier_history (resident_id, changed_by, new_computed_tier, new_override, new_tier, override_reason)
	SELECT n.id, n.written_by, n.computed_tier, n.tier_override, n.tier, n.override_reason
	  FROM new_rows n
	 WHERE n.computed_tier IS NOT NULL OR n.tier_override IS NOT NULL;
	RETURN NULL;
END
$$;

CREATE FUNCTION resident_history_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_history_update() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	INSERT INTO sanse.tier_history (resident_id, changed_by, old_computed_tier, new_computed_tier,
	                                old_override, new_override, old_tier, new_tier, override_reason)
	VALUES (NEW.id, NEW.written_by, OLD.computed_tier, NEW.computed_tier, OLD.tier_override, NEW.tier_override,
	        OLD.tier, NEW.tier, NEW.override_reason);
	RETURN NULL;
END
$$;
-- bulk loads log per statement; updates per row, and only when a tier moved
-- (so a check-in's last_visit_at update costs nothing here)
CREATE TRIGGER resident_history_insert AFTER INSERT ON resident
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION resident_history_insert();
CREATE TRIGGER resident_history_update AFTER UPDATE ON resident
	FOR EACH ROW
	WHEN (NEW.forgotten_at IS NULL	-- forgetting keeps the history as it was
	      AND (OLD.computed_tier IS DISTINCT FROM NEW.computed_tier
	      OR OLD.tier_override IS DISTINCT FROM NEW.tier_override
	      OR OLD.tier IS DISTINCT FROM NEW.tier))
	EXECUTE FUNCTION resident_history_update();

-- Rule edits re-classify the residents whose factors satisfy an old or new
-- rule (the GIN index finds them); the update lets the C trigger re-derive.
CREATE FUNCTION reclassify_residents_having(rule_factors text[]) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	UPDATE sanse.resident r SET factors = r.factors
	 WHERE r.factors @> reclassify_residents_having.rule_factors
	   AND r.computed_tier IS DISTINCT FROM sanse.classify(r.factors);
END;

CREATE FUNCTION classification_rule_reclassify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.classification_rule'::regclass THEN
		RAISE EXCEPTION 'trigger function classification_rule_reclassify() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.classification_rule.';
	END IF;
	LOCK TABLE sanse.resident IN SHARE ROW EXCLUSIVE MODE;
	-- each branch names only the transition tables its event has
	IF TG_OP = 'INSERT' THEN
		PERFORM sanse.reclassify_residents_having(f) FROM (SELECT DISTINCT n.all_of FROM new_rows n) s(f);
	ELSIF TG_OP = 'DELETE' THEN
		PERFORM sanse.reclassify_residents_having(f) FROM (SELECT DISTINCT o.all_of FROM old_rows o) s(f);
	ELSE
		PERFORM sanse.reclassify_residents_having(f)
		   FROM (SELECT n.all_of FROM new_rows n UNION SELECT o.all_of FROM old_rows o) s(f);
	END IF;
	RETURN NULL;
END
$$;
-- named to run after classification_rule_cache (triggers fire in name order)
CREATE TRIGGER classification_rule_reclassify_insert AFTER INSERT ON classification_rule
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION classification_rule_reclassify();
CREATE TRIGGER classification_rule_reclassify_update AFTER UPDATE ON classification_rule
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION classification_rule_reclassify();
CREATE TRIGGER classification_rule_reclassify_delete AFTER DELETE ON classification_rule
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION classification_rule_reclassify();

CREATE FUNCTION tier_policy_rederive() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.tier_policy'::regclass THEN
		RAISE EXCEPTION 'trigger function tier_policy_rederive() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.tier_policy.';
	END IF;
	LOCK TABLE sanse.resident IN SHARE ROW EXCLUSIVE MODE;
	UPDATE sanse.resident r SET active = r.active	-- any update re-derives next_visit
	  FROM new_rows n JOIN old_rows o USING (tier)
	 WHERE r.tier = n.tier AND r.active AND n.cadence IS DISTINCT FROM o.cadence;
	RETURN NULL;
END
$$;
CREATE TRIGGER tier_policy_rederive AFTER UPDATE ON tier_policy
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION tier_policy_rederive();

-- Columns only sanse writes (last_visit_at, id_number_hash and everything the
-- resident trigger derives): a client that is not a superuser gets 42501.
-- Fired first (triggers fire in name order), on what the client wrote.
CREATE FUNCTION resident_guard() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
CREATE TRIGGER resident_05_guard BEFORE INSERT OR UPDATE ON resident
	FOR EACH ROW EXECUTE FUNCTION resident_guard();
-- Index for the overdue sweep: residents by due time.  Not partial, so
-- ANALYZE keeps statistics on due times and the planner sees how few are due.
CREATE INDEX resident_due ON resident (due_at(next_visit));
-- The tier a resident had at a time, from its history (the registration
-- tier before the first change, the current tier without history).
CREATE FUNCTION tier_at(p_resident bigint, p_at timestamptz) RETURNS risk_tier
LANGUAGE sql STABLE SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT coalesce(
	         (SELECT h.new_tier FROM sanse.tier_history h
	           WHERE h.resident_id = tier_at.p_resident AND h.changed_at <= tier_at.p_at
	           ORDER BY h.changed_at DESC, h.id DESC LIMIT 1),
	         (SELECT h.new_tier FROM sanse.tier_history h
	           WHERE h.resident_id = tier_at.p_resident
	           ORDER BY h.changed_at, h.id LIMIT 1),
	         (SELECT r.tier FROM sanse.resident r WHERE r.id = tier_at.p_resident));
END;
SELECT pg_catalog.pg_extension_config_dump('resident', '');
SELECT pg_catalog.pg_extension_config_dump('resident_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tier_history', '');
SELECT pg_catalog.pg_extension_config_dump('tier_history_id_seq', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON resident FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON tier_history FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
REVOKE ALL ON FUNCTION resident_audit_override(), resident_deactivated() FROM PUBLIC;
REVOKE ALL ON FUNCTION resident_hash_id_number() FROM PUBLIC;
REVOKE ALL ON FUNCTION resident_maintain() FROM PUBLIC;
REVOKE ALL ON FUNCTION resident_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION resident_history_insert() FROM PUBLIC;
REVOKE ALL ON FUNCTION resident_history_update() FROM PUBLIC;
REVOKE ALL ON FUNCTION classification_rule_reclassify() FROM PUBLIC;
REVOKE ALL ON FUNCTION tier_policy_rederive() FROM PUBLIC;
REVOKE ALL ON FUNCTION tier_at(bigint, timestamptz) FROM PUBLIC;

-- src/sql/45_carer.sql
-----------------------------------------------------------------------------
-- Five-for-one (五包一): one carer of each force per resident
-----------------------------------------------------------------------------

CREATE TABLE carer (
	resident_id bigint NOT NULL REFERENCES resident (id) ON DELETE CASCADE,
	worker_id bigint NOT NULL,
	force text NOT NULL,
	PRIMARY KEY (resident_id, worker_id),
	CONSTRAINT carer_one_per_force UNIQUE (resident_id, force),
	FOREIGN KEY (worker_id, force) REFERENCES worker (id, force) ON UPDATE CASCADE
);
CREATE INDEX carer_worker ON carer (worker_id);
COMMENT ON TABLE carer IS 'five-for-one: the responsible worker of each force for a resident';

-- (runs as the owner: it locks the worker row, which a care role may read but not update)
CREATE FUNCTION carer_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	w sanse.worker;
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.carer'::regclass THEN
		RAISE EXCEPTION 'trigger function carer_check() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.carer.';
	END IF;
	SELECT * INTO w FROM sanse.worker WHERE id = NEW.worker_id FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'worker % does not exist', NEW.worker_id USING ERRCODE = '23503';
	END IF;
	IF NOT w.active THEN
		RAISE EXCEPTION 'worker % is not active', NEW.worker_id
			USING ERRCODE = '55000', HINT = 'Only active workers can be carers.';
	END IF;
	NEW.force := w.force;
	RETURN NEW;
END
$$;
CREATE TRIGGER carer_check BEFORE INSERT OR UPDATE OF worker_id, force ON carer
	FOR EACH ROW EXECUTE FUNCTION carer_check();

-- The resident's carers, in worker order: whom a missed window is charged to
-- and a met one credited to.
CREATE FUNCTION carers_of(resident_id bigint) RETURNS bigint[]
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
	SELECT ARRAY(SELECT c.worker_id FROM sanse.carer c WHERE c.resident_id = carers_of.resident_id ORDER BY c.worker_id);
END;
COMMENT ON FUNCTION carers_of(bigint) IS 'the resident''s carers (five-for-one), in worker id order';

CREATE VIEW carer_gaps AS
SELECT r.id AS resident_id, r.area_id, r.tier::text AS tier,
       array_agg(f.force ORDER BY f.ord) AS missing_forces
  FROM resident r
 CROSS JOIN unnest(forces()) WITH ORDINALITY AS f(force, ord)
 WHERE r.active
   AND r.area_id IN (SELECT sanse.granted_areas('read', current_user))
   AND NOT EXISTS (SELECT 1 FROM carer c JOIN worker w ON w.id = c.worker_id
                    WHERE c.resident_id = r.id AND c.force = f.force AND w.active)
 GROUP BY r.id, r.area_id, r.tier;
COMMENT ON VIEW carer_gaps IS 'active residents whose five-for-one is incomplete, with the forces missing (inactive carers count as missing)';

SELECT pg_catalog.pg_extension_config_dump('carer', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON carer FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
REVOKE ALL ON FUNCTION carer_check() FROM PUBLIC;

-- src/sql/50_door_token.sql
-----------------------------------------------------------------------------
-- Door QR tokens (专属二维码)
-----------------------------------------------------------------------------

CREATE TABLE door_token (
	nonce bytea PRIMARY KEY CHECK (length(nonce) = 15),
	resident_id bigint NOT NULL REFERENCES resident (id) ON DELETE CASCADE,
	version int NOT NULL,
	issued_at timestamptz NOT NULL DEFAULT now(),
	revoked_at timestamptz,
	UNIQUE (resident_id, version)
);
CREATE UNIQUE INDEX door_token_current ON door_token (resident_id) WHERE revoked_at IS NULL;
REVOKE ALL ON door_token FROM PUBLIC;
COMMENT ON TABLE door_token IS 'door QR tokens: a random nonce per resident and version; the token text is derived with the installation secret';

CREATE FUNCTION door_token_nonce() RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
CREATE FUNCTION door_token_sign(nonce bytea) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT;
CREATE FUNCTION door_token_open(token text) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT;
REVOKE ALL ON FUNCTION door_token_nonce() FROM PUBLIC;
REVOKE ALL ON FUNCTION door_token_sign(bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION door_token_open(text) FROM PUBLIC;
-- For the closed loop's arrive: verify a token (28000 and the LOG line, as
-- check_in, for a missing, malformed or forged one) and refuse an unknown
-- or revoked one.
CREATE FUNCTION door_token_verify(token text, worker_id bigint, act text) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
CREATE FUNCTION door_token_refuse(worker_id bigint, why text, act text) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION door_token_verify(text, bigint, text), door_token_refuse(bigint, text, text) FROM PUBLIC;

CREATE FUNCTION door_token(resident_id bigint) RETURNS text
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_column
DECLARE
	current_nonce bytea;
BEGIN
	PERFORM 1 FROM sanse.resident r WHERE r.id = door_token.resident_id
	   AND sanse.caller_sees(r.area_id, 'read') FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'resident % does not exist', door_token.resident_id USING ERRCODE = '22023';
	END IF;
	IF EXISTS (SELECT 1 FROM sanse.resident r WHERE r.id = door_token.resident_id AND r.forgotten_at IS NOT NULL) THEN
		RAISE EXCEPTION 'resident % has been forgotten', door_token.resident_id
			USING ERRCODE = '55000', DETAIL = 'A forgotten resident gets no door token.';
	END IF;
	SELECT t.nonce INTO current_nonce FROM sanse.door_token t
	 WHERE t.resident_id = door_token.resident_id AND t.revoked_at IS NULL;
	IF NOT FOUND THEN
		INSERT INTO sanse.door_token (nonce, resident_id, version)
		SELECT sanse.door_token_nonce(), door_token.resident_id,
		       coalesce(max(t.version), 0) + 1
		  FROM sanse.door_token t WHERE t.resident_id = door_token.resident_id
		ON CONFLICT (resident_id) WHERE revoked_at IS NULL DO NOTHING;
		SELECT t.nonce INTO STRICT current_nonce FROM sanse.door_token t
		 WHERE t.resident_id = door_token.resident_id AND t.revoked_at IS NULL;
	END IF;
	RETURN sanse.door_token_sign(current_nonce);
END
$$;
REVOKE ALL ON FUNCTION door_token(bigint) FROM PUBLIC;
COMMENT ON FUNCTION door_token(bigint) IS 'the resident''s current door QR token (made on first call)';

CREATE FUNCTION revoke_door_token(resident_id bigint) RETURNS text
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM 1 FROM sanse.resident r WHERE r.id = revoke_door_token.resident_id
	   AND sanse.caller_sees(r.area_id, 'read') FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'resident % does not exist', revoke_door_token.resident_id USING ERRCODE = '22023';
	END IF;
	UPDATE sanse.door_token t SET revoked_at = now()
	 WHERE t.resident_id = revoke_door_token.resident_id AND t.revoked_at IS NULL;
	PERFORM sanse.audit('token_revocation', ARRAY[revoke_door_token.resident_id], NULL);
	RETURN sanse.door_token(revoke_door_token.resident_id);
END
$$;
REVOKE ALL ON FUNCTION revoke_door_token(bigint) FROM PUBLIC;
COMMENT ON FUNCTION revoke_door_token(bigint) IS 'kill the resident''s door token and return a new one';

SELECT pg_catalog.pg_extension_config_dump('door_token', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON door_token FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

-- src/sql/55_visit.sql
-----------------------------------------------------------------------------
-- Visits (入户走访) and check-in
-----------------------------------------------------------------------------

CREATE FUNCTION checklist_items() RETURNS text[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION checklist_items() IS 'knock three things: three asks, three checks, three clears';

CREATE TABLE visit (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	resident_id bigint NOT NULL REFERENCES resident (id),
	worker_id bigint NOT NULL REFERENCES worker (id),
	at timestamptz NOT NULL,
	checklist text[] NOT NULL DEFAULT '{}',
	flags text[] NOT NULL DEFAULT '{}',
	note text,
	area_id bigint NOT NULL,
	window_due timestamptz,
	recorded_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (resident_id, worker_id, at)
);
CREATE INDEX visit_worker_at ON visit (worker_id, at);
CREATE INDEX visit_area_at ON visit (area_id, at);
-- A window is met once: the visit that meets it moves the window on.
CREATE UNIQUE INDEX visit_window_met ON visit (resident_id, window_due) WHERE window_due IS NOT NULL;
COMMENT ON TABLE visit IS 'door check-ins, written only by sanse.check_in (which validates the checklist)';
COMMENT ON COLUMN visit.flags IS 'quick_succession, impossible_travel, repeat_visit, late';
COMMENT ON COLUMN visit.area_id IS 'the resident''s micro grid at the visit';
COMMENT ON COLUMN visit.window_due IS 'due time of the window this visit met on time (NULL: late, early or back-dated)';

CREATE INDEX visit_at ON visit (at);
SELECT pg_catalog.pg_extension_config_dump('visit', '');
SELECT pg_catalog.pg_extension_config_dump('visit_id_seq', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON visit FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

-- Visits withdrawn by a supervisor: kept with who, when and why.
CREATE TABLE visit_withdrawn (
	visit_id bigint PRIMARY KEY,
	resident_id bigint NOT NULL,
	worker_id bigint NOT NULL,
	at timestamptz NOT NULL,
	checklist text[] NOT NULL,
	flags text[] NOT NULL,
	note text,
	recorded_at timestamptz NOT NULL,
	reason text NOT NULL CHECK (btrim(reason) <> '' AND length(reason) <= 2000),
	withdrawn_by name NOT NULL DEFAULT session_user,
	withdrawn_as name NOT NULL DEFAULT current_user,
	withdrawn_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON visit_withdrawn FROM PUBLIC;
COMMENT ON TABLE visit_withdrawn IS 'visits withdrawn with sanse.withdraw_visit: the visit as it was, who withdrew it, when and why';
SELECT pg_catalog.pg_extension_config_dump('visit_withdrawn', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON visit_withdrawn FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

-- src/sql/60_events.sql
-----------------------------------------------------------------------------
-- Overdue events and the three-level backup (三级补位)
-----------------------------------------------------------------------------

-- Every kind of event climbs the same ladder.  Overdue events (section 5) are
-- open or closed; the closed loop's kinds (section 7) go through stages
-- called > arrived > handled > fed_back > closed, each stored with its time
-- and worker.
CREATE FUNCTION event_kinds() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['overdue', 'warning', 'finding', 'request', 'task'];
COMMENT ON FUNCTION event_kinds() IS 'event kinds: overdue (a missed visit), then the closed loop''s warning, finding, request, task';
CREATE FUNCTION event_scales() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['grid', 'department', 'task_force'];
COMMENT ON FUNCTION event_scales() IS 'event scales, starting at level 1, 3 and 4';

CREATE TABLE event (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	resident_id bigint REFERENCES resident (id),
	area_id bigint NOT NULL REFERENCES area (id),
	kind text NOT NULL DEFAULT 'overdue' CONSTRAINT event_kind_check CHECK (kind = ANY (event_kinds())),
	status text NOT NULL DEFAULT 'open'
		CONSTRAINT event_status_check CHECK (status IN ('open', 'closed', 'called', 'arrived', 'handled', 'fed_back')),
	tier risk_tier,
	level smallint NOT NULL DEFAULT 1 CHECK (level BETWEEN 1 AND 4),
	assignee_id bigint REFERENCES worker (id),
	due_at timestamptz NOT NULL,
	level_since timestamptz NOT NULL,
	next_step_at timestamptz,
	resolved_at timestamptz,
	visit_id bigint REFERENCES visit (id),
	closed_by bigint REFERENCES worker (id),
	created_at timestamptz NOT NULL DEFAULT now(),
	charged_to bigint[],
	scale text NOT NULL DEFAULT 'grid' CONSTRAINT event_scale_check CHECK (scale = ANY (event_scales())),
	parent_id bigint REFERENCES event (id),
	department text REFERENCES department (code),
	detail text CONSTRAINT event_detail_length CHECK (length(detail) <= 2000),
	raised_by bigint REFERENCES worker (id),
	called_at timestamptz,
	arrived_at timestamptz,
	arrived_by bigint REFERENCES worker (id),
	handled_at timestamptz,
	handled_by bigint REFERENCES worker (id),
	action text CONSTRAINT event_action_length CHECK (length(action) <= 2000),
	fed_back_at timestamptz,
	fed_back_by bigint REFERENCES worker (id),
	feedback text CONSTRAINT event_feedback_length CHECK (length(feedback) <= 2000),
	rating smallint,
	solved boolean,
	evaluated_by text,
	reopened int NOT NULL DEFAULT 0,
	first_called_at timestamptz,	-- the loop's retry key (62_loop.sql)
	anchor_at timestamptz,
	CHECK ((status = 'closed') = (resolved_at IS NOT NULL)),
	CONSTRAINT event_open_has_clock CHECK (status IN ('closed', 'handled', 'fed_back') OR level = 4 OR next_step_at IS NOT NULL),
	CONSTRAINT event_overdue_is_a_missed_window CHECK (kind <> 'overdue'
		OR (resident_id IS NOT NULL AND tier IS NOT NULL AND status IN ('open', 'closed'))),
	CONSTRAINT event_loop_stages CHECK (kind = 'overdue' OR (status <> 'open' AND called_at IS NOT NULL))
);
CREATE UNIQUE INDEX event_overdue_once ON event (resident_id, due_at) WHERE kind = 'overdue';
-- One missed period, one event: every window until the next visit is
-- derived from the same anchor (the last visit, or registration) — a tier
-- override, a change of the tier's cadence or of the classification moves its
-- due time, never the period missed.  An overdue event keeps its period's
-- anchor, and a period has one: the event of the first due time that passed.
CREATE UNIQUE INDEX event_overdue_period_once ON event (resident_id, anchor_at) WHERE kind = 'overdue';
CREATE INDEX event_open_next_step ON event (next_step_at) WHERE status <> 'closed';
CREATE INDEX event_area_due ON event (area_id, due_at);
CREATE INDEX event_parent ON event (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX event_assignee ON event (assignee_id);
CREATE INDEX event_called_at ON event (called_at) WHERE kind <> 'overdue';
COMMENT ON TABLE event IS 'events escalating micro grid > general grid > total grid > task force: overdue (one per missed window) and the closed loop''s warnings, findings, requests and tasks';
COMMENT ON COLUMN event.level_since IS 'logical time the current level was reached (derived from due_at and escalate_after)';
COMMENT ON COLUMN event.next_step_at IS 'logical time of the next escalation step while open';
COMMENT ON COLUMN event.anchor_at IS 'an overdue event''s missed period: the visit (or registration) its window was derived from; one event a period';
COMMENT ON COLUMN event.charged_to IS 'the resident''s carers when the window was missed: the workers whose check-in rate it counts against';

CREATE TABLE event_step (
	event_id bigint NOT NULL REFERENCES event (id) ON DELETE CASCADE,
	level smallint NOT NULL CHECK (level BETWEEN 1 AND 4),
	assignee_id bigint REFERENCES worker (id),
	at timestamptz NOT NULL,
	PRIMARY KEY (event_id, level, at)
);
COMMENT ON TABLE event_step IS 'every escalation step of an event: level, assignee and logical time';

CREATE FUNCTION zone_add(t timestamptz, i interval) RETURNS timestamptz
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION zone_add(timestamptz, interval) IS 't + i with calendar parts counted in zone sanse.timezone';

-- The leader responsible at an escalation level for a resident in micro grid area_id.
CREATE FUNCTION leader_for(area_id bigint, level int) RETURNS bigint
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT w.id
	  FROM sanse.area m, sanse.area a, sanse.worker w
	 WHERE m.id = leader_for.area_id
	   AND a.path = CASE leader_for.level WHEN 4 THEN subpath(m.path, 0, 1)
	                ELSE subpath(m.path, 0, nlevel(m.path) - leader_for.level + 1) END
	   AND w.area_id = a.id AND w.active
	   AND w.role = (sanse.worker_roles())[leader_for.level + 1]
	 ORDER BY w.id
	 LIMIT 1;
END;
COMMENT ON FUNCTION leader_for(bigint, int) IS 'lowest-id active leader of a micro grid''s level: 1 micro grid, 2 general grid, 3 total grid, 4 task force of the district';

-- The closed loop's clocks (spec 7): how long an event of a kind may stay
-- called (arrive_within) and arrived (handle_within) before it climbs a
-- level.  The row with tier NULL serves events without a resident and tiers
-- without a row of their own.
CREATE TABLE loop_policy (
	kind text NOT NULL CHECK (kind = ANY (event_kinds()) AND kind <> 'overdue'),
	tier risk_tier,
	arrive_within interval NOT NULL CHECK (arrive_within > interval '0'),
	handle_within interval NOT NULL CHECK (handle_within > interval '0'),
	CONSTRAINT loop_policy_once UNIQUE NULLS NOT DISTINCT (kind, tier)
);
COMMENT ON TABLE loop_policy IS 'closed-loop clocks per kind and tier (NULL: events without a resident, and the default): arrive within, handle within';
GRANT SELECT ON loop_policy TO PUBLIC;
INSERT INTO loop_policy (kind, tier, arrive_within, handle_within) VALUES
	('warning', NULL, '15 minutes', '2 hours'),
	('warning', 'red', '15 minutes', '2 hours'),
	('warning', 'yellow', '15 minutes', '2 hours'),
	('warning', 'blue', '15 minutes', '2 hours'),
	('request', NULL, '2 hours', '1 day'),
	('request', 'red', '30 minutes', '4 hours'),
	('finding', NULL, '1 day', '3 days'),
	('task', NULL, '1 day', '3 days');
SELECT pg_catalog.pg_extension_config_dump('loop_policy', '');

-- The interval between an event's escalation steps on its current clock:
-- an overdue event's tier's escalate_after; a loop event's arrive_within
-- while called, handle_within once arrived; none after handling.
CREATE FUNCTION step_interval(kind text, tier risk_tier, status text) RETURNS interval
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
BEGIN
	IF kind = 'overdue' THEN
		RETURN (SELECT p.escalate_after FROM sanse.tier_policy p WHERE p.tier = tier);
	ELSIF status = 'called' THEN
		RETURN (SELECT l.arrive_within FROM sanse.loop_policy l
		         WHERE l.kind = kind AND (l.tier = tier OR l.tier IS NULL)
		         ORDER BY l.tier IS NULL LIMIT 1);
	ELSIF status = 'arrived' THEN
		RETURN (SELECT l.handle_within FROM sanse.loop_policy l
		         WHERE l.kind = kind AND (l.tier = tier OR l.tier IS NULL)
		         ORDER BY l.tier IS NULL LIMIT 1);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION step_interval(text, risk_tier, text) IS 'interval between escalation steps on an event''s current clock (NULL: no clock)';

-- Apply every escalation step due by p_at (optionally for one resident, or
-- one event), each at its logical time; returns the number of steps.  Planned for each
-- call's values (force_custom_plan), so the one statement serves the sweep
-- (every open event) and a check-in (one resident's) alike: a generic plan
-- cannot drop the "p_resident IS NULL OR" branch.
CREATE FUNCTION escalate_events(p_at timestamptz, p_resident bigint DEFAULT NULL, p_event bigint DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET plan_cache_mode = force_custom_plan AS $$
DECLARE
	n int;
	total int := 0;
BEGIN
	LOOP
		WITH stepped AS (
			UPDATE sanse.event e
			   SET level = e.level + 1,
			       level_since = e.next_step_at,
			       assignee_id = sanse.leader_for(e.area_id, e.level + 1),
			       next_step_at = CASE WHEN e.level + 1 < 4
			                           THEN sanse.zone_add(e.next_step_at, sanse.step_interval(e.kind, e.tier, e.status)) END
			 WHERE e.status <> 'closed' AND e.next_step_at <= p_at	-- handled events have no clock
			   AND (p_resident IS NULL OR e.resident_id = p_resident)
			   AND (p_event IS NULL OR e.id = p_event)
			RETURNING e.id, e.level, e.assignee_id, e.level_since)
		INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
		SELECT id, level, assignee_id, level_since FROM stepped;
		GET DIAGNOSTICS n = ROW_COUNT;
		EXIT WHEN n = 0;
		total := total + n;
	END LOOP;
	RETURN total;
END
$$;

-- Open the overdue event of each (resident, due, tier whose window was
-- missed, anchor the window was derived from) at level 1 unless it exists, or
-- unless the period of that anchor has its event already (its window
-- re-derived since: event_overdue_period_once); the one place events are
-- created.  Events are charged to the carers of the moment they are opened.
CREATE FUNCTION open_overdue_events(p_residents bigint[], p_dues timestamptz[], p_tiers risk_tier[],
                                    p_anchors timestamptz[]) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
BEGIN
	WITH created AS (
		INSERT INTO sanse.event (resident_id, area_id, tier, level, assignee_id, due_at, level_since, next_step_at, charged_to, anchor_at)
		SELECT r.id, r.area_id, m.tier, 1, sanse.leader_for(r.area_id, 1), m.due, m.due,
		       sanse.zone_add(m.due, p.escalate_after), sanse.carers_of(r.id), m.anchor
		  FROM unnest(p_residents, p_dues, p_tiers, p_anchors) m(resident_id, due, tier, anchor)
		  JOIN sanse.resident r ON r.id = m.resident_id
		  JOIN sanse.tier_policy p ON p.tier = m.tier
		-- either unique index of overdue events: event_overdue_once (the
		-- window's) or event_overdue_period_once (the period's)
		ON CONFLICT DO NOTHING
		RETURNING id, assignee_id, level_since)
	INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
	SELECT id, 1, assignee_id, level_since FROM created;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

CREATE FUNCTION open_overdue_event(p_resident bigint, p_due timestamptz, p_tier risk_tier, p_anchor timestamptz) RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, sanse
RETURN sanse.open_overdue_events(ARRAY[p_resident], ARRAY[p_due], ARRAY[p_tier], ARRAY[p_anchor]);

CREATE FUNCTION resident_keep_missed_window() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_keep_missed_window() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	IF sanse.due_at(OLD.next_visit) <= now() THEN
		PERFORM sanse.open_overdue_event(OLD.id, sanse.due_at(OLD.next_visit), OLD.tier,
		                                 coalesce(OLD.last_visit_at, OLD.registered_at));
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER resident_keep_missed_window AFTER UPDATE ON resident
	FOR EACH ROW
	WHEN (OLD.next_visit IS NOT NULL AND OLD.next_visit IS DISTINCT FROM NEW.next_visit
	      AND OLD.last_visit_at IS NOT DISTINCT FROM NEW.last_visit_at)
	EXECUTE FUNCTION resident_keep_missed_window();

CREATE INDEX event_due_at ON event (due_at);
CREATE INDEX event_closed_at ON event (resolved_at) WHERE status = 'closed';
CREATE INDEX event_area_closed_at ON event (area_id, resolved_at) WHERE status = 'closed';
-- Replay one overdue event's escalation from its due time up to p_until and,
-- with a visit, close it there (the level its schedule had reached then).
CREATE FUNCTION replay_event(p_event bigint, p_until timestamptz, p_visit bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	e sanse.event;
	esc interval;
	visitor bigint;
BEGIN
	SELECT * INTO e FROM sanse.event WHERE id = p_event FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'event % does not exist', p_event USING ERRCODE = '22023';
	END IF;
	SELECT p.escalate_after INTO esc FROM sanse.tier_policy p WHERE p.tier = e.tier;
	DELETE FROM sanse.event_step s WHERE s.event_id = p_event AND s.level > 1;
	e.level := 1;
	e.level_since := e.due_at;
	e.assignee_id := (SELECT s.assignee_id FROM sanse.event_step s WHERE s.event_id = p_event AND s.level = 1);
	e.next_step_at := sanse.zone_add(e.due_at, esc);
	WHILE e.level < 4 AND e.next_step_at <= p_until LOOP
		e.level := e.level + 1;
		e.level_since := e.next_step_at;
		e.assignee_id := sanse.leader_for(e.area_id, e.level);
		INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
		VALUES (p_event, e.level, e.assignee_id, e.level_since);
		e.next_step_at := CASE WHEN e.level < 4 THEN sanse.zone_add(e.level_since, esc) END;
	END LOOP;
	IF p_visit IS NULL THEN
		UPDATE sanse.event
		   SET level = e.level, level_since = e.level_since, assignee_id = e.assignee_id,
		       next_step_at = CASE WHEN e.level < 4 THEN e.next_step_at END,
		       status = 'open', resolved_at = NULL, visit_id = NULL, closed_by = NULL
		 WHERE id = p_event;
	ELSE
		SELECT v.worker_id INTO visitor FROM sanse.visit v WHERE v.id = p_visit;
		UPDATE sanse.event
		   SET level = e.level, level_since = e.level_since, assignee_id = e.assignee_id,
		       next_step_at = NULL, status = 'closed', resolved_at = p_until, visit_id = p_visit,
		       closed_by = visitor
		 WHERE id = p_event;
	END IF;
END
$$;

SELECT pg_catalog.pg_extension_config_dump('event', '');
SELECT pg_catalog.pg_extension_config_dump('event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('event_step', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON event FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON event_step FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
REVOKE ALL ON FUNCTION resident_keep_missed_window() FROM PUBLIC;
REVOKE ALL ON FUNCTION replay_event(bigint, timestamptz, bigint) FROM PUBLIC;

-- src/sql/62_loop.sql
-----------------------------------------------------------------------------
-- The closed loop (闭环处置, spec 7): warnings, findings, requests and tasks
-- go call > arrive > handle > feed back > evaluate.  Each transition is a
-- function that runs as the owner (granted to the app, not to PUBLIC),
-- refuses a wrong stage (55000), a worker who may not act (42501), a time
-- ahead of the clock (22008) and unknown values (22023), and takes a retry
-- of the same transition (same worker, same time) as done.  The clocks are
-- the events' escalation steps: sanse.sweep climbs them at logical times.
-----------------------------------------------------------------------------

-- Inserting a (kind, tier) that has a policy replaces it, so pg_dump restores
-- edited policies over the defaults CREATE EXTENSION puts back.
CREATE FUNCTION loop_policy_upsert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.loop_policy'::regclass THEN
		RAISE EXCEPTION 'trigger function loop_policy_upsert() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.loop_policy.';
	END IF;
	UPDATE sanse.loop_policy l
	   SET arrive_within = NEW.arrive_within, handle_within = NEW.handle_within
	 WHERE l.kind = NEW.kind AND l.tier IS NOT DISTINCT FROM NEW.tier;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER loop_policy_upsert BEFORE INSERT ON loop_policy
	FOR EACH ROW EXECUTE FUNCTION loop_policy_upsert();
ALTER TABLE loop_policy ENABLE ALWAYS TRIGGER loop_policy_upsert;

-- A policy edit (a row changed, added or removed) re-derives the open clocks
-- of its kind: the next step counts the new interval from the last step
-- reached on the current clock (or from the clock's start); steps already
-- reached stay.
CREATE FUNCTION loop_policy_rederive() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.loop_policy'::regclass THEN
		RAISE EXCEPTION 'trigger function loop_policy_rederive() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.loop_policy.';
	END IF;
	-- each branch names only the transition tables its event has
	IF TG_OP = 'DELETE' THEN
		UPDATE sanse.event e
		   SET next_step_at = sanse.zone_add(greatest(e.level_since,
		                                              CASE e.status WHEN 'called' THEN e.called_at ELSE e.arrived_at END),
		                                     sanse.step_interval(e.kind, e.tier, e.status))
		 WHERE e.kind IN (SELECT o.kind FROM old_rows o) AND e.status IN ('called', 'arrived') AND e.level < 4;
	ELSE
		UPDATE sanse.event e
		   SET next_step_at = sanse.zone_add(greatest(e.level_since,
		                                              CASE e.status WHEN 'called' THEN e.called_at ELSE e.arrived_at END),
		                                     sanse.step_interval(e.kind, e.tier, e.status))
		 WHERE e.kind IN (SELECT n.kind FROM new_rows n) AND e.status IN ('called', 'arrived') AND e.level < 4;
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER loop_policy_rederive AFTER UPDATE ON loop_policy
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION loop_policy_rederive();
CREATE TRIGGER loop_policy_rederive_insert AFTER INSERT ON loop_policy
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION loop_policy_rederive();
CREATE TRIGGER loop_policy_rederive_delete AFTER DELETE ON loop_policy
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION loop_policy_rederive();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON loop_policy FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER loop_policy_audit AFTER INSERT OR UPDATE OR DELETE ON loop_policy
	FOR EACH STATEMENT EXECUTE FUNCTION audit_change();
CREATE TRIGGER loop_policy_no_truncate BEFORE TRUNCATE ON loop_policy
	FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
REVOKE ALL ON FUNCTION loop_policy_upsert(), loop_policy_rederive() FROM PUBLIC;

-- The role acting in the session (SET ROLE's, else the login), which a
-- SECURITY DEFINER function cannot read from current_user; and
-- sanse.max_backdate as check_in counts it.  Both read in C.
CREATE FUNCTION acting_role() RETURNS name
	AS 'MODULE_PATHNAME', 'acting_role' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION acting_role() IS 'the role acting in the session: SET ROLE''s, else the login';
CREATE FUNCTION max_backdate() RETURNS interval
	AS 'MODULE_PATHNAME', 'max_backdate' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION max_backdate() IS 'the setting sanse.max_backdate, as the interval check-ins and loop transitions are bounded by';

-- Every transition, as it happened: stage entered, logical time, worker,
-- and who did it: the role acting and the login (evaluate refuses them).
CREATE TABLE event_transition (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_id bigint NOT NULL REFERENCES event (id) ON DELETE CASCADE,
	stage text NOT NULL CHECK (stage IN ('called', 'arrived', 'handled', 'fed_back', 'whistled', 'evaluated', 'reopened', 'closed')),
	at timestamptz NOT NULL,
	worker_id bigint REFERENCES worker (id),
	note text CHECK (length(note) <= 2000),
	recorded_at timestamptz NOT NULL DEFAULT now(),
	acted_as name DEFAULT acting_role(),
	login name DEFAULT session_user
);
COMMENT ON COLUMN event_transition.acted_as IS 'the role acting in the session that made the transition (SET ROLE''s, else the login)';
COMMENT ON COLUMN event_transition.login IS 'the login (session_user) of the session that made the transition';
CREATE INDEX event_transition_event ON event_transition (event_id, at);
CREATE INDEX event_transition_handled ON event_transition (worker_id, at) WHERE stage = 'handled';
COMMENT ON TABLE event_transition IS 'every transition of a closed-loop event: the stage entered, its logical time, the worker and a note';
SELECT pg_catalog.pg_extension_config_dump('event_transition', '');
SELECT pg_catalog.pg_extension_config_dump('event_transition_id_seq', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON event_transition FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

-- The level an event of a scale starts at.
CREATE FUNCTION scale_level(scale text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (ARRAY[1, 3, 4]::smallint[])[array_position(sanse.event_scales(), scale)];


-- The original call of a loop event: called_at moves when evaluate reopens
-- it, this does not.  A retried call finds its event by it, and the database
-- enforces that one call makes one event (a retry that comes while the first
-- call's transaction is open waits for it and gets its event): same kind,
-- resident (or area, for a task), original time, author and detail.  A call
-- without a detail is matched by looking, not enforced (forgetting a
-- resident sets the details of its events to NULL, which never conflict).
COMMENT ON COLUMN event.first_called_at IS 'a loop event''s original call time (called_at moves on a reopen): with kind, resident or area, author and detail, the key a retried call finds its event by';
CREATE UNIQUE INDEX event_call_once ON event (kind, coalesce(resident_id, 0), (CASE WHEN resident_id IS NULL THEN area_id ELSE 0 END),
                                             first_called_at, coalesce(raised_by, 0), md5(detail))
	WHERE parent_id IS NULL AND first_called_at IS NOT NULL;

-- A loop transition's time (spec 7, 22008): given and finite, at most 5
-- minutes ahead of the server clock, at most sanse.max_backdate behind it
-- (as a check-in), and not before the stage it follows (since).
CREATE FUNCTION loop_time(at timestamptz, what text, since timestamptz DEFAULT NULL, since_what text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF at IS NULL OR NOT isfinite(at) THEN
		RAISE EXCEPTION '% cannot be dated %', what, coalesce(at::text, 'NULL') USING ERRCODE = '22008';
	ELSIF at > pg_catalog.clock_timestamp() + interval '5 minutes' THEN
		RAISE EXCEPTION '% cannot be dated ahead of the server clock', what
			USING ERRCODE = '22008', DETAIL = 'A closed-loop transition may be dated at most 5 minutes ahead of the server clock.';
	ELSIF at < pg_catalog.clock_timestamp() - sanse.max_backdate() THEN
		RAISE EXCEPTION '% cannot be dated further back than sanse.max_backdate', what
			USING ERRCODE = '22008',
			      DETAIL = format('A closed-loop transition may be dated at most sanse.max_backdate (%s) before the server clock.', justify_hours(sanse.max_backdate())),
			      HINT = 'A superuser replaying older history raises sanse.max_backdate.';
	ELSIF at < since THEN
		RAISE EXCEPTION '% cannot be dated before %', what, since_what USING ERRCODE = '22008';
	END IF;
END
$$;

-- May the calling role name this worker (spec 7)?  A worker bound to a
-- db_role only as that role (the role acting, or a member of it); an unbound
-- worker only inside the caller's care subtree.
CREATE FUNCTION acts_for(p_worker bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
BEGIN
	RETURN coalesce((SELECT CASE WHEN w.db_role IS NULL THEN sanse.caller_sees(w.area_id, 'care')
	                             WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = w.db_role) THEN false
	                             ELSE pg_catalog.pg_has_role(sanse.acting_role(), w.db_role, 'MEMBER') END
	                   FROM sanse.worker w WHERE w.id = p_worker), false);
END
$$;

-- May this worker act on this event, named by this caller?  The caller acts
-- for the worker (acts_for), and the worker is active and one who may check
-- in at the door of its resident (a carer, or a leader or task force whose
-- area contains it), a leader or task force whose area contains the event's
-- area, or staff of a department whistled for it.
-- (PL/pgSQL so its plan is kept for the session: a transition calls it once.)
CREATE FUNCTION may_act(p_event bigint, p_worker bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
BEGIN
	RETURN sanse.acts_for(p_worker) AND (SELECT coalesce(bool_or(
	         w.active
	         AND ((e.resident_id IS NOT NULL
	               AND EXISTS (SELECT 1 FROM sanse.carer c WHERE c.resident_id = e.resident_id AND c.worker_id = w.id))
	              OR (w.role <> 'member' AND sanse.path_contains(wa.path, ea.path))
	              OR (w.department IS NOT NULL
	                  AND (e.department = w.department
	                       OR EXISTS (SELECT 1 FROM sanse.event c WHERE c.parent_id = e.id AND c.department = w.department))))),
	         false)
	  FROM sanse.event e
	  JOIN sanse.area ea ON ea.id = e.area_id
	  JOIN sanse.worker w ON w.id = p_worker
	  JOIN sanse.area wa ON wa.id = w.area_id
	 WHERE e.id = p_event);
END
$$;

-- The event to move, locked.  Outside the calling role's care subtree it
-- does not exist (22023, the words of an id that names nothing, so nothing
-- tells an event elsewhere, its kind or its stage); a missed visit the caller
-- may see is refused (a visit closes those).  Its resident is locked first
-- (FOR SHARE, in the order forget_resident takes resident and events), so a
-- forgetting waits for the transition or the transition for the forgetting,
-- and a forgotten resident's event takes none (55000).
CREATE FUNCTION loop_event(p_event bigint) RETURNS event
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	e sanse.event;
	forgotten timestamptz;
BEGIN
	SELECT * INTO e FROM sanse.event x WHERE x.id = p_event AND sanse.caller_sees(x.area_id, 'care');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'event % does not exist', coalesce(p_event::text, 'NULL') USING ERRCODE = '22023';
	ELSIF e.kind = 'overdue' THEN
		RAISE EXCEPTION 'event % is an overdue event', p_event
			USING ERRCODE = '22023', HINT = 'A visit to the resident (sanse.check_in) closes it.';
	END IF;
	IF e.resident_id IS NOT NULL THEN
		SELECT r.forgotten_at INTO forgotten FROM sanse.resident r WHERE r.id = e.resident_id FOR SHARE;
	END IF;
	SELECT * INTO e FROM sanse.event x WHERE x.id = p_event FOR UPDATE;
	IF forgotten IS NOT NULL THEN
		RAISE EXCEPTION 'the resident of event % has been forgotten', p_event
			USING ERRCODE = '55000', DETAIL = 'Nothing more is written about a forgotten resident.';
	END IF;
	RETURN e;
END
$$;

CREATE FUNCTION loop_refuse_stage(e event, wanted text, act text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'event % is %, so it cannot be %', e.id, e.status, act
		USING ERRCODE = '55000', DETAIL = format('Only an event that is %s can be %s.', wanted, act);
END
$$;

CREATE FUNCTION loop_refuse_worker(e event, p_worker bigint, act text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'worker % may not % event % (%)', coalesce(p_worker::text, 'NULL'), act, e.id, e.status
		USING ERRCODE = '42501',
		      DETAIL = 'Only an active carer of its resident, a leader or task force whose area contains it, or staff of a department whistled for it may act on an event, named by its own bound role or, unbound, by a role with care over its area.';
END
$$;

-- Did the caller take part in the event's current round (spec 7)?  Whether
-- the role acting, or the login (which may SET ROLE to it: a pooled login),
-- is or is a member of a role that arrived at or handled it, or of the
-- bound db_role of the worker who did; for a resident's evaluation, of the
-- one who fed back too (who relays the resident's word).  The extension
-- owner and superusers, who can rewrite any row, are not asked.
CREATE FUNCTION loop_took_part(e event, by text) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
DECLARE
	acting name := sanse.acting_role();
BEGIN
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
	            WHERE r.rolname = acting
	              AND (r.rolsuper OR r.oid = (SELECT x.extowner FROM pg_catalog.pg_extension x WHERE x.extname = 'sanse'))) THEN
		RETURN false;
	END IF;
	RETURN EXISTS (
		SELECT 1
		  FROM (SELECT t.acted_as AS role FROM sanse.event_transition t
		         WHERE t.event_id = e.id AND (t.stage IN ('arrived', 'handled') OR (t.stage = 'fed_back' AND by = 'resident'))
		           AND t.id > coalesce((SELECT max(p.id) FROM sanse.event_transition p
		                                 WHERE p.event_id = e.id AND p.stage = 'reopened'), 0)
		        UNION
		        SELECT w.db_role FROM sanse.worker w
		         WHERE w.id IN (e.arrived_by, e.handled_by) OR (w.id = e.fed_back_by AND by = 'resident')) x
		  JOIN pg_catalog.pg_roles r ON r.rolname = x.role
		 WHERE pg_catalog.pg_has_role(acting, r.oid, 'MEMBER')
		    OR (NOT (SELECT s.rolsuper FROM pg_catalog.pg_roles s WHERE s.rolname = session_user)
		        AND pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')));
END
$$;

-- End the current clock at p_at: the steps due by then are reached, whether
-- or not a sweep took them; those dated after it never happened (an arrival
-- or handling synced late) and are removed.  The last step left is the
-- level reached at that time.
CREATE FUNCTION loop_end_clock(p_event bigint, p_since timestamptz, p_at timestamptz) RETURNS event_step
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	last sanse.event_step;
BEGIN
	PERFORM sanse.escalate_events(p_at, NULL, p_event);
	DELETE FROM sanse.event_step s WHERE s.event_id = p_event AND s.at > p_at AND s.at > p_since;
	SELECT * INTO last FROM sanse.event_step s WHERE s.event_id = p_event ORDER BY s.at DESC, s.level DESC LIMIT 1;
	RETURN last;
END
$$;

-- Create a loop event in stage called at its scale's level, with its first
-- step and its arrival clock; NULL when the same call made its event already
-- (event_call_once: a retry, which waited for the first call to commit).
CREATE FUNCTION call_event(p_kind text, p_resident bigint, p_area bigint, p_tier risk_tier, p_detail text,
                           p_scale text, p_at timestamptz, p_raised_by bigint, p_parent bigint, p_department text)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	lvl smallint := sanse.scale_level(p_scale);
	new_id bigint;
BEGIN
	INSERT INTO sanse.event (resident_id, area_id, kind, status, tier, level, assignee_id, due_at, level_since,
	                         next_step_at, scale, parent_id, department, detail, raised_by, called_at, first_called_at)
	VALUES (p_resident, p_area, p_kind, 'called', p_tier, lvl, sanse.leader_for(p_area, lvl), p_at, p_at,
	        CASE WHEN lvl < 4 THEN sanse.zone_add(p_at, sanse.step_interval(p_kind, p_tier, 'called')) END,
	        p_scale, p_parent, p_department, p_detail, p_raised_by, p_at, p_at)
	ON CONFLICT (kind, coalesce(resident_id, 0), (CASE WHEN resident_id IS NULL THEN area_id ELSE 0 END),
	             first_called_at, coalesce(raised_by, 0), md5(detail))
	   WHERE parent_id IS NULL AND first_called_at IS NOT NULL DO NOTHING
	RETURNING event.id INTO new_id;
	IF new_id IS NULL THEN
		RETURN NULL;
	END IF;
	INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
	SELECT e.id, lvl, e.assignee_id, p_at FROM sanse.event e WHERE e.id = new_id;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) VALUES (new_id, 'called', p_at, p_raised_by, p_detail);
	RETURN new_id;
END
$$;

-- The event a call made already (the key of event_call_once), or NULL.
CREATE FUNCTION loop_same_call(p_kind text, p_resident bigint, p_area bigint, p_at timestamptz, p_raised_by bigint, p_detail text)
RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
BEGIN
	RETURN (SELECT e.id FROM sanse.event e
	         WHERE e.kind = p_kind AND coalesce(e.resident_id, 0) = coalesce(p_resident, 0)
	           AND (CASE WHEN e.resident_id IS NULL THEN e.area_id ELSE 0 END) = (CASE WHEN p_resident IS NULL THEN p_area ELSE 0 END)
	           AND e.first_called_at = p_at AND coalesce(e.raised_by, 0) = coalesce(p_raised_by, 0)
	           AND md5(e.detail) IS NOT DISTINCT FROM md5(p_detail) AND e.parent_id IS NULL
	         ORDER BY e.id LIMIT 1);
END
$$;

-- A call's values, and its author (raised_by): a worker the caller acts for.
CREATE FUNCTION loop_check_call(kind text, scale text, detail text, raised_by bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF kind IS NULL OR kind = 'overdue' OR NOT kind = ANY (sanse.event_kinds()) THEN
		RAISE EXCEPTION 'unknown event kind "%"', coalesce(kind, 'NULL')
			USING ERRCODE = '22023', HINT = 'Kinds are warning, finding, request and task (overdue events come from missed visits).';
	END IF;
	IF scale IS NULL OR NOT scale = ANY (sanse.event_scales()) THEN
		RAISE EXCEPTION 'unknown event scale "%"', coalesce(scale, 'NULL')
			USING ERRCODE = '22023', HINT = 'Scales are grid (level 1), department (level 3) and task_force (level 4).';
	END IF;
	IF length(detail) > 2000 THEN
		RAISE EXCEPTION 'the detail is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	IF raised_by IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sanse.worker w WHERE w.id = raised_by) THEN
		RAISE EXCEPTION 'worker % does not exist', raised_by USING ERRCODE = '22023';
	ELSIF raised_by IS NOT NULL AND NOT sanse.acts_for(raised_by) THEN
		RAISE EXCEPTION 'worker % may not be named as raising an event by this role', raised_by
			USING ERRCODE = '42501', DETAIL = 'A worker bound to a db_role is named only by that role, an unbound worker only by a role with care over its area.';
	END IF;
END
$$;

CREATE FUNCTION raise_event(kind text, resident_id bigint, detail text, scale text DEFAULT 'grid',
                            at timestamptz DEFAULT now(), raised_by bigint DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	r sanse.resident;
	same bigint;
BEGIN
	PERFORM sanse.loop_time(at, 'an event');
	PERFORM sanse.loop_check_call(kind, scale, detail, raised_by);
	-- locked FOR SHARE: a forgetting waits for the event, or the event for it
	SELECT * INTO r FROM sanse.resident x WHERE x.id = resident_id AND sanse.caller_sees(x.area_id, 'care') FOR SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'resident % does not exist', coalesce(resident_id::text, 'NULL') USING ERRCODE = '22023';
	ELSIF r.forgotten_at IS NOT NULL THEN
		RAISE EXCEPTION 'resident % has been forgotten', resident_id
			USING ERRCODE = '55000', DETAIL = 'No event is raised about a forgotten resident.';
	END IF;
	-- a retry of the same call returns the same event
	same := coalesce(sanse.loop_same_call(kind, r.id, NULL, at, raised_by, detail),
	                 sanse.call_event(kind, r.id, r.area_id, r.tier, detail, scale, at, raised_by, NULL, NULL));
	RETURN coalesce(same, sanse.loop_same_call(kind, r.id, NULL, at, raised_by, detail));
END
$$;
REVOKE ALL ON FUNCTION raise_event(text, bigint, text, text, timestamptz, bigint) FROM PUBLIC;
COMMENT ON FUNCTION raise_event(text, bigint, text, text, timestamptz, bigint) IS 'raise a warning, finding, request or task about a resident; returns the event id (called, at its scale''s level)';

CREATE FUNCTION dispatch_task(area_id bigint, detail text, scale text DEFAULT 'grid',
                              at timestamptz DEFAULT now(), raised_by bigint DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	same bigint;
BEGIN
	PERFORM sanse.loop_time(at, 'a task');
	PERFORM sanse.loop_check_call('task', scale, detail, raised_by);
	IF NOT EXISTS (SELECT 1 FROM sanse.area a WHERE a.id = area_id AND sanse.caller_sees(a.id, 'care')) THEN
		RAISE EXCEPTION 'area % does not exist', coalesce(area_id::text, 'NULL') USING ERRCODE = '22023';
	END IF;
	same := coalesce(sanse.loop_same_call('task', NULL, area_id, at, raised_by, detail),
	                 sanse.call_event('task', NULL, area_id, NULL, detail, scale, at, raised_by, NULL, NULL));
	RETURN coalesce(same, sanse.loop_same_call('task', NULL, area_id, at, raised_by, detail));
END
$$;
REVOKE ALL ON FUNCTION dispatch_task(bigint, text, text, timestamptz, bigint) FROM PUBLIC;
COMMENT ON FUNCTION dispatch_task(bigint, text, text, timestamptz, bigint) IS 'dispatch a task about an area; returns the event id';

-- 报到: presence, proved by the door token for an event about a resident.
-- An arrival synced after a sweep escalated the event removes the steps
-- dated after it (spec 7) and says so in its transition's note.
CREATE FUNCTION arrive(event_id bigint, worker_id bigint, token text DEFAULT NULL, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
	nonce bytea;
	t record;
	last sanse.event_step;
	removed text;
BEGIN
	e := sanse.loop_event(event_id);
	IF e.resident_id IS NOT NULL THEN
		nonce := sanse.door_token_verify(token, worker_id, 'arrival');
		SELECT d.resident_id, d.revoked_at INTO t FROM sanse.door_token d WHERE d.nonce = nonce;
		IF NOT FOUND THEN
			PERFORM sanse.door_token_refuse(worker_id, 'unknown', 'arrival');
		ELSIF t.revoked_at IS NOT NULL THEN
			PERFORM sanse.door_token_refuse(worker_id, 'revoked', 'arrival');
		ELSIF t.resident_id <> e.resident_id THEN
			PERFORM sanse.door_token_refuse(worker_id, 'for another door', 'arrival');
		END IF;
	END IF;
	-- a retry (after the token: a retry proves presence as the first did)
	IF e.status <> 'called' AND e.arrived_by IS NOT DISTINCT FROM worker_id AND e.arrived_at = at THEN
		RETURN;
	END IF;
	IF e.status <> 'called' THEN
		PERFORM sanse.loop_refuse_stage(e, 'called', 'arrived at');
	END IF;
	PERFORM sanse.loop_time(at, 'an arrival', e.called_at, format('event %s was called', e.id));
	IF NOT sanse.may_act(e.id, worker_id) THEN
		PERFORM sanse.loop_refuse_worker(e, worker_id, 'arrive at');
	END IF;
	SELECT string_agg(format('L%s %s', s.level, s.at), ', ' ORDER BY s.at, s.level) INTO removed
	  FROM sanse.event_step s WHERE s.event_id = e.id AND s.at > at AND s.at > e.called_at;
	last := sanse.loop_end_clock(e.id, e.called_at, at);
	UPDATE sanse.event x
	   SET status = 'arrived', arrived_at = at, arrived_by = worker_id,
	       level = last.level, level_since = last.at, assignee_id = last.assignee_id,
	       next_step_at = CASE WHEN last.level < 4 THEN sanse.zone_add(at, sanse.step_interval(x.kind, x.tier, 'arrived')) END
	 WHERE x.id = e.id;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note)
	VALUES (e.id, 'arrived', at, worker_id,
	        CASE WHEN removed IS NOT NULL
	             THEN format('synced %s after its time; removed escalation steps a sweep had taken: %s', date_trunc('second', now() - at), removed) END);
END
$$;
REVOKE ALL ON FUNCTION arrive(bigint, bigint, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION arrive(bigint, bigint, text, timestamptz) IS 'report in (报到) at an event; the door token proves presence for an event about a resident';

-- 处置
CREATE FUNCTION handle_event(event_id bigint, worker_id bigint, action text, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
	last sanse.event_step;
BEGIN
	e := sanse.loop_event(event_id);
	IF e.handled_by IS NOT DISTINCT FROM worker_id AND e.handled_at = at THEN
		RETURN;		-- a retry
	END IF;
	IF e.status <> 'arrived' THEN
		PERFORM sanse.loop_refuse_stage(e, 'arrived', 'handled');
	END IF;
	IF length(action) > 2000 THEN
		RAISE EXCEPTION 'the action is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	PERFORM sanse.loop_time(at, 'a handling', e.arrived_at, format('the arrival at event %s', e.id));
	IF NOT sanse.may_act(e.id, worker_id) THEN
		PERFORM sanse.loop_refuse_worker(e, worker_id, 'handle');
	END IF;
	IF EXISTS (SELECT 1 FROM sanse.event c WHERE c.parent_id = e.id AND c.status IN ('called', 'arrived')) THEN
		RAISE EXCEPTION 'event % has whistled events not yet handled', e.id
			USING ERRCODE = '55000', HINT = 'Each department must handle its child event first.';
	END IF;
	last := sanse.loop_end_clock(e.id, e.arrived_at, at);
	UPDATE sanse.event x
	   SET status = 'handled', handled_at = at, handled_by = worker_id, action = handle_event.action, next_step_at = NULL,
	       level = last.level, level_since = last.at, assignee_id = last.assignee_id
	 WHERE x.id = e.id;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) VALUES (e.id, 'handled', at, worker_id, action);
END
$$;
REVOKE ALL ON FUNCTION handle_event(bigint, bigint, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION handle_event(bigint, bigint, text, timestamptz) IS 'handle (处置) an arrived event; refused while whistled child events are unhandled';

-- 网格吹哨: a child task for a department, with its own clocks.
CREATE FUNCTION whistle(event_id bigint, department text, worker_id bigint, at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
	same bigint;
BEGIN
	e := sanse.loop_event(event_id);
	IF department IS NULL OR NOT EXISTS (SELECT 1 FROM sanse.department d WHERE d.code = department) THEN
		RAISE EXCEPTION 'unknown department "%"', coalesce(department, 'NULL')
			USING ERRCODE = '22023', HINT = 'Departments are the rows of sanse.department.';
	END IF;
	SELECT c.id INTO same FROM sanse.event c
	 WHERE c.parent_id = e.id AND c.department = department AND c.first_called_at = at
	   AND c.raised_by IS NOT DISTINCT FROM worker_id
	 ORDER BY c.id LIMIT 1;
	IF FOUND THEN
		RETURN same;	-- a retry (the parent's lock orders them)
	END IF;
	IF e.status NOT IN ('called', 'arrived') THEN
		PERFORM sanse.loop_refuse_stage(e, 'called or arrived', 'whistled for');
	END IF;
	PERFORM sanse.loop_time(at, 'a whistle', e.called_at, format('event %s was called', e.id));
	IF NOT sanse.may_act(e.id, worker_id) THEN
		PERFORM sanse.loop_refuse_worker(e, worker_id, 'whistle for');
	END IF;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) VALUES (e.id, 'whistled', at, worker_id, department);
	RETURN sanse.call_event('task', e.resident_id, e.area_id, e.tier, 'whistled for ' || department, 'department',
	                        at, worker_id, e.id, department);
END
$$;
REVOKE ALL ON FUNCTION whistle(bigint, text, bigint, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION whistle(bigint, text, bigint, timestamptz) IS 'whistle (网格吹哨) for a department: a child task event at level 3 with its own clocks; returns its id';

-- 反馈
CREATE FUNCTION feed_back(event_id bigint, worker_id bigint, note text, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
BEGIN
	e := sanse.loop_event(event_id);
	IF e.fed_back_by IS NOT DISTINCT FROM worker_id AND e.fed_back_at = at THEN
		RETURN;		-- a retry
	END IF;
	IF e.status <> 'handled' THEN
		PERFORM sanse.loop_refuse_stage(e, 'handled', 'fed back');
	END IF;
	IF length(note) > 2000 THEN
		RAISE EXCEPTION 'the note is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	PERFORM sanse.loop_time(at, 'a feedback', e.handled_at, format('event %s was handled', e.id));
	IF NOT sanse.may_act(e.id, worker_id) THEN
		PERFORM sanse.loop_refuse_worker(e, worker_id, 'feed back on');
	END IF;
	UPDATE sanse.event x
	   SET status = 'fed_back', fed_back_at = at, fed_back_by = worker_id, feedback = feed_back.note
	 WHERE x.id = e.id;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) VALUES (e.id, 'fed_back', at, worker_id, note);
END
$$;
REVOKE ALL ON FUNCTION feed_back(bigint, bigint, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION feed_back(bigint, bigint, text, timestamptz) IS 'feed back (反馈) on a handled event';

-- 评价: by the resident or a supervisor, never by whoever took part in the
-- round (loop_took_part).  A rating of 2 or less, or not solved, reopens the
-- event one level up.  The rating is an integer so every driver's plain
-- integer parameter binds.
CREATE FUNCTION evaluate(event_id bigint, rating integer, solved boolean, by text, comment text DEFAULT NULL,
                         at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
	lvl smallint;
BEGIN
	e := sanse.loop_event(event_id);
	IF sanse.loop_took_part(e, by) THEN
		RAISE EXCEPTION 'whoever arrived at or handled event % may not evaluate it', e.id
			USING ERRCODE = '42501',
			      DETAIL = 'Neither the role that arrived or handled (for a resident''s evaluation, or fed back), nor a member of it, nor a login that may act as it, evaluates.';
	END IF;
	IF EXISTS (SELECT 1 FROM sanse.event_transition t
	            WHERE t.event_id = e.id AND t.stage IN ('closed', 'reopened') AND t.at = at
	              AND t.note IS NOT DISTINCT FROM format('%s by %s: %s', rating, by, coalesce(comment, ''))) THEN
		RETURN;		-- a retry
	END IF;
	IF e.status <> 'fed_back' THEN
		PERFORM sanse.loop_refuse_stage(e, 'fed_back', 'evaluated');
	END IF;
	IF rating IS NULL OR rating NOT BETWEEN 1 AND 5 THEN
		RAISE EXCEPTION 'rating % is not between 1 and 5', coalesce(rating::text, 'NULL') USING ERRCODE = '22023';
	END IF;
	IF solved IS NULL THEN
		RAISE EXCEPTION 'say whether the problem was solved' USING ERRCODE = '22023';
	END IF;
	IF by IS NULL OR by NOT IN ('resident', 'supervisor') THEN
		RAISE EXCEPTION 'an evaluation is by resident or supervisor, not "%"', coalesce(by, 'NULL') USING ERRCODE = '22023';
	END IF;
	IF length(comment) > 2000 THEN
		RAISE EXCEPTION 'the comment is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	PERFORM sanse.loop_time(at, 'an evaluation', e.fed_back_at, format('event %s was fed back', e.id));
	UPDATE sanse.event x SET rating = evaluate.rating, solved = evaluate.solved, evaluated_by = by WHERE x.id = e.id;
	IF rating <= 2 OR NOT solved THEN
		lvl := least(e.level + 1, 4);
		INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
		VALUES (e.id, lvl, sanse.leader_for(e.area_id, lvl), at)
		ON CONFLICT DO NOTHING;
		UPDATE sanse.event x
		   SET status = 'called', called_at = at, level = lvl, level_since = at, assignee_id = sanse.leader_for(x.area_id, lvl),
		       arrived_at = NULL, arrived_by = NULL, handled_at = NULL, handled_by = NULL, action = NULL,
		       fed_back_at = NULL, fed_back_by = NULL, feedback = NULL, reopened = x.reopened + 1,
		       next_step_at = CASE WHEN lvl < 4 THEN sanse.zone_add(at, sanse.step_interval(x.kind, x.tier, 'called')) END
		 WHERE x.id = e.id;
		INSERT INTO sanse.event_transition (event_id, stage, at, note)
		VALUES (e.id, 'reopened', at, format('%s by %s: %s', rating, by, coalesce(comment, '')));
	ELSE
		UPDATE sanse.event x SET status = 'closed', resolved_at = at, next_step_at = NULL WHERE x.id = e.id;
		INSERT INTO sanse.event_transition (event_id, stage, at, note)
		VALUES (e.id, 'closed', at, format('%s by %s: %s', rating, by, coalesce(comment, '')));
	END IF;
END
$$;
REVOKE ALL ON FUNCTION evaluate(bigint, integer, boolean, text, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION evaluate(bigint, integer, boolean, text, text, timestamptz) IS 'evaluate (评价) a fed-back event: rating 1-5, solved; 2 or less or unsolved reopens it one level up, otherwise it closes';

REVOKE ALL ON FUNCTION may_act(bigint, bigint), acts_for(bigint), loop_event(bigint), loop_refuse_stage(event, text, text),
	loop_refuse_worker(event, bigint, text), loop_took_part(event, text), loop_end_clock(bigint, timestamptz, timestamptz),
	call_event(text, bigint, bigint, risk_tier, text, text, timestamptz, bigint, bigint, text),
	loop_same_call(text, bigint, bigint, timestamptz, bigint, text), loop_check_call(text, text, text, bigint) FROM PUBLIC;

-- src/sql/65_check_in.sql
-- Called by check_in for a visit that moves the resident's anchor.  The
-- outcome must not depend on when sweeps ran, so:
--  * a window the visit came too late for gets its event if no sweep made it;
--  * an open event whose due time is after the visit (an on-time visit that
--    reached the server after a sweep) never should have existed: removed;
--  * every other open event closes at the level its schedule had reached at
--    the visit's time, and steps a sweep dated after the visit are removed.
CREATE FUNCTION close_overdue_events(p_resident bigint, p_visit bigint, p_at timestamptz,
                                     p_worker bigint, p_late_due timestamptz) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
BEGIN
	IF p_late_due IS NOT NULL THEN
		-- the period the visit came late for began at the visit before it
		PERFORM sanse.open_overdue_event(p_resident, p_late_due, (SELECT r.tier FROM sanse.resident r WHERE r.id = p_resident),
			coalesce((SELECT max(v.at) FROM sanse.visit v WHERE v.resident_id = p_resident AND v.at < p_at),
			         (SELECT r.registered_at FROM sanse.resident r WHERE r.id = p_resident)));
	END IF;
	DELETE FROM sanse.event e
	 WHERE e.resident_id = p_resident AND e.status <> 'closed' AND e.kind = 'overdue' AND e.due_at > p_at;
	PERFORM sanse.escalate_events(p_at, p_resident);
	DELETE FROM sanse.event_step s USING sanse.event e
	 WHERE s.event_id = e.id AND e.resident_id = p_resident AND e.status <> 'closed' AND e.kind = 'overdue'
	   AND s.level > 1 AND s.at > p_at;
	UPDATE sanse.event e
	   SET (level, level_since, assignee_id) =
	       (SELECT s.level, s.at, s.assignee_id FROM sanse.event_step s
	         WHERE s.event_id = e.id ORDER BY s.level DESC LIMIT 1),
	       status = 'closed', resolved_at = p_at, visit_id = p_visit, closed_by = p_worker,
	       next_step_at = NULL
	 WHERE e.resident_id = p_resident AND e.status <> 'closed' AND e.kind = 'overdue';
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-- check_in appends its visit to worker_month_pending in the same statement
-- that stores it (visits are written by check_in only).
CREATE FUNCTION check_in(token text, worker_id bigint, at timestamptz DEFAULT now(),
                                    checklist text[] DEFAULT '{}', note text DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'check_in' LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, sanse SET lock_timeout = '5s';	-- sanse's lock bound (README)
COMMENT ON FUNCTION check_in(text, bigint, timestamptz, text[], text) IS
	'record a door check-in; returns the visit id (the same id for a retried scan)';

-- Re-derive the span of a resident's timeline that starts at anchor p_from
-- (a visit time, or registered_at) and ends at the visit time p_to (NULL:
-- the span is still open, up to now): the visits strictly inside are its
-- anchors.  Events due inside the span are made to be exactly the windows
-- missed in it, each closed by the first visit at or after its due time; the
-- visits' window_due and late flag follow; the tally takes the differences.
CREATE FUNCTION rederive_span(p_resident bigint, p_from timestamptz, p_to timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	until timestamptz := coalesce(p_to, now());
	anchor timestamptz := p_from;
	anchor_missed boolean := false;	-- the anchor's period has its missed window
	cur_tier sanse.risk_tier := sanse.tier_at(p_resident, p_from);
	w sanse.visit_window;
	m record;
	ev record;
	closer record;
	carers bigint[] := sanse.carers_of(p_resident);
BEGIN
	IF pg_catalog.to_regclass('pg_temp.sanse_span_missed') IS NULL THEN
		CREATE TEMP TABLE sanse_span_missed (due timestamptz PRIMARY KEY, tier sanse.risk_tier, anchor timestamptz) ON COMMIT DROP;
		CREATE TEMP TABLE sanse_span_visit (id bigint PRIMARY KEY, window_due timestamptz, late boolean) ON COMMIT DROP;
	END IF;
	TRUNCATE sanse_span_missed, sanse_span_visit;

	-- walk the moments of the span: its visits (the first of each instant
	-- is the anchor), its tier changes, and its end
	FOR m IN
		SELECT x.at, x.visit_id, x.new_tier, x.is_visit
		  FROM (SELECT DISTINCT ON (v.at) v.at, v.id AS visit_id, NULL::sanse.risk_tier AS new_tier, true AS is_visit
		          FROM sanse.visit v
		         WHERE v.resident_id = p_resident AND v.at > p_from AND (p_to IS NULL OR v.at <= p_to)
		         ORDER BY v.at, v.id) x
		UNION ALL
		SELECT h.changed_at, NULL, h.new_tier, false
		  FROM sanse.tier_history h
		 WHERE h.resident_id = p_resident AND h.changed_at > p_from AND h.changed_at < until
		UNION ALL
		SELECT until, NULL, NULL, false WHERE p_to IS NULL
		ORDER BY 1, 4
	LOOP
		IF cur_tier IS NOT NULL THEN
			w := sanse.window_after(cur_tier, anchor);
			-- one missed period, one event: the first due time that passed
			-- after the anchor, whatever tier changes re-derive it to later
			IF sanse.due_at(w) <= m.at AND NOT anchor_missed THEN
				INSERT INTO sanse_span_missed VALUES (sanse.due_at(w), cur_tier, anchor) ON CONFLICT DO NOTHING;
				anchor_missed := true;
			END IF;
		END IF;
		IF m.is_visit THEN
			INSERT INTO sanse_span_visit VALUES (m.visit_id,
				CASE WHEN cur_tier IS NOT NULL AND w @> m.at THEN sanse.due_at(w) END,
				cur_tier IS NOT NULL AND m.at >= sanse.due_at(w));
			anchor := m.at;
			anchor_missed := false;
		ELSIF m.new_tier IS NOT NULL OR m.at < until THEN
			cur_tier := m.new_tier;
		END IF;
	END LOOP;

	-- events of the span that should not exist (a window met after all)
	DELETE FROM sanse.event e
	 WHERE e.resident_id = p_resident AND e.kind = 'overdue'
	   AND e.due_at > p_from AND (p_to IS NULL OR e.due_at <= p_to)
	   AND NOT EXISTS (SELECT 1 FROM sanse_span_missed s WHERE s.due = e.due_at);
	-- those that stay keep the period they were missed in (cleared first, so
	-- that anchors moving from one event to another never meet)
	UPDATE sanse.event e SET anchor_at = NULL
	  FROM sanse_span_missed s
	 WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = s.due
	   AND e.anchor_at IS DISTINCT FROM s.anchor;
	UPDATE sanse.event e SET anchor_at = s.anchor
	  FROM sanse_span_missed s
	 WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = s.due
	   AND e.anchor_at IS NULL;
	-- and those that should
	FOR ev IN SELECT s.due, s.tier, s.anchor FROM sanse_span_missed s ORDER BY s.due LOOP
		PERFORM sanse.open_overdue_event(p_resident, ev.due, ev.tier, ev.anchor);
		SELECT v.id, v.at INTO closer FROM sanse.visit v
		 WHERE v.resident_id = p_resident AND v.at >= ev.due AND (p_to IS NULL OR v.at <= p_to)
		 ORDER BY v.at, v.id LIMIT 1;
		IF closer.id IS NOT NULL THEN
			IF NOT EXISTS (SELECT 1 FROM sanse.event e
			                WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = ev.due
			                  AND e.status = 'closed' AND e.visit_id = closer.id AND e.resolved_at = closer.at) THEN
				PERFORM sanse.replay_event(e.id, closer.at, closer.id)
				   FROM sanse.event e WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = ev.due;
			END IF;
		ELSE
			-- still open: reopened ones climb again up to now; the sweep goes on
			PERFORM sanse.replay_event(e.id, until, NULL)
			   FROM sanse.event e
			  WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = ev.due AND e.status = 'closed';
		END IF;
	END LOOP;

	-- visits: which window each met, which came late; windows met are
	-- credited to (and taken back from) the current carers
	INSERT INTO sanse.worker_month_pending (worker_id, month, windows_met)
	SELECT c.worker_id, sanse.month_of(d.due), d.sign
	  FROM unnest(carers) c(worker_id), (SELECT v.window_due AS due, -1 AS sign FROM sanse.visit v JOIN sanse_span_visit s ON s.id = v.id
	         WHERE v.window_due IS DISTINCT FROM s.window_due AND v.window_due IS NOT NULL
	        UNION ALL
	        SELECT s.window_due, 1 FROM sanse.visit v JOIN sanse_span_visit s ON s.id = v.id
	         WHERE v.window_due IS DISTINCT FROM s.window_due AND s.window_due IS NOT NULL
	        UNION ALL
	        SELECT v.window_due, -1 FROM sanse.visit v
	         WHERE v.resident_id = p_resident AND v.window_due IS NOT NULL AND v.at > p_from
	           AND (p_to IS NULL OR v.at <= p_to)
	           AND NOT EXISTS (SELECT 1 FROM sanse_span_visit s WHERE s.id = v.id)) d;
	UPDATE sanse.visit v SET window_due = NULL
	 WHERE v.resident_id = p_resident AND v.window_due IS NOT NULL AND v.at > p_from
	   AND (p_to IS NULL OR v.at <= p_to)
	   AND v.window_due IS DISTINCT FROM (SELECT s.window_due FROM sanse_span_visit s WHERE s.id = v.id);
	UPDATE sanse.visit v SET window_due = s.window_due
	  FROM sanse_span_visit s
	 WHERE s.id = v.id AND s.window_due IS NOT NULL AND v.window_due IS DISTINCT FROM s.window_due;

	-- the late flag, and the flagged count of the visitor
	WITH changed AS (
		UPDATE sanse.visit v
		   SET flags = CASE WHEN s.late THEN array_append(v.flags, 'late') ELSE array_remove(v.flags, 'late') END
		  FROM sanse_span_visit s
		 WHERE s.id = v.id AND s.late <> ('late' = ANY (v.flags))
		RETURNING v.worker_id, v.at, v.flags, s.late)
	INSERT INTO sanse.worker_month_pending (worker_id, month, flagged_visits)
	SELECT c.worker_id, sanse.month_of(c.at), CASE WHEN c.late THEN 1 ELSE -1 END
	  FROM changed c
	 WHERE cardinality(c.flags) = CASE WHEN c.late THEN 1 ELSE 0 END;
END
$$;

-- check_in, for a visit dated before the resident's latest one.
CREATE FUNCTION rederive_after_visit(p_resident bigint, p_visit bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	t timestamptz := (SELECT v.at FROM sanse.visit v WHERE v.id = p_visit);
BEGIN
	-- another visit at the same instant is the anchor already: nothing moves
	IF EXISTS (SELECT 1 FROM sanse.visit v WHERE v.resident_id = p_resident AND v.at = t AND v.id <> p_visit) THEN
		RETURN;
	END IF;
	PERFORM sanse.rederive_span(p_resident,
		coalesce((SELECT max(v.at) FROM sanse.visit v WHERE v.resident_id = p_resident AND v.at < t),
		         (SELECT r.registered_at FROM sanse.resident r WHERE r.id = p_resident)),
		(SELECT min(v.at) FROM sanse.visit v WHERE v.resident_id = p_resident AND v.at > t));
END
$$;

CREATE FUNCTION withdraw_visit(visit_id bigint, reason text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	v sanse.visit;
	twin bigint;
	prev timestamptz;
BEGIN
	IF reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION 'withdrawing a visit needs a reason' USING ERRCODE = '22023';
	ELSIF length(reason) > 2000 THEN
		RAISE EXCEPTION 'the reason is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	SELECT * INTO v FROM sanse.visit WHERE id = withdraw_visit.visit_id AND sanse.caller_sees(area_id, 'care');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'visit % does not exist', withdraw_visit.visit_id USING ERRCODE = '22023';
	END IF;
	-- the resident's check-ins wait while its timeline is re-derived
	PERFORM 1 FROM sanse.resident r WHERE r.id = v.resident_id FOR NO KEY UPDATE;
	-- forgotten meanwhile: nothing more is written about them
	IF (SELECT r.forgotten_at FROM sanse.resident r WHERE r.id = v.resident_id) IS NOT NULL THEN
		RAISE EXCEPTION 'the resident of visit % has been forgotten', withdraw_visit.visit_id
			USING ERRCODE = '55000', DETAIL = 'Nothing more is written about a forgotten resident.';
	END IF;
	INSERT INTO sanse.visit_withdrawn (visit_id, resident_id, worker_id, at, checklist, flags, note, recorded_at, reason)
	VALUES (v.id, v.resident_id, v.worker_id, v.at, v.checklist, v.flags, v.note, v.recorded_at, withdraw_visit.reason);
	-- the visitor's own counts
	INSERT INTO sanse.worker_month_pending (worker_id, month, visits, flagged_visits, checklist_items)
	VALUES (v.worker_id, sanse.month_of(v.at), -1, -(v.flags <> '{}')::int, -cardinality(v.checklist));

	SELECT t.id INTO twin FROM sanse.visit t
	 WHERE t.resident_id = v.resident_id AND t.at = v.at AND t.id <> v.id ORDER BY t.id LIMIT 1;
	IF twin IS NOT NULL THEN
		-- another visit at the same instant takes its place
		UPDATE sanse.event SET visit_id = twin, closed_by = (SELECT t.worker_id FROM sanse.visit t WHERE t.id = twin)
		 WHERE event.visit_id = v.id;
		UPDATE sanse.visit SET window_due = NULL WHERE id = v.id;
		UPDATE sanse.visit SET window_due = v.window_due, flags = v.flags WHERE id = twin AND v.window_due IS NOT NULL;
		DELETE FROM sanse.visit WHERE id = v.id;
		RETURN;
	END IF;

	IF v.window_due IS NOT NULL THEN
		INSERT INTO sanse.worker_month_pending (worker_id, month, windows_met)
		SELECT c.worker_id, sanse.month_of(v.window_due), -1 FROM unnest(sanse.carers_of(v.resident_id)) c(worker_id);
	END IF;
	UPDATE sanse.event SET visit_id = NULL WHERE event.visit_id = v.id;
	DELETE FROM sanse.visit WHERE id = v.id;
	prev := (SELECT max(x.at) FROM sanse.visit x WHERE x.resident_id = v.resident_id AND x.at < v.at);
	-- the anchor goes back when the latest visit is withdrawn (the owner may write it)
	UPDATE sanse.resident r SET last_visit_at = (SELECT max(x.at) FROM sanse.visit x WHERE x.resident_id = r.id)
	 WHERE r.id = v.resident_id AND r.last_visit_at IS DISTINCT FROM (SELECT max(x.at) FROM sanse.visit x WHERE x.resident_id = r.id);
	PERFORM sanse.rederive_span(v.resident_id,
		coalesce(prev, (SELECT r.registered_at FROM sanse.resident r WHERE r.id = v.resident_id)),
		(SELECT min(x.at) FROM sanse.visit x WHERE x.resident_id = v.resident_id AND x.at > v.at));
END
$$;
REVOKE ALL ON FUNCTION withdraw_visit(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION withdraw_visit(bigint, text) IS 'withdraw a wrongly recorded visit (kept in visit_withdrawn with the reason): the resident''s windows, events and tally are re-derived without it';
REVOKE ALL ON FUNCTION rederive_span(bigint, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION rederive_after_visit(bigint, bigint) FROM PUBLIC;

-- src/sql/70_tally.sql
-----------------------------------------------------------------------------
-- worker_month: check-in rates kept as they happen
--
-- A window's outcome counts for the resident's carers at the moment it is
-- recorded: met when the visit that met it is stored, missed when its overdue
-- event is opened.  Reassigning a carer later does not rewrite history.  An
-- event that is removed (an on-time visit that reached the server after a
-- sweep) is taken back from exactly the workers it was charged to.
--
-- Writers only append to worker_month_pending (check_in, the event
-- triggers), so a check-in never waits for another check-in or a sweep over a
-- shared counter, and no lock order can deadlock them; each sweep folds the
-- pending rows into worker_month.  worker_tally adds both.
-----------------------------------------------------------------------------

-- Calendar month of a time in sanse.timezone (the zone when the row is tallied).
CREATE FUNCTION month_of(t timestamptz) RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
RETURN date_trunc('month', t AT TIME ZONE sanse.current_zone())::date;
COMMENT ON FUNCTION month_of(timestamptz) IS 'first day of the month of t in sanse.timezone';

CREATE TABLE worker_month (
	worker_id bigint NOT NULL REFERENCES worker (id) ON DELETE CASCADE,
	month date NOT NULL,
	windows_met bigint NOT NULL DEFAULT 0,
	windows_missed bigint NOT NULL DEFAULT 0,
	visits bigint NOT NULL DEFAULT 0,
	flagged_visits bigint NOT NULL DEFAULT 0,
	checklist_items bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (worker_id, month)
);
CREATE INDEX worker_month_month ON worker_month (month);
COMMENT ON TABLE worker_month IS 'per worker and month (sanse.timezone): windows of residents in their care met and missed, their visits, flagged visits and checklist items ticked; folded from worker_month_pending by each sweep';

-- Each row counts its numbers once for every worker in workers.
CREATE TABLE worker_month_pending (
	worker_id bigint NOT NULL,
	month date NOT NULL,
	windows_met int NOT NULL DEFAULT 0,
	windows_missed int NOT NULL DEFAULT 0,
	visits int NOT NULL DEFAULT 0,
	flagged_visits int NOT NULL DEFAULT 0,
	checklist_items int NOT NULL DEFAULT 0
);

CREATE VIEW worker_tally AS
SELECT t.worker_id, t.month,
       sum(t.windows_met)::bigint AS windows_met, sum(t.windows_missed)::bigint AS windows_missed,
       sum(t.visits)::bigint AS visits, sum(t.flagged_visits)::bigint AS flagged_visits,
       sum(t.checklist_items)::bigint AS checklist_items
  FROM (SELECT m.worker_id, m.month, m.windows_met, m.windows_missed, m.visits, m.flagged_visits, m.checklist_items
          FROM sanse.worker_month m
        UNION ALL
        SELECT p.worker_id, p.month, p.windows_met, p.windows_missed, p.visits, p.flagged_visits, p.checklist_items
          FROM sanse.worker_month_pending p) t
 GROUP BY t.worker_id, t.month;
COMMENT ON VIEW worker_tally IS 'worker_month plus the rows not folded into it yet';

CREATE FUNCTION fold_worker_month() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n bigint;
BEGIN
	WITH moved AS (
		DELETE FROM sanse.worker_month_pending RETURNING *)
	INSERT INTO sanse.worker_month AS m (worker_id, month, windows_met, windows_missed, visits, flagged_visits, checklist_items)
	SELECT p.worker_id, p.month, sum(p.windows_met), sum(p.windows_missed), sum(p.visits),
	       sum(p.flagged_visits), sum(p.checklist_items)
	  FROM moved p
	 GROUP BY 1, 2
	 ORDER BY 1, 2
	ON CONFLICT (worker_id, month) DO UPDATE
	   SET windows_met = m.windows_met + excluded.windows_met,
	       windows_missed = m.windows_missed + excluded.windows_missed,
	       visits = m.visits + excluded.visits,
	       flagged_visits = m.flagged_visits + excluded.flagged_visits,
	       checklist_items = m.checklist_items + excluded.checklist_items;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION fold_worker_month() FROM PUBLIC;
COMMENT ON FUNCTION fold_worker_month() IS 'fold worker_month_pending into worker_month; returns the number of (worker, month) rows written';

CREATE FUNCTION tally_missed(events event[], sign int) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	INSERT INTO sanse.worker_month_pending (worker_id, month, windows_missed)
	SELECT w.worker_id, sanse.month_of(e.due_at), tally_missed.sign
	  FROM unnest(tally_missed.events) e
	 CROSS JOIN LATERAL unnest(coalesce(e.charged_to, sanse.carers_of(e.resident_id))) w(worker_id)
	 WHERE e.kind = 'overdue';
END;
REVOKE ALL ON FUNCTION tally_missed(event[], int) FROM PUBLIC;

CREATE FUNCTION event_tally() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.event'::regclass THEN
		RAISE EXCEPTION 'trigger function event_tally() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.event.';
	END IF;
	-- only missed windows count (the closed loop's events are not tallied)
	IF TG_OP = 'INSERT' THEN
		IF EXISTS (SELECT 1 FROM new_events n WHERE n.kind = 'overdue') THEN
			PERFORM sanse.tally_missed(ARRAY(SELECT ROW(n.*)::sanse.event FROM new_events n WHERE n.kind = 'overdue'), 1);
		END IF;
	ELSIF EXISTS (SELECT 1 FROM old_events o WHERE o.kind = 'overdue') THEN
		PERFORM sanse.tally_missed(ARRAY(SELECT ROW(o.*)::sanse.event FROM old_events o WHERE o.kind = 'overdue'), -1);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER event_tally_insert AFTER INSERT ON event
	REFERENCING NEW TABLE AS new_events
	FOR EACH STATEMENT EXECUTE FUNCTION event_tally();
CREATE TRIGGER event_tally_delete AFTER DELETE ON event
	REFERENCING OLD TABLE AS old_events
	FOR EACH STATEMENT EXECUTE FUNCTION event_tally();

-- Recompute the whole tally from visits and events, e.g. after rows were
-- loaded with triggers off or sanse.timezone changed.  Met windows are
-- credited to the current carers (history of carers is not kept).
CREATE FUNCTION rebuild_worker_month() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n bigint;
BEGIN
	-- no check-in, event or fold while we count
	LOCK TABLE sanse.visit, sanse.event IN SHARE MODE;
	LOCK TABLE sanse.worker_month, sanse.worker_month_pending IN EXCLUSIVE MODE;
	DELETE FROM sanse.worker_month_pending;
	DELETE FROM sanse.worker_month;
	INSERT INTO sanse.worker_month (worker_id, month, windows_met, windows_missed, visits, flagged_visits, checklist_items)
	SELECT x.worker_id, x.month, sum(x.met), sum(x.missed), sum(x.visits), sum(x.flagged), sum(x.items)
	  FROM (SELECT v.worker_id, sanse.month_of(v.at) AS month, 0 AS met, 0 AS missed, 1 AS visits,
	               (v.flags <> '{}')::int AS flagged, cardinality(v.checklist) AS items
	          FROM sanse.visit v
	        UNION ALL
	        SELECT c.worker_id, sanse.month_of(v.window_due), 1, 0, 0, 0, 0
	          FROM sanse.visit v CROSS JOIN LATERAL unnest(sanse.carers_of(v.resident_id)) c(worker_id)
	         WHERE v.window_due IS NOT NULL
	        UNION ALL
	        SELECT w.worker_id, sanse.month_of(e.due_at), 0, 1, 0, 0, 0
	          FROM sanse.event e
	         CROSS JOIN LATERAL unnest(coalesce(e.charged_to, sanse.carers_of(e.resident_id))) AS w(worker_id)
	         WHERE e.kind = 'overdue') x
	 GROUP BY x.worker_id, x.month;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION rebuild_worker_month() IS 'recompute worker_month from visits and events (met windows credited to current carers); returns the number of rows';
REVOKE ALL ON FUNCTION rebuild_worker_month() FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('worker_month', '');
SELECT pg_catalog.pg_extension_config_dump('worker_month_pending', '');
CREATE INDEX worker_month_pending_worker ON worker_month_pending (worker_id, month);
COMMENT ON TABLE worker_month_pending IS 'tally rows appended by check_in and the event triggers since the last sweep, one per worker; each sweep folds them into worker_month';
CREATE TRIGGER a_restore_guard BEFORE INSERT ON worker_month FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON worker_month_pending FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
REVOKE ALL ON FUNCTION event_tally() FROM PUBLIC;

-- src/sql/75_sweeps.sql
-----------------------------------------------------------------------------
-- Sweeps: a lock only sanse can take, visible skips, no future times
-----------------------------------------------------------------------------

-- Nobody holds a privilege on this table, so only the owner (sweep runs as
-- the owner) can lock it: an advisory lock could be taken by any login and
-- would switch every sweep off.
CREATE TABLE sweep_lock ();
REVOKE ALL ON sweep_lock FROM PUBLIC;
COMMENT ON TABLE sweep_lock IS 'locked by sanse.sweep for its run; no rows, no grants';

-- Skipped sweeps, counted even when the skipping transaction rolls back.
CREATE SEQUENCE sweep_skipped;
REVOKE ALL ON sweep_skipped FROM PUBLIC;

-- Sanse's lock bound: check_in, the closed loop's functions and the sweep
-- wait at most lock_timeout = 5s for each lock another session holds (their
-- declarations SET it), then give up with 55P03 — a role's LOCK TABLE or
-- long-held row locks in its own town hold up other towns for that long at
-- most.  The sweep gives up only the phase that waited (the next sweep does
-- it, every time derived from the data) and records here who held the lock,
-- for sweep_status, with a lock_timeout row in the audit log.
CREATE TABLE sweep_lock_timeout (
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	phase text NOT NULL,
	holder_pid integer,
	holder name,
	relation text,
	mode text
);
CREATE INDEX sweep_lock_timeout_at ON sweep_lock_timeout (at);
REVOKE ALL ON sweep_lock_timeout FROM PUBLIC;
COMMENT ON TABLE sweep_lock_timeout IS 'each sweep phase that gave up waiting for a lock (lock_timeout): when, which phase, and the session that held it (login, pid, relation, mode)';

-- Who holds up a phase that gave up: sessions holding a lock on one of
-- sanse's tables in a mode that blocks its writes (SHARE or stronger), first;
-- then sessions that hold a row-level lock mode on one (SELECT … FOR UPDATE,
-- UPDATE) in a transaction older than the bound, which may hold the rows it
-- waited for.  Read from pg_locks and pg_stat_activity only: no table of
-- sanse is read (it may be the one locked).  The login is pg_stat_activity's
-- usename (a SET ROLE inside that session is not visible from outside).
CREATE FUNCTION lock_holders(OUT pid integer, OUT holder name, OUT relation text, OUT mode text)
RETURNS SETOF record
LANGUAGE sql STABLE SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT l.pid, a.usename, pg_catalog.format('%I.%I', 'sanse', c.relname), l.mode
	  FROM pg_catalog.pg_locks l
	  JOIN pg_catalog.pg_class c ON c.oid = l.relation
	  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
	 WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_catalog.pg_backend_pid()
	   AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
	   AND c.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = 'sanse')
	   AND c.relname <> 'sweep_lock'
	   AND (l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
	        OR (l.mode IN ('RowShareLock', 'RowExclusiveLock')
	            AND a.xact_start <= pg_catalog.clock_timestamp() - pg_catalog.current_setting('lock_timeout')::interval))
	 ORDER BY l.mode IN ('RowShareLock', 'RowExclusiveLock'), a.xact_start, l.pid, 3;
END;
REVOKE ALL ON FUNCTION lock_holders() FROM PUBLIC;
COMMENT ON FUNCTION lock_holders() IS 'sessions that may hold up sanse''s statements: locks on sanse''s tables in SHARE or stronger modes, then row-lock modes held longer than lock_timeout';

-- A sweep phase gave up waiting for a lock (called from its handler, the
-- phase rolled back): recorded for sweep_status, audited, and a WARNING
-- with 55P03.
CREATE FUNCTION sweep_gave_up(phase text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	h record;
	holders text;
BEGIN
	SELECT * INTO h FROM sanse.lock_holders() LIMIT 1;
	SELECT string_agg(format('%s (pid %s, %s on %s)', coalesce(x.holder::text, 'unknown login'), x.pid, x.mode, x.relation), '; ')
	  INTO holders FROM (SELECT * FROM sanse.lock_holders() LIMIT 5) x;
	INSERT INTO sanse.sweep_lock_timeout (phase, holder_pid, holder, relation, mode)
	VALUES (sweep_gave_up.phase, h.pid, h.holder, h.relation, h.mode);
	PERFORM sanse.audit('lock_timeout', '{}', NULL,
		format('sanse.sweep gave up %s after waiting %s for a lock held by %s', sweep_gave_up.phase,
		       pg_catalog.current_setting('lock_timeout'), coalesce(holders, 'a session that has let go since')));
	RAISE WARNING USING ERRCODE = '55P03',
		MESSAGE = format('sanse.sweep: %s gave up after waiting %s for a lock held by %s; left to the next sweep',
		                 sweep_gave_up.phase, pg_catalog.current_setting('lock_timeout'), coalesce(holders, 'a session that has let go since')),
		HINT = 'The holder is named in sanse.sweep_status and sanse.audit_log (act lock_timeout).';
END
$$;
REVOKE ALL ON FUNCTION sweep_gave_up(text) FROM PUBLIC;

CREATE VIEW sweep_status AS
SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END AS sweeps_skipped,
       (SELECT l.pid FROM pg_catalog.pg_locks l
         WHERE l.locktype = 'relation' AND l.relation = 'sanse.sweep_lock'::regclass
           AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
           AND l.granted
         LIMIT 1) AS running_pid,
       (SELECT count(*) FROM sanse.sweep_lock_timeout) AS lock_timeouts,
       t.at AS last_lock_timeout_at, t.phase AS last_lock_phase, t.holder AS last_lock_holder,
       t.holder_pid AS last_lock_holder_pid, t.relation AS last_lock_relation, t.mode AS last_lock_mode
  FROM sanse.sweep_skipped s
  LEFT JOIN LATERAL (SELECT * FROM sanse.sweep_lock_timeout x ORDER BY x.at DESC LIMIT 1) t ON true;
COMMENT ON VIEW sweep_status IS 'sweeps skipped since install because another was running, the pid of the sweep running now, and how many sweep phases gave up waiting for a lock: the last one''s time, phase and holder (login, pid, table, mode)';

-- Sweep times: at most 5 minutes ahead, as check_in (a sweep dated ahead
-- would open events for windows still open and charge their carers).
CREATE FUNCTION check_sweep_time(at timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF at IS NULL OR at > pg_catalog.clock_timestamp() + interval '5 minutes' OR at = '-infinity' THEN
		RAISE EXCEPTION 'a sweep cannot be dated %', CASE WHEN at IS NULL THEN 'NULL' WHEN at = '-infinity' THEN '-infinity' ELSE 'ahead of the server clock' END
			USING ERRCODE = '22008', DETAIL = 'A sweep may be dated at most 5 minutes ahead of the server clock.';
	END IF;
END
$$;

CREATE FUNCTION sweep_overdue(at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	ids bigint[];
	dues timestamptz[];
	tiers sanse.risk_tier[];
	anchors timestamptz[];
BEGIN
	PERFORM sanse.check_sweep_time(at);
	-- Lock the due residents and open the event of each missed window once,
	-- unless its missed period has its event already (a window re-derived
	-- after it was missed: one missed period, one event).  A resident whose
	-- row another transaction holds (a check-in, a writer, or a role keeping
	-- its own town's rows locked) is skipped, not waited for: the next sweep
	-- opens its event with the same due time and steps, or a late check-in
	-- opens and closes it, so no town's row locks hold up another's events.
	SELECT array_agg(d.id), array_agg(d.due), array_agg(d.tier), array_agg(d.anchor) INTO ids, dues, tiers, anchors
	  FROM (SELECT r.id, r.tier, sanse.due_at(r.next_visit) AS due, coalesce(r.last_visit_at, r.registered_at) AS anchor
	          FROM sanse.resident r
	         WHERE r.active AND r.next_visit IS NOT NULL
	           AND sanse.due_at(r.next_visit) <= sweep_overdue.at
	           FOR NO KEY UPDATE OF r SKIP LOCKED) d
	 WHERE NOT EXISTS (SELECT 1 FROM sanse.event e
	                    WHERE e.resident_id = d.id AND e.kind = 'overdue'
	                      AND (e.due_at = d.due OR e.anchor_at = d.anchor));
	IF ids IS NULL THEN
		RETURN 0;
	END IF;
	RETURN sanse.open_overdue_events(ids, dues, tiers, anchors);
END
$$;
COMMENT ON FUNCTION sweep_overdue(timestamptz) IS 'open the overdue event of every window due by at that has none; returns how many';

CREATE FUNCTION sweep_escalations(at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.check_sweep_time(at);
	RETURN sanse.escalate_events(at);
END
$$;
COMMENT ON FUNCTION sweep_escalations(timestamptz) IS 'apply every escalation step due by at, each at its logical time; returns how many';

-- Runs as the owner (only the owner can lock sweep_lock); revoked from
-- PUBLIC: grant EXECUTE to the role that schedules sweeps.
-- Under REPEATABLE READ or SERIALIZABLE (a DBA's session default) a phase
-- whose rows changed after the transaction's snapshot fails with 40001; it
-- is rolled back alone and left to the next sweep, which reaches the same
-- state because every step time is derived from the data.
CREATE FUNCTION sweep(at timestamptz DEFAULT now(),
                                 OUT overdue_opened integer, OUT escalations integer, OUT skipped boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse SET lock_timeout = '5s' AS $$
DECLARE
	holder int;
BEGIN
	PERFORM sanse.check_sweep_time(at);
	overdue_opened := 0;
	escalations := 0;
	BEGIN
		LOCK TABLE sanse.sweep_lock IN EXCLUSIVE MODE NOWAIT;
	EXCEPTION WHEN lock_not_available THEN
		SELECT l.pid INTO holder FROM pg_catalog.pg_locks l
		 WHERE l.locktype = 'relation' AND l.relation = 'sanse.sweep_lock'::regclass AND l.granted
		   AND l.pid <> pg_catalog.pg_backend_pid()
		 LIMIT 1;
		PERFORM pg_catalog.nextval('sanse.sweep_skipped');
		RAISE WARNING 'sanse.sweep skipped: another sweep is running (pid %)', coalesce(holder::text, 'unknown')
			USING HINT = 'Skips are counted in sanse.sweep_status.';
		skipped := true;
		RETURN;
	END;
	BEGIN
		overdue_opened := sanse.sweep_overdue(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: overdue residents changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('overdue events');
	END;
	BEGIN
		escalations := sanse.sweep_escalations(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: open events changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('escalations');
	END;
	BEGIN
		PERFORM sanse.forget_expired(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: residents to forget changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('forgetting');
	END;
	BEGIN
		PERFORM sanse.fold_worker_month();
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: the check-in tally changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('tally fold');
	END;
	BEGIN
		PERFORM sanse.record_history(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: the daily history changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('daily history');
	END;
	-- the screen aggregate-only roles read (77_published.sql)
	BEGIN
		PERFORM sanse.publish_screen_if_due(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: the screen''s numbers changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('screen publication');
	END;
	skipped := false;
END
$$;

-- One pg_cron job per database: pg_cron keys jobs by (name, user) whatever
-- their database, so one name for every database would make the second
-- database to schedule silently take over the first one's job.
CREATE FUNCTION sweep_job_name() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN 'sanse-sweep:' || current_database();
COMMENT ON FUNCTION sweep_job_name() IS 'name of this database''s pg_cron sweep job: sanse-sweep:<database>';

CREATE FUNCTION schedule_sweeps(schedule text DEFAULT '* * * * *') RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = '55000',
			      HINT = format('CREATE EXTENSION pg_cron here if this is the database named by cron.database_name; '
			                    'otherwise run in that database: SELECT cron.schedule_in_database(%L, %L, %L, %L);',
			                    sanse.sweep_job_name(), schedule, 'SELECT sanse.sweep()', current_database());
	END IF;
	-- pg_cron lives here, so cron.schedule runs the job in this database (and,
	-- unlike cron.schedule_in_database, needs no superuser)
	RETURN cron.schedule(sanse.sweep_job_name(), schedule, 'SELECT sanse.sweep()');
END
$$;
COMMENT ON FUNCTION schedule_sweeps(text) IS 'create or update this database''s pg_cron job sanse-sweep:<database> that runs sanse.sweep()';

CREATE FUNCTION unschedule_sweeps() RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	job bigint;
	dropped boolean := false;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = '55000',
			      HINT = format('In the database named by cron.database_name run: SELECT cron.unschedule(%L);',
			                    sanse.sweep_job_name());
	END IF;
	-- this database's job only (and one named sanse-sweep by an older sanse)
	FOR job IN EXECUTE 'SELECT j.jobid FROM cron.job j
	                     WHERE j.jobname IN ($1, ''sanse-sweep'') AND j.database = current_database()
	                       AND j.username = current_user'
	           USING sanse.sweep_job_name() LOOP
		EXECUTE 'SELECT cron.unschedule($1)' USING job;
		dropped := true;
	END LOOP;
	RETURN dropped;
END
$$;
COMMENT ON FUNCTION unschedule_sweeps() IS 'drop this database''s pg_cron sweep job; false if there was none';

-- The sweep job of this database and how its last run ended, for the DBA and
-- the screen (pg_cron shows a role its own jobs; a superuser sees all).
CREATE FUNCTION sweep_job(OUT jobid bigint, OUT jobname text, OUT schedule text, OUT username text,
                          OUT active boolean, OUT last_status text, OUT last_start timestamptz,
                          OUT last_end timestamptz, OUT last_message text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = '55000',
			      HINT = format('In the database named by cron.database_name: SELECT * FROM cron.job_run_details '
			                    'WHERE jobid = (SELECT jobid FROM cron.job WHERE jobname = %L) ORDER BY runid DESC LIMIT 1;',
			                    sanse.sweep_job_name());
	END IF;
	RETURN QUERY EXECUTE
		'SELECT j.jobid, j.jobname::text, j.schedule::text, j.username::text, j.active,
		        d.status::text, d.start_time, d.end_time, d.return_message::text
		   FROM cron.job j
		   LEFT JOIN LATERAL (SELECT r.status, r.start_time, r.end_time, r.return_message
		                        FROM cron.job_run_details r WHERE r.jobid = j.jobid
		                       ORDER BY r.runid DESC LIMIT 1) d ON true
		  WHERE j.jobname IN ($1, ''sanse-sweep'') AND j.database = current_database()
		  ORDER BY j.jobid'
		USING sanse.sweep_job_name();
END
$$;
COMMENT ON FUNCTION sweep_job() IS 'this database''s pg_cron sweep job and its last run: status (succeeded, failed, running), times, message';

REVOKE ALL ON FUNCTION sweep(timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION sweep(timestamptz) IS 'sweep_overdue, sweep_escalations (overdue events and the loop''s clocks), forget_expired, fold_worker_month, then record_history (the daily history) and publish_screen_if_due (the screen aggregate-only roles read), one sweep at a time (an overlapping one skips, with a WARNING, and is counted in sweep_status)';

-- src/sql/77_published.sql
-----------------------------------------------------------------------------
-- Published screen (spec 8, "Small cells stay hidden under arithmetic").
-- What a role whose access to an area is aggregate only reads of it is not
-- computed when it asks: it is the rows the sweep published last, with
-- their small cells hidden by cell suppression (statistical disclosure
-- control, as statistical offices publish tables):
--   primary suppression:   a count from 1 to sanse.min_cell - 1 is hidden;
--   secondary (complementary) suppression: in every additive group a
--       published count belongs to (an area and its children at every level
--       of the hierarchy, the residents and their three tiers, opened =
--       closed + still open = the levels reached, raised = closed + still
--       open, a month and its recorded days, a micro grid's events of a day
--       and the history's overdue and loop events of that day) no hidden
--       cell is alone, and the hidden cells of a group never add up to a
--       known 0: the smallest other count of the group is hidden too, again
--       and again until nothing changes (a fixpoint);
--   zeros: in a row's partition with a hidden cell (residents and their
--       tiers, opened and closed + still open, opened and its levels) every
--       0 is hidden as well: a 0 beside a hidden total tells its make-up
--       ("residents hidden, yellow 0, blue 0" would say every household
--       there is red).  Elsewhere a 0 is shown, and an area, month or day
--       without a row is a 0 anyone sees; a complement is a 0 only in such
--       a partition, and only when its group has no other count left;
--   a rate, median or mean over a hidden count is hidden.
-- A recorded day of the history is published once, when it is recorded,
-- and never changes; the views of now (coverage, the months, the daily
-- report) are published again by the sweep at most every ten minutes (and
-- at once after a day was recorded).  Only the owner (and the sweep) writes
-- them.  EXPLAIN ANALYZE of a screen view by such a role shows the scan of
-- these tables and nothing beneath them.
-----------------------------------------------------------------------------

-- The last publication: when, and with which sanse.min_cell.
CREATE TABLE screen_publication (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	published_at timestamptz NOT NULL,
	published_clock timestamptz NOT NULL DEFAULT clock_timestamp(),
	min_cell integer NOT NULL,
	cells integer NOT NULL,
	hidden integer NOT NULL
);
COMMENT ON TABLE screen_publication IS 'the last publication of the screen for aggregate-only roles: as of when (the sweep''s time), when on the clock, sanse.min_cell, count cells published and hidden';

-- Each recorded day of the history, published once.
CREATE TABLE published_history_day (
	day date PRIMARY KEY,
	published_at timestamptz NOT NULL,
	min_cell integer NOT NULL
);
COMMENT ON TABLE published_history_day IS 'recorded days of area_day published for aggregate-only roles (once, never changed)';

CREATE TABLE published_coverage_history (
	day date NOT NULL,
	area_id bigint NOT NULL,
	residents bigint, red bigint, yellow bigint, blue bigint, overdue bigint, windows_met bigint,
	events_opened bigint, events_closed bigint,
	open_level_1 bigint, open_level_2 bigint, open_level_3 bigint, open_level_4 bigint,
	loop_raised bigint, loop_answered_in_time bigint,
	coverage_rate numeric, response_rate numeric,
	PRIMARY KEY (day, area_id)
);
COMMENT ON TABLE published_coverage_history IS 'coverage_history as aggregate-only roles read it: the rows of area_day of each published day, hidden cells NULL (an area without a row: zeros)';

CREATE TABLE published_coverage (
	area_id bigint PRIMARY KEY, path text NOT NULL, kind text NOT NULL, name text NOT NULL,
	residents bigint, red bigint, yellow bigint, blue bigint, overdue_now bigint, window_met bigint,
	coverage_rate numeric
);
CREATE TABLE published_coverage_by_tier (
	area_id bigint NOT NULL, path text NOT NULL, kind text NOT NULL, name text NOT NULL, tier text NOT NULL,
	residents bigint, overdue_now bigint, window_met bigint, coverage_rate numeric,
	PRIMARY KEY (area_id, tier)
);
CREATE TABLE published_overdue_events (
	area_id bigint NOT NULL, path text NOT NULL, kind text NOT NULL, name text NOT NULL, month date NOT NULL,
	opened bigint, closed bigint, still_open bigint,
	reached_level_1 bigint, reached_level_2 bigint, reached_level_3 bigint, reached_level_4 bigint,
	median_time_to_close interval,
	PRIMARY KEY (area_id, month)
);
CREATE TABLE published_loop_metrics (
	area_id bigint NOT NULL, path text NOT NULL, name text NOT NULL, month date NOT NULL, kind text NOT NULL,
	raised bigint, answered_in_time bigint, response_rate numeric, median_time_to_arrive interval,
	handled bigint, closed bigint, reopened bigint, mean_rating numeric, confirmed_solved bigint, still_open bigint,
	PRIMARY KEY (area_id, month, kind)
);
CREATE TABLE published_grid_daily_report (
	area_id bigint NOT NULL, path text NOT NULL, name text NOT NULL, day date NOT NULL,
	visits bigint, complete_checklists bigint, flagged_visits bigint, events_opened bigint, events_closed bigint,
	PRIMARY KEY (area_id, day)
);
CREATE TABLE published_worker_checkin_rate (
	worker_id bigint NOT NULL, worker_name text NOT NULL, force text NOT NULL, area_id bigint NOT NULL, month date NOT NULL,
	windows_due bigint, windows_met bigint, checkin_rate numeric, visits bigint, flagged_visits bigint,
	checklist_completeness numeric,
	PRIMARY KEY (worker_id, month)
);
COMMENT ON TABLE published_coverage IS 'coverage as aggregate-only roles read it (hidden cells NULL), as of screen_publication.published_at';
COMMENT ON TABLE published_coverage_by_tier IS 'coverage_by_tier as aggregate-only roles read it: every area and tier, the same cells as published_coverage';
COMMENT ON TABLE published_overdue_events IS 'overdue_events as aggregate-only roles read it (hidden cells NULL), as of screen_publication.published_at';
COMMENT ON TABLE published_loop_metrics IS 'loop_metrics as aggregate-only roles read it (hidden cells NULL), as of screen_publication.published_at';
COMMENT ON TABLE published_grid_daily_report IS 'grid_daily_report as aggregate-only roles read it (hidden cells NULL), as of screen_publication.published_at';
COMMENT ON TABLE published_worker_checkin_rate IS 'worker_checkin_rate as aggregate-only roles read it (small cells NULL), as of screen_publication.published_at';
REVOKE ALL ON screen_publication, published_history_day, published_coverage_history, published_coverage,
              published_coverage_by_tier, published_overdue_events, published_loop_metrics,
              published_grid_daily_report, published_worker_checkin_rate FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('screen_publication', '');
SELECT pg_catalog.pg_extension_config_dump('published_history_day', '');
SELECT pg_catalog.pg_extension_config_dump('published_coverage_history', '');
SELECT pg_catalog.pg_extension_config_dump('published_coverage', '');
SELECT pg_catalog.pg_extension_config_dump('published_coverage_by_tier', '');
SELECT pg_catalog.pg_extension_config_dump('published_overdue_events', '');
SELECT pg_catalog.pg_extension_config_dump('published_loop_metrics', '');
SELECT pg_catalog.pg_extension_config_dump('published_grid_daily_report', '');
SELECT pg_catalog.pg_extension_config_dump('published_worker_checkin_rate', '');

-- Whether the current user sees some area exactly (read or care), and some
-- area as aggregates only: the one-time filters of the screen views' two
-- branches (the live computation and the published rows), so the branch a
-- role has no area for is never executed.
CREATE FUNCTION screen_sees_exact() RETURNS boolean
LANGUAGE sql STABLE
RETURN EXISTS (SELECT 1 FROM sanse.granted_areas('read', current_user));
COMMENT ON FUNCTION screen_sees_exact() IS 'true when current_user sees some area exactly (read or care): the screen views compute its rows live';
CREATE FUNCTION screen_sees_aggregate() RETURNS boolean
LANGUAGE sql STABLE
RETURN EXISTS (SELECT 1 FROM sanse.granted_areas('aggregate', current_user) g(id)
                WHERE g.id NOT IN (SELECT sanse.granted_areas('read', current_user)));
COMMENT ON FUNCTION screen_sees_aggregate() IS 'true when current_user sees some area as aggregates only: the screen views read its published rows';

-- When the rows an aggregate-only role reads were published (NULL: never).
CREATE FUNCTION screen_published_at() RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, sanse
RETURN (SELECT p.published_at FROM sanse.screen_publication p);
COMMENT ON FUNCTION screen_published_at() IS 'when the screen rows aggregate-only roles read were published by the sweep (NULL: never yet)';

-- sanse.min_cell as sanse.cell applies it (reading it through sanse.cell
-- first loads the library: never a placeholder a role set before).
CREATE FUNCTION min_cell_in_force() RETURNS integer
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.cell(0, false);
	RETURN pg_catalog.current_setting('sanse.min_cell')::integer;
END
$$;
COMMENT ON FUNCTION min_cell_in_force() IS 'the setting sanse.min_cell that sanse.cell applies';

-- The suppression itself, on the session's work tables sc_cell (a count:
-- value, hidden, frozen = already published and never changed, w = how many
-- hidden cells a frozen one stands for, round = the round of the fixpoint
-- that hid it)
-- and sc_member (group, cell, sign:
-- in a group, sum(sign * value) = 0).  Returns how many cells it hid.
CREATE FUNCTION suppress_cells() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET jit = off AS $$
DECLARE
	n int;
	z int;
	r int := 0;
	total int := 0;
BEGIN
	IF to_regclass('pg_temp.sc_cell') IS NULL THEN
		RAISE EXCEPTION 'no cells to suppress in this session' USING ERRCODE = '55000',
			HINT = 'sanse.publish_screen() makes them (with sanse.suppress_begin()).';
	END IF;
	-- a group of one cell says nothing
	DELETE FROM pg_temp.sc_member m
	 WHERE m.gid IN (SELECT x.gid FROM pg_temp.sc_member x GROUP BY x.gid HAVING count(*) < 2);
	ANALYZE pg_temp.sc_member;
	-- primary: the small counts (sanse.cell reads sanse.min_cell in C); the
	-- hidden cells of each round are "new" (round r): only the groups they
	-- belong to are looked at again
	UPDATE pg_temp.sc_cell c SET hidden = true, round = 0
	 WHERE NOT c.frozen AND NOT c.hidden AND sanse.cell(c.val, false) IS NULL;
	GET DIAGNOSTICS n = ROW_COUNT;
	total := n;
	UPDATE pg_temp.sc_cell c SET round = 0 WHERE c.frozen AND c.hidden;
	ANALYZE pg_temp.sc_cell;
	LOOP
		DELETE FROM pg_temp.sc_touched;
		INSERT INTO pg_temp.sc_touched (gid)
		SELECT DISTINCT m.gid FROM pg_temp.sc_cell c JOIN pg_temp.sc_member m ON m.cid = c.cid WHERE c.round = r;
		-- zeros of a row's partition with a hidden cell (its tiers, closed
		-- and still open, levels): a 0 there tells the hidden one's make-up
		UPDATE pg_temp.sc_cell c SET hidden = true, round = r + 1
		 WHERE NOT c.frozen AND NOT c.hidden AND c.val = 0
		   AND c.cid IN (SELECT m.cid FROM pg_temp.sc_touched t JOIN pg_temp.sc_member m ON m.gid = t.gid WHERE m.part);
		GET DIAGNOSTICS z = ROW_COUNT;
		-- complements: a group with one hidden cell, or whose hidden cells all
		-- count the same way and add up to what is shown (then all are 0),
		-- hides its smallest other count (not a 0 if it can, a part before
		-- the total)
		WITH g AS (
			SELECT m.gid
			  FROM pg_temp.sc_touched t JOIN pg_temp.sc_member m ON m.gid = t.gid JOIN pg_temp.sc_cell c ON c.cid = m.cid
			 GROUP BY m.gid
			HAVING sum(c.w) FILTER (WHERE c.hidden) = 1
			    OR (sum(c.w) FILTER (WHERE c.hidden) > 1
			        AND min(m.sign) FILTER (WHERE c.hidden) = max(m.sign) FILTER (WHERE c.hidden)
			        AND coalesce(sum(m.sign * c.val) FILTER (WHERE NOT c.hidden), 0) = 0)),
		pick AS (
			SELECT DISTINCT ON (m.gid) m.cid
			  FROM g JOIN pg_temp.sc_member m ON m.gid = g.gid JOIN pg_temp.sc_cell c ON c.cid = m.cid
			 WHERE NOT c.hidden AND NOT c.frozen
			   -- a 0 only where it is part of a row's partition: a 0 hidden
			   -- elsewhere could be read back from a month or day without a row
			   AND (c.val <> 0 OR EXISTS (SELECT 1 FROM pg_temp.sc_member pm WHERE pm.cid = c.cid AND pm.part))
			 ORDER BY m.gid, c.val = 0, m.sign, c.val, c.cid)
		UPDATE pg_temp.sc_cell c SET hidden = true, round = r + 1 FROM pick WHERE c.cid = pick.cid AND NOT c.hidden;
		GET DIAGNOSTICS n = ROW_COUNT;
		total := total + z + n;
		RAISE DEBUG 'suppress_cells: round %, % zeros and % complements hidden', r + 1, z, n;
		EXIT WHEN z = 0 AND n = 0;
		r := r + 1;
	END LOOP;
	RETURN total;
END
$$;
REVOKE ALL ON FUNCTION suppress_cells() FROM PUBLIC;
COMMENT ON FUNCTION suppress_cells() IS 'primary and secondary cell suppression on the session''s sc_cell and sc_member, to a fixpoint; returns how many cells it hid';

-- Fresh work tables for one suppression.
CREATE FUNCTION suppress_begin() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	-- made once a transaction and emptied after (no new relation, so no new
	-- lock, for each day a sweep publishes)
	IF to_regclass('pg_temp.sc_cell') IS NULL THEN
		CREATE TEMP TABLE sc_cell (
			cid serial PRIMARY KEY, src text NOT NULL, area_id bigint, k text NOT NULL DEFAULT '', m text NOT NULL,
			val bigint NOT NULL, hidden boolean NOT NULL DEFAULT false, frozen boolean NOT NULL DEFAULT false,
			w integer NOT NULL DEFAULT 1, round integer) ON COMMIT DROP;
		CREATE INDEX ON pg_temp.sc_cell (src, area_id, k, m);
		CREATE TEMP TABLE sc_member (gid bigint NOT NULL, cid integer NOT NULL, sign integer NOT NULL,
		                             part boolean NOT NULL DEFAULT false) ON COMMIT DROP;
		CREATE INDEX ON pg_temp.sc_member (gid);
		CREATE INDEX ON pg_temp.sc_member (cid);
		CREATE TEMP TABLE sc_parent (id bigint PRIMARY KEY, parent bigint NOT NULL) ON COMMIT DROP;
		CREATE TEMP TABLE sc_touched (gid bigint NOT NULL) ON COMMIT DROP;
	ELSE
		TRUNCATE pg_temp.sc_cell, pg_temp.sc_member, pg_temp.sc_parent, pg_temp.sc_touched;
	END IF;
	INSERT INTO pg_temp.sc_parent (id, parent)
	SELECT a.id, p.id
	  FROM sanse.area a
	  JOIN sanse.area p ON p.path::text = pg_catalog.regexp_replace(a.path::text, '[.][^.]*$', '')
	 WHERE pg_catalog.strpos(a.path::text, '.') > 0;
END
$$;
REVOKE ALL ON FUNCTION suppress_begin() FROM PUBLIC;
COMMENT ON FUNCTION suppress_begin() IS 'create the session''s work tables of one suppression (sc_cell, sc_member, sc_parent)';

-- Hierarchy groups for the cells of some sources: an area's count and the
-- same count of its children (same key and measure).
CREATE FUNCTION suppress_hierarchy(p_src text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF to_regclass('pg_temp.sc_cell') IS NULL THEN
		RAISE EXCEPTION 'no cells to suppress in this session' USING ERRCODE = '55000',
			HINT = 'sanse.publish_screen() makes them (with sanse.suppress_begin()).';
	END IF;
	INSERT INTO pg_temp.sc_member (gid, cid, sign)
	SELECT pg_catalog.hashtextextended('h/' || c.src || '/' || c.area_id || '/' || c.k || '/' || c.m, 0), c.cid, 1
	  FROM pg_temp.sc_cell c
	 WHERE c.src = ANY (p_src) AND NOT c.frozen
	   AND c.area_id IN (SELECT p.parent FROM pg_temp.sc_parent p)
	UNION ALL
	SELECT pg_catalog.hashtextextended('h/' || c.src || '/' || p.parent || '/' || c.k || '/' || c.m, 0), c.cid, -1
	  FROM pg_temp.sc_cell c JOIN pg_temp.sc_parent p ON p.id = c.area_id
	 WHERE c.src = ANY (p_src) AND NOT c.frozen;
END
$$;
REVOKE ALL ON FUNCTION suppress_hierarchy(text[]) FROM PUBLIC;

-- Groups inside a row: (total measure, part measures) of each (src, area, k).
CREATE FUNCTION suppress_row_group(p_src text, p_name text, p_total text, p_parts text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF to_regclass('pg_temp.sc_cell') IS NULL THEN
		RAISE EXCEPTION 'no cells to suppress in this session' USING ERRCODE = '55000',
			HINT = 'sanse.publish_screen() makes them (with sanse.suppress_begin()).';
	END IF;
	INSERT INTO pg_temp.sc_member (gid, cid, sign, part)
	SELECT pg_catalog.hashtextextended(p_name || '/' || c.area_id || '/' || c.k, 0), c.cid,
	       CASE WHEN c.m = p_total THEN 1 ELSE -1 END, true
	  FROM pg_temp.sc_cell c
	 WHERE c.src = p_src AND (c.m = p_total OR c.m = ANY (p_parts)) AND NOT c.frozen;
END
$$;
REVOKE ALL ON FUNCTION suppress_row_group(text, text, text, text[]) FROM PUBLIC;

-- One recorded day of the history, published: its area_day rows, cells
-- suppressed within the day (hierarchy and tiers), frozen from then on.
CREATE FUNCTION publish_history_day(p_day date, at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET jit = off AS $$
DECLARE
	n int;
BEGIN
	PERFORM sanse.suppress_begin();
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'hist', h.area_id, '', x.m, x.v
	  FROM sanse.area_day h
	 CROSS JOIN LATERAL (VALUES ('residents', h.residents), ('red', h.red), ('yellow', h.yellow), ('blue', h.blue),
	                            ('overdue', h.overdue), ('windows_met', h.windows_met),
	                            ('events_opened', h.events_opened), ('events_closed', h.events_closed),
	                            ('open_level_1', h.open_level_1), ('open_level_2', h.open_level_2),
	                            ('open_level_3', h.open_level_3), ('open_level_4', h.open_level_4),
	                            ('loop_raised', h.loop_raised), ('loop_answered_in_time', h.loop_answered_in_time)) x(m, v)
	 WHERE h.day = p_day;
	PERFORM sanse.suppress_hierarchy(ARRAY['hist']);
	PERFORM sanse.suppress_row_group('hist', 'tiers', 'residents', ARRAY['red', 'yellow', 'blue']);
	PERFORM sanse.suppress_cells();
	DELETE FROM sanse.published_coverage_history p WHERE p.day = p_day;
	INSERT INTO sanse.published_coverage_history
	SELECT p_day, h.area_id,
	       s.c[1], s.c[2], s.c[3], s.c[4], s.c[5], s.c[6], s.c[7], s.c[8], s.c[9], s.c[10], s.c[11], s.c[12], s.c[13], s.c[14],
	       CASE WHEN h.residents > 0 AND s.c[1] IS NOT NULL AND s.c[5] IS NOT NULL
	            THEN round(1 - h.overdue::numeric / h.residents, 4) END,
	       CASE WHEN h.loop_raised > 0 AND s.c[13] IS NOT NULL AND s.c[14] IS NOT NULL
	            THEN round(h.loop_answered_in_time::numeric / h.loop_raised, 4) END
	  FROM sanse.area_day h
	  JOIN (SELECT c.area_id,
	               array_agg(CASE WHEN c.hidden THEN NULL ELSE c.val END
	                         ORDER BY array_position(ARRAY['residents', 'red', 'yellow', 'blue', 'overdue', 'windows_met',
	                                                       'events_opened', 'events_closed', 'open_level_1', 'open_level_2',
	                                                       'open_level_3', 'open_level_4', 'loop_raised', 'loop_answered_in_time'], c.m)) AS c
	          FROM pg_temp.sc_cell c GROUP BY c.area_id) s ON s.area_id = h.area_id
	 WHERE h.day = p_day;
	GET DIAGNOSTICS n = ROW_COUNT;
	INSERT INTO sanse.published_history_day (day, published_at, min_cell)
	VALUES (p_day, at, sanse.min_cell_in_force())
	ON CONFLICT (day) DO UPDATE SET published_at = EXCLUDED.published_at, min_cell = EXCLUDED.min_cell;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION publish_history_day(date, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION publish_history_day(date, timestamptz) IS 'publish one recorded day of area_day for aggregate-only roles, cells suppressed (run by record_history and publish_screen)';

-- Publish the screen for aggregate-only roles: every recorded day not
-- published yet, then coverage (with coverage_by_tier: the same cells),
-- overdue_events, loop_metrics, grid_daily_report and worker_checkin_rate
-- as of now, suppressed together (a month's totals against its published
-- days, whose cells never change).  Returns how many cells it hid.  Runs as
-- the owner: the sweep calls it, and a role the owner grants EXECUTE may
-- publish at once (after a bulk load, say).
CREATE FUNCTION publish_screen(at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse SET jit = off AS $$
DECLARE
	d date;
	n_hidden int;
	n_cells int;
BEGIN
	-- one publisher at a time
	LOCK TABLE sanse.screen_publication IN EXCLUSIVE MODE;
	FOR d IN SELECT r.day FROM sanse.area_day_recorded r
	          WHERE r.areas IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sanse.published_history_day p WHERE p.day = r.day)
	          ORDER BY r.day LOOP
		PERFORM sanse.publish_history_day(d, at);
	END LOOP;

	PERFORM sanse.suppress_begin();
	IF to_regclass('pg_temp.sc_cov') IS NOT NULL THEN
		DROP TABLE pg_temp.sc_cov, pg_temp.sc_oe, pg_temp.sc_lm, pg_temp.sc_gdr, pg_temp.sc_shown;
	END IF;
	CREATE TEMP TABLE sc_cov ON COMMIT DROP AS
	SELECT c.area_id, c.path, c.kind, c.name, c.residents, c.red, c.yellow, c.blue, c.overdue_now, c.window_met,
	       coalesce(b.o_red, 0) AS o_red, coalesce(b.o_yellow, 0) AS o_yellow, coalesce(b.o_blue, 0) AS o_blue,
	       coalesce(b.m_red, 0) AS m_red, coalesce(b.m_yellow, 0) AS m_yellow, coalesce(b.m_blue, 0) AS m_blue
	  FROM sanse.coverage_all c
	  LEFT JOIN (SELECT t.area_id,
	                    sum(t.overdue_now) FILTER (WHERE t.tier = 'red') AS o_red,
	                    sum(t.overdue_now) FILTER (WHERE t.tier = 'yellow') AS o_yellow,
	                    sum(t.overdue_now) FILTER (WHERE t.tier = 'blue') AS o_blue,
	                    sum(t.window_met) FILTER (WHERE t.tier = 'red') AS m_red,
	                    sum(t.window_met) FILTER (WHERE t.tier = 'yellow') AS m_yellow,
	                    sum(t.window_met) FILTER (WHERE t.tier = 'blue') AS m_blue
	               FROM sanse.coverage_by_tier_all t GROUP BY t.area_id) b ON b.area_id = c.area_id;
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'cov', c.area_id, '', x.m, x.v
	  FROM pg_temp.sc_cov c
	 CROSS JOIN LATERAL (VALUES ('residents', c.residents), ('red', c.red), ('yellow', c.yellow), ('blue', c.blue),
	                            ('overdue_now', c.overdue_now), ('window_met', c.window_met),
	                            ('overdue_now:red', c.o_red), ('overdue_now:yellow', c.o_yellow), ('overdue_now:blue', c.o_blue),
	                            ('window_met:red', c.m_red), ('window_met:yellow', c.m_yellow), ('window_met:blue', c.m_blue)) x(m, v);

	CREATE TEMP TABLE sc_oe ON COMMIT DROP AS SELECT * FROM sanse.overdue_events_all;
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'oe', o.area_id, o.month::text, x.m, x.v
	  FROM pg_temp.sc_oe o
	 CROSS JOIN LATERAL (VALUES ('opened', o.opened), ('closed', o.closed), ('still_open', o.still_open),
	                            ('reached_level_1', o.reached_level_1), ('reached_level_2', o.reached_level_2),
	                            ('reached_level_3', o.reached_level_3), ('reached_level_4', o.reached_level_4)) x(m, v);

	CREATE TEMP TABLE sc_lm ON COMMIT DROP AS SELECT * FROM sanse.loop_metrics_all;
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'lm', l.area_id, l.month || '/' || l.kind, x.m, x.v
	  FROM pg_temp.sc_lm l
	 CROSS JOIN LATERAL (VALUES ('raised', l.raised), ('answered_in_time', l.answered_in_time), ('handled', l.handled),
	                            ('closed', l.closed), ('reopened', l.reopened), ('confirmed_solved', l.confirmed_solved),
	                            ('still_open', l.still_open)) x(m, v);

	CREATE TEMP TABLE sc_gdr ON COMMIT DROP AS SELECT * FROM sanse.grid_daily_report_all;
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'gdr', g.area_id, g.day::text, x.m, x.v
	  FROM pg_temp.sc_gdr g
	 CROSS JOIN LATERAL (VALUES ('visits', g.visits), ('complete_checklists', g.complete_checklists),
	                            ('flagged_visits', g.flagged_visits), ('events_opened', g.events_opened),
	                            ('events_closed', g.events_closed)) x(m, v);

	-- a worker's month: no group (its counts are of that worker only)
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'wk', t.worker_id, t.month::text, x.m, x.v
	  FROM sanse.worker_tally t
	 CROSS JOIN LATERAL (VALUES ('windows_due', t.windows_met + t.windows_missed), ('windows_met', t.windows_met),
	                            ('visits', t.visits), ('flagged_visits', t.flagged_visits)) x(m, v)
	 WHERE t.windows_met + t.windows_missed > 0 OR t.visits > 0;

	-- the published days, frozen: per area and month, the hidden days of
	-- overdue events opened and loop events raised (standing for as many
	-- hidden cells) and the shown ones; per micro grid and day of the
	-- daily report, that day's two cells
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val, hidden, frozen, w)
	SELECT 'histm', h.area_id, date_trunc('month', h.day)::date::text, x.m, sum(x.v), x.hid, true,
	       CASE WHEN x.hid THEN count(*) ELSE 1 END
	  FROM sanse.area_day h
	  JOIN sanse.published_coverage_history p ON p.day = h.day AND p.area_id = h.area_id
	 CROSS JOIN LATERAL (VALUES ('events_opened', h.events_opened, p.events_opened IS NULL),
	                            ('loop_raised', h.loop_raised, p.loop_raised IS NULL)) x(m, v, hid)
	 WHERE h.day >= (SELECT least(min(o.month), min(l.month)) FROM (SELECT min(month) AS month FROM pg_temp.sc_oe) o,
	                                                                (SELECT min(month) AS month FROM pg_temp.sc_lm) l)
	 GROUP BY h.area_id, date_trunc('month', h.day), x.m, x.hid;
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val, hidden, frozen)
	SELECT 'histd', h.area_id, h.day::text, x.m, x.v, x.hid, true
	  FROM pg_temp.sc_gdr g
	  JOIN sanse.area_day h ON h.day = g.day AND h.area_id = g.area_id
	  JOIN sanse.published_coverage_history p ON p.day = h.day AND p.area_id = h.area_id
	 CROSS JOIN LATERAL (VALUES ('events_opened', h.events_opened, p.events_opened IS NULL),
	                            ('loop_raised', h.loop_raised, p.loop_raised IS NULL)) x(m, v, hid);
	ANALYZE pg_temp.sc_cell;

	-- the groups
	PERFORM sanse.suppress_hierarchy(ARRAY['cov', 'oe', 'lm']);
	PERFORM sanse.suppress_row_group('cov', 'tiers', 'residents', ARRAY['red', 'yellow', 'blue']);
	PERFORM sanse.suppress_row_group('cov', 'overdue_tiers', 'overdue_now', ARRAY['overdue_now:red', 'overdue_now:yellow', 'overdue_now:blue']);
	PERFORM sanse.suppress_row_group('cov', 'met_tiers', 'window_met', ARRAY['window_met:red', 'window_met:yellow', 'window_met:blue']);
	PERFORM sanse.suppress_row_group('oe', 'closed_open', 'opened', ARRAY['closed', 'still_open']);
	PERFORM sanse.suppress_row_group('oe', 'levels', 'opened', ARRAY['reached_level_1', 'reached_level_2', 'reached_level_3', 'reached_level_4']);
	PERFORM sanse.suppress_row_group('lm', 'loop_closed_open', 'raised', ARRAY['closed', 'still_open']);
	INSERT INTO pg_temp.sc_member (gid, cid, sign)
	SELECT hashtextextended('md/' || c.area_id || '/' || c.k, 0), c.cid, CASE c.src WHEN 'oe' THEN 1 ELSE -1 END
	  FROM pg_temp.sc_cell c
	 WHERE (c.src = 'oe' AND c.m = 'opened') OR (c.src = 'histm' AND c.m = 'events_opened')
	UNION ALL
	SELECT hashtextextended('ml/' || c.area_id || '/' || split_part(c.k, '/', 1), 0), c.cid, CASE c.src WHEN 'lm' THEN 1 ELSE -1 END
	  FROM pg_temp.sc_cell c
	 WHERE (c.src = 'lm' AND c.m = 'raised') OR (c.src = 'histm' AND c.m = 'loop_raised')
	UNION ALL
	SELECT hashtextextended('gd/' || c.area_id || '/' || c.k, 0), c.cid, CASE c.src WHEN 'gdr' THEN 1 ELSE -1 END
	  FROM pg_temp.sc_cell c
	 WHERE (c.src = 'gdr' AND c.m = 'events_opened'
	        AND EXISTS (SELECT 1 FROM sanse.published_history_day p WHERE p.day = c.k::date))
	    OR c.src = 'histd';
	-- a month or day whose history has no hidden cell adds nothing: its
	-- frozen cells alone would only ask to hide the total when it is hidden
	DELETE FROM pg_temp.sc_member m
	 USING (SELECT x.gid FROM pg_temp.sc_member x JOIN pg_temp.sc_cell c ON c.cid = x.cid
	         WHERE x.sign = -1 AND c.frozen
	        EXCEPT
	        SELECT x.gid FROM pg_temp.sc_member x JOIN pg_temp.sc_cell c ON c.cid = x.cid
	         WHERE NOT c.frozen AND x.sign = 1 AND c.src IN ('oe', 'lm', 'gdr')) f
	 WHERE m.gid = f.gid;
	n_hidden := sanse.suppress_cells();
	SELECT count(*) INTO n_cells FROM pg_temp.sc_cell c WHERE NOT c.frozen;

	-- the published rows: hidden cells NULL, and what is built on them
	DELETE FROM sanse.published_coverage;
	DELETE FROM sanse.published_coverage_by_tier;
	DELETE FROM sanse.published_overdue_events;
	DELETE FROM sanse.published_loop_metrics;
	DELETE FROM sanse.published_grid_daily_report;
	DELETE FROM sanse.published_worker_checkin_rate;
	CREATE TEMP TABLE sc_shown ON COMMIT DROP AS
	SELECT c.src, c.area_id, c.k, jsonb_object_agg(c.m, CASE WHEN c.hidden THEN NULL ELSE c.val END) AS j
	  FROM pg_temp.sc_cell c WHERE NOT c.frozen
	 GROUP BY c.src, c.area_id, c.k;
	CREATE INDEX ON pg_temp.sc_shown (src, area_id, k);
	ANALYZE pg_temp.sc_shown;
	INSERT INTO sanse.published_coverage
	SELECT c.area_id, c.path, c.kind, c.name,
	       (s.j ->> 'residents')::bigint, (s.j ->> 'red')::bigint, (s.j ->> 'yellow')::bigint, (s.j ->> 'blue')::bigint,
	       (s.j ->> 'overdue_now')::bigint, (s.j ->> 'window_met')::bigint,
	       CASE WHEN c.residents > 0 AND s.j ->> 'residents' IS NOT NULL AND s.j ->> 'overdue_now' IS NOT NULL
	            THEN round(1 - c.overdue_now::numeric / c.residents, 4) END
	  FROM pg_temp.sc_cov c JOIN pg_temp.sc_shown s ON s.src = 'cov' AND s.area_id = c.area_id AND s.k = '';
	INSERT INTO sanse.published_coverage_by_tier
	SELECT c.area_id, c.path, c.kind, c.name, t.tier,
	       (s.j ->> t.tier)::bigint, (s.j ->> ('overdue_now:' || t.tier))::bigint, (s.j ->> ('window_met:' || t.tier))::bigint,
	       CASE WHEN t.n > 0 AND s.j ->> t.tier IS NOT NULL AND s.j ->> ('overdue_now:' || t.tier) IS NOT NULL
	            THEN round(1 - t.o::numeric / t.n, 4) END
	  FROM pg_temp.sc_cov c
	  JOIN pg_temp.sc_shown s ON s.src = 'cov' AND s.area_id = c.area_id AND s.k = ''
	 CROSS JOIN LATERAL (VALUES ('red', c.red, c.o_red), ('yellow', c.yellow, c.o_yellow), ('blue', c.blue, c.o_blue)) t(tier, n, o);
	INSERT INTO sanse.published_overdue_events
	SELECT o.area_id, o.path, o.kind, o.name, o.month,
	       (s.j ->> 'opened')::bigint, (s.j ->> 'closed')::bigint, (s.j ->> 'still_open')::bigint,
	       (s.j ->> 'reached_level_1')::bigint, (s.j ->> 'reached_level_2')::bigint,
	       (s.j ->> 'reached_level_3')::bigint, (s.j ->> 'reached_level_4')::bigint,
	       CASE WHEN s.j ->> 'closed' IS NOT NULL THEN o.median_time_to_close END
	  FROM pg_temp.sc_oe o JOIN pg_temp.sc_shown s ON s.src = 'oe' AND s.area_id = o.area_id AND s.k = o.month::text;
	INSERT INTO sanse.published_loop_metrics
	SELECT l.area_id, l.path, l.name, l.month, l.kind,
	       (s.j ->> 'raised')::bigint, (s.j ->> 'answered_in_time')::bigint,
	       CASE WHEN s.j ->> 'raised' IS NOT NULL AND s.j ->> 'answered_in_time' IS NOT NULL THEN l.response_rate END,
	       -- built on the arrivals, at least as many as answered in time
	       CASE WHEN s.j ->> 'raised' IS NOT NULL AND s.j ->> 'answered_in_time' IS NOT NULL THEN l.median_time_to_arrive END,
	       (s.j ->> 'handled')::bigint, (s.j ->> 'closed')::bigint, (s.j ->> 'reopened')::bigint,
	       NULL::numeric,	-- a mean over the ratings, whose number is not shown
	       (s.j ->> 'confirmed_solved')::bigint, (s.j ->> 'still_open')::bigint
	  FROM pg_temp.sc_lm l JOIN pg_temp.sc_shown s ON s.src = 'lm' AND s.area_id = l.area_id AND s.k = l.month || '/' || l.kind;
	INSERT INTO sanse.published_grid_daily_report
	SELECT g.area_id, g.path, g.name, g.day,
	       (s.j ->> 'visits')::bigint, (s.j ->> 'complete_checklists')::bigint, (s.j ->> 'flagged_visits')::bigint,
	       (s.j ->> 'events_opened')::bigint, (s.j ->> 'events_closed')::bigint
	  FROM pg_temp.sc_gdr g JOIN pg_temp.sc_shown s ON s.src = 'gdr' AND s.area_id = g.area_id AND s.k = g.day::text;
	INSERT INTO sanse.published_worker_checkin_rate
	SELECT t.worker_id, wk.name, wk.force, wk.area_id, t.month,
	       (s.j ->> 'windows_due')::bigint, (s.j ->> 'windows_met')::bigint,
	       CASE WHEN t.windows_met + t.windows_missed > 0 AND s.j ->> 'windows_due' IS NOT NULL AND s.j ->> 'windows_met' IS NOT NULL
	            THEN round(t.windows_met::numeric / (t.windows_met + t.windows_missed), 4) END,
	       (s.j ->> 'visits')::bigint, (s.j ->> 'flagged_visits')::bigint,
	       CASE WHEN t.visits > 0 AND s.j ->> 'visits' IS NOT NULL
	            THEN round(t.checklist_items::numeric / (cardinality(sanse.checklist_items()) * t.visits), 4) END
	  FROM sanse.worker_tally t
	  JOIN sanse.worker wk ON wk.id = t.worker_id
	  JOIN pg_temp.sc_shown s ON s.src = 'wk' AND s.area_id = t.worker_id AND s.k = t.month::text;

	INSERT INTO sanse.screen_publication (one, published_at, min_cell, cells, hidden)
	VALUES (true, at, sanse.min_cell_in_force(), n_cells, n_hidden)
	ON CONFLICT (one) DO UPDATE SET published_at = EXCLUDED.published_at, published_clock = EXCLUDED.published_clock,
	                                min_cell = EXCLUDED.min_cell,
	                                cells = EXCLUDED.cells, hidden = EXCLUDED.hidden;
	DROP TABLE pg_temp.sc_cov, pg_temp.sc_oe, pg_temp.sc_lm, pg_temp.sc_gdr, pg_temp.sc_shown;
	RETURN n_hidden;
END
$$;
REVOKE ALL ON FUNCTION publish_screen(timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION publish_screen(timestamptz) IS 'publish the screen views for aggregate-only roles: recorded days not yet published, then the views of now, primary and secondary cell suppression; returns how many cells it hid (run by sanse.sweep)';

-- The sweep's phase: publish when a recorded day is not published yet, or
-- the last publication is ten minutes old on the clock (a replay's sweeps,
-- an hour apart in their own time but not on the clock, publish once a day).
CREATE FUNCTION publish_screen_if_due(at timestamptz DEFAULT now()) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF coalesce((SELECT p.published_clock FROM sanse.screen_publication p)
	            BETWEEN pg_catalog.clock_timestamp() - interval '10 minutes' AND pg_catalog.clock_timestamp(), false)
	   AND NOT EXISTS (SELECT 1 FROM sanse.area_day_recorded r
	                    WHERE r.areas IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sanse.published_history_day p WHERE p.day = r.day)) THEN
		RETURN false;
	END IF;
	PERFORM sanse.publish_screen(at);
	RETURN true;
END
$$;
REVOKE ALL ON FUNCTION publish_screen_if_due(timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION publish_screen_if_due(timestamptz) IS 'publish_screen when a recorded day is not published yet or the last publication is ten minutes old on the clock; true when it published';

-- src/sql/78_history.sql
-----------------------------------------------------------------------------
-- The daily history of the screen (巡屏): at the first sweep after local
-- midnight (sanse.timezone) sanse records, for each day that ended and is
-- not recorded yet, one row per area (rolled up the hierarchy) with the
-- day's numbers as they stood at the day's end.  Every number is derived
-- from times in the data (tier history, visit times, due and closing times,
-- step times, arrivals), never from "current" columns, so a day recorded
-- late (sweeps stopped for days) gets exactly the row a sweep on time would
-- have written from the same data.  History starts at the first sweep: the
-- day before it is marked as the start and never recorded.
-----------------------------------------------------------------------------

-- One row per recorded day: the zone its boundaries were cut in, the time
-- of the sweep that recorded it and how many area rows it has (NULL: the
-- day before the history started, not recorded).
CREATE TABLE area_day_recorded (
	day date PRIMARY KEY,
	zone text NOT NULL,
	swept_at timestamptz NOT NULL,
	recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	areas integer
);
REVOKE ALL ON area_day_recorded FROM PUBLIC;
COMMENT ON TABLE area_day_recorded IS 'days recorded in area_day: zone, sweep time, area rows (NULL: the day before the history started)';

-- The day's own numbers of an area rolled up over its subtree; an area
-- without a resident in the programme nor an event that day has no row.
CREATE TABLE area_day (
	day date NOT NULL,
	area_id bigint NOT NULL,
	residents integer NOT NULL,
	red integer NOT NULL,
	yellow integer NOT NULL,
	blue integer NOT NULL,
	overdue integer NOT NULL,
	windows_met integer NOT NULL,
	events_opened integer NOT NULL,
	events_closed integer NOT NULL,
	open_level_1 integer NOT NULL,
	open_level_2 integer NOT NULL,
	open_level_3 integer NOT NULL,
	open_level_4 integer NOT NULL,
	loop_raised integer NOT NULL,
	loop_answered_in_time integer NOT NULL,
	PRIMARY KEY (day, area_id)
);
CREATE INDEX area_day_area ON area_day (area_id, day);
REVOKE ALL ON area_day FROM PUBLIC;
COMMENT ON TABLE area_day IS 'daily history per area (rolled up) as of the end of each local day: residents in the programme by tier, overdue, windows met, overdue events opened, closed and open by level, loop events raised and answered in time; written only by the sweep';

-- What the days are computed from, by time: tier changes after a day's end
-- (the tier at that end is then read from the history), and open overdue
-- events (with the closed ones found by event_closed_at).
CREATE INDEX tier_history_changed_at ON tier_history (changed_at);
CREATE INDEX event_open_overdue ON event (due_at) WHERE kind = 'overdue' AND status <> 'closed';

-- History is never rewritten: UPDATE and TRUNCATE are refused (the owner
-- may DELETE a tail of days to have the next sweep record them again).
CREATE FUNCTION area_day_keep() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID NOT IN ('sanse.area_day'::regclass, 'sanse.area_day_recorded'::regclass) THEN
		RAISE EXCEPTION 'trigger function area_day_keep() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse''s daily history.';
	END IF;
	RAISE EXCEPTION 'sanse.% keeps the daily history: % is refused', TG_TABLE_NAME, TG_OP
		USING ERRCODE = '42501', HINT = 'Recorded days are never changed; sanse.sweep records each day once.';
END
$$;
REVOKE ALL ON FUNCTION area_day_keep() FROM PUBLIC;
CREATE TRIGGER area_day_keep BEFORE UPDATE ON area_day
	FOR EACH ROW EXECUTE FUNCTION area_day_keep();
CREATE TRIGGER area_day_no_truncate BEFORE TRUNCATE ON area_day
	FOR EACH STATEMENT EXECUTE FUNCTION area_day_keep();
CREATE TRIGGER area_day_recorded_keep BEFORE UPDATE ON area_day_recorded
	FOR EACH ROW EXECUTE FUNCTION area_day_keep();
CREATE TRIGGER area_day_recorded_no_truncate BEFORE TRUNCATE ON area_day_recorded
	FOR EACH STATEMENT EXECUTE FUNCTION area_day_keep();
SELECT pg_catalog.pg_extension_config_dump('area_day', '');
SELECT pg_catalog.pg_extension_config_dump('area_day_recorded', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON area_day FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON area_day_recorded FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

-- One day's rows, as of its end e = next local midnight (every state below
-- is the one just before e; what happens at e belongs to the next day):
--   residents   registered before e, active then (active now, or deactivated
--               at or after e), with a tier at e (the current tier unless it
--               changed at or after e, then as tier_at reads the history);
--   overdue     those of them with an overdue event open at e (due before e,
--               not closed before e);
--   windows_met visits of the day that met a window (window_due set);
--   events      overdue events due (opened) and closed during the day, and
--               those open at e by the level their steps had reached before e;
--   loop        loop events raised during the day, and those of them whose
--               first arrival came before their first arrival step and before e.
-- Each part reads an index on time (tier_history_changed_at, visit_at,
-- event_due_at, event_open_overdue, event_closed_at), except the residents,
-- which are counted once a day; rolled up over the area hierarchy.
CREATE FUNCTION record_area_day(p_day date, p_zone text) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	s timestamptz := p_day::timestamp AT TIME ZONE p_zone;
	e timestamptz := (p_day + 1)::timestamp AT TIME ZONE p_zone;
	n int;
BEGIN
	INSERT INTO sanse.area_day (day, area_id, residents, red, yellow, blue, overdue, windows_met,
	                            events_opened, events_closed, open_level_1, open_level_2, open_level_3, open_level_4,
	                            loop_raised, loop_answered_in_time)
	WITH changed AS MATERIALIZED (
		SELECT h.resident_id FROM sanse.tier_history h WHERE h.changed_at >= e
		UNION
		SELECT r.id FROM sanse.resident r
		 WHERE r.forgotten_at IS NOT NULL AND NOT r.active AND r.deactivated_at >= e),
	-- their tier at e as tier_at gives it: the last change before e, else the
	-- first row (the registration), in one pass over their history
	changed_tier AS MATERIALIZED (
		SELECT DISTINCT ON (h.resident_id) h.resident_id, h.new_tier
		  FROM sanse.tier_history h
		 WHERE h.resident_id IN (SELECT c.resident_id FROM changed c)
		 ORDER BY h.resident_id, h.changed_at < e DESC,
		          CASE WHEN h.changed_at < e THEN h.changed_at END DESC, CASE WHEN h.changed_at < e THEN h.id END DESC,
		          h.changed_at, h.id),
	open_overdue AS MATERIALIZED (
		SELECT ev.id, ev.resident_id, ev.area_id FROM sanse.event ev
		 WHERE ev.kind = 'overdue' AND ev.status <> 'closed' AND ev.due_at < e
		UNION ALL
		SELECT ev.id, ev.resident_id, ev.area_id FROM sanse.event ev
		 WHERE ev.kind = 'overdue' AND ev.status = 'closed' AND ev.resolved_at >= e AND ev.due_at < e),
	in_programme AS (
		SELECT p.id, p.area_id, p.tier
		  FROM (SELECT r.id, r.area_id, CASE WHEN ct.resident_id IS NULL THEN r.tier ELSE ct.new_tier END AS tier
		          FROM sanse.resident r
		          LEFT JOIN changed_tier ct ON ct.resident_id = r.id
		         WHERE r.registered_at < e AND (r.active OR r.deactivated_at >= e)) p
		 WHERE p.tier IS NOT NULL),
	leaf (area_id, residents, red, yellow, blue, overdue, windows_met, events_opened, events_closed,
	      level, loop_raised, loop_answered_in_time) AS (
		SELECT p.area_id, 1, (p.tier = 'red')::int, (p.tier = 'yellow')::int, (p.tier = 'blue')::int,
		       (p.id IN (SELECT o.resident_id FROM open_overdue o))::int, 0, 0, 0, 0, 0, 0
		  FROM in_programme p
		UNION ALL
		SELECT v.area_id, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0
		  FROM sanse.visit v
		 WHERE v.at >= s AND v.at < e AND v.window_due IS NOT NULL
		UNION ALL
		SELECT ev.area_id, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0
		  FROM sanse.event ev
		 WHERE ev.due_at >= s AND ev.due_at < e AND ev.kind = 'overdue'
		UNION ALL
		SELECT ev.area_id, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0
		  FROM sanse.event ev
		 WHERE ev.status = 'closed' AND ev.resolved_at >= s AND ev.resolved_at < e AND ev.kind = 'overdue'
		UNION ALL
		SELECT o.area_id, 0, 0, 0, 0, 0, 0, 0, 0,
		       coalesce((SELECT max(st.level) FROM sanse.event_step st WHERE st.event_id = o.id AND st.at < e), 1),
		       0, 0
		  FROM open_overdue o
		UNION ALL
		SELECT ev.area_id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		       coalesce((SELECT min(t.at) FROM sanse.event_transition t
		                  WHERE t.event_id = ev.id AND t.stage = 'arrived' AND t.at < e)
		                < sanse.zone_add(ev.due_at, sanse.step_interval(ev.kind, ev.tier, 'called')), false)::int
		  FROM sanse.event ev
		 WHERE ev.due_at >= s AND ev.due_at < e AND ev.kind <> 'overdue'),
	per_area AS (
		SELECT l.area_id, sum(l.residents) AS residents, sum(l.red) AS red, sum(l.yellow) AS yellow,
		       sum(l.blue) AS blue, sum(l.overdue) AS overdue, sum(l.windows_met) AS windows_met,
		       sum(l.events_opened) AS events_opened, sum(l.events_closed) AS events_closed,
		       count(*) FILTER (WHERE l.level = 1) AS open_level_1, count(*) FILTER (WHERE l.level = 2) AS open_level_2,
		       count(*) FILTER (WHERE l.level = 3) AS open_level_3, count(*) FILTER (WHERE l.level = 4) AS open_level_4,
		       sum(l.loop_raised) AS loop_raised, sum(l.loop_answered_in_time) AS loop_answered_in_time
		  FROM leaf l
		 GROUP BY l.area_id)
	SELECT p_day, up.id, sum(g.residents), sum(g.red), sum(g.yellow), sum(g.blue), sum(g.overdue),
	       sum(g.windows_met), sum(g.events_opened), sum(g.events_closed),
	       sum(g.open_level_1), sum(g.open_level_2), sum(g.open_level_3), sum(g.open_level_4),
	       sum(g.loop_raised), sum(g.loop_answered_in_time)
	  FROM per_area g
	  JOIN sanse.area m ON m.id = g.area_id
	  JOIN sanse.area up ON sanse.path_contains(up.path, m.path)
	 GROUP BY up.id
	 ORDER BY up.id;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION record_area_day(date, text) FROM PUBLIC;
COMMENT ON FUNCTION record_area_day(date, text) IS 'write area_day rows of one local day (in a zone) as of its end; returns how many';

-- The sweep's phase: record every day that ended by at and is not recorded,
-- oldest first, at most max_days in one call (the rest at the next sweep).
-- The first call ever marks the day before its own as the history's start.
-- A sweep with nothing to record reads one index entry.
CREATE FUNCTION record_history(at timestamptz DEFAULT now(), max_days integer DEFAULT 7) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	zone text := sanse.current_zone();
	d date;
	n int := 0;
BEGIN
	PERFORM sanse.check_sweep_time(at);
	-- one recorder at a time (sweep holds this lock already)
	LOCK TABLE sanse.sweep_lock IN EXCLUSIVE MODE;
	SELECT r.day + 1 INTO d FROM sanse.area_day_recorded r ORDER BY r.day DESC LIMIT 1;
	IF d IS NULL THEN
		INSERT INTO sanse.area_day_recorded (day, zone, swept_at, areas)
		VALUES ((at AT TIME ZONE zone)::date - 1, zone, at, NULL);
		RETURN 0;
	END IF;
	WHILE n < max_days AND ((d + 1)::timestamp AT TIME ZONE zone) <= at LOOP
		INSERT INTO sanse.area_day_recorded (day, zone, swept_at, areas)
		VALUES (d, zone, at, sanse.record_area_day(d, zone));
		n := n + 1;
		d := d + 1;
	END LOOP;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION record_history(timestamptz, integer) FROM PUBLIC;
COMMENT ON FUNCTION record_history(timestamptz, integer) IS 'record in area_day every local day (sanse.timezone) that ended by at and is not recorded yet, oldest first, at most max_days; returns how many days (run by sanse.sweep)';

-- The history for the screen: every recorded day and area the role may see
-- (zeros where an area had no row), PII-free.  Areas seen as aggregates
-- only: the days as published once each by the sweep (published_coverage_
-- history, cells suppressed within the day, and never changed after); the
-- others: area_day itself.
CREATE VIEW coverage_history AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT a.id AS area_id, a.path::text AS path, a.kind, a.name, d.day,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.residents END AS residents,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.red END AS red,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.yellow END AS yellow,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.blue END AS blue,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.overdue END AS overdue,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.windows_met END AS windows_met,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.events_opened END AS events_opened,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.events_closed END AS events_closed,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_1 END AS open_level_1,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_2 END AS open_level_2,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_3 END AS open_level_3,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_4 END AS open_level_4,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.loop_raised END AS loop_raised,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.loop_answered_in_time END AS loop_answered_in_time,
	       h.coverage_rate, h.response_rate
	  FROM sanse.published_history_day d
	 CROSS JOIN sanse.area a
	  JOIN sanse.screen_areas() v ON v.id = a.id AND NOT v.exact
	  LEFT JOIN sanse.published_coverage_history h ON h.day = d.day AND h.area_id = a.id
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT a.id AS area_id, a.path::text AS path, a.kind, a.name, d.day,
	       coalesce(h.residents, 0)::bigint, coalesce(h.red, 0)::bigint, coalesce(h.yellow, 0)::bigint,
	       coalesce(h.blue, 0)::bigint, coalesce(h.overdue, 0)::bigint, coalesce(h.windows_met, 0)::bigint,
	       coalesce(h.events_opened, 0)::bigint, coalesce(h.events_closed, 0)::bigint,
	       coalesce(h.open_level_1, 0)::bigint, coalesce(h.open_level_2, 0)::bigint,
	       coalesce(h.open_level_3, 0)::bigint, coalesce(h.open_level_4, 0)::bigint,
	       coalesce(h.loop_raised, 0)::bigint, coalesce(h.loop_answered_in_time, 0)::bigint,
	       CASE WHEN h.residents > 0 THEN round(1 - h.overdue::numeric / h.residents, 4) END,
	       CASE WHEN h.loop_raised > 0 THEN round(h.loop_answered_in_time::numeric / h.loop_raised, 4) END
	  FROM sanse.area_day_recorded d
	 CROSS JOIN sanse.area a
	  JOIN sanse.screen_areas() v ON v.id = a.id AND v.exact
	  LEFT JOIN sanse.area_day h ON h.day = d.day AND h.area_id = a.id
	 WHERE d.areas IS NOT NULL AND sanse.screen_sees_exact()) u;
COMMENT ON VIEW coverage_history IS 'daily history per area (rolled up) the role may see and recorded local day, as of the day''s end: residents in the programme by tier, overdue, windows met, overdue events opened, closed and open by level, loop events raised and answered in time, coverage rate, response rate (for aggregate-only roles: the days as published by the sweep, cells suppressed)';

-- src/sql/80_views.sql
-----------------------------------------------------------------------------
-- Screen patrol (巡屏): views for supervisors and BI tools.  Paths and tiers
-- are text here, so a BI tool that knows nothing of ltree or sanse's types
-- (and has no sanse on its search_path) reads and filters them.
-----------------------------------------------------------------------------

-- Where a resident stands at a time: overdue (due passed), met (visited for
-- the current period: a rolling cadence after any visit in time, a calendar
-- one while its next window has not opened yet) or pending (window open, not
-- yet visited).  NULL when not in the programme.  No SET clause and no
-- sub-select, so the planner inlines it into the views.
CREATE FUNCTION visit_status(next_visit visit_window, last_visit_at timestamptz, cadence text,
                             at timestamptz DEFAULT now()) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE
	WHEN next_visit IS NULL THEN NULL
	WHEN sanse.due_at(next_visit) <= at THEN 'overdue'
	WHEN last_visit_at IS NOT NULL AND (at < sanse.opens_at(next_visit) OR cadence ILIKE 'rolling%') THEN 'met'
	ELSE 'pending' END;
COMMENT ON FUNCTION visit_status(visit_window, timestamptz, text, timestamptz) IS
	'overdue, met or pending for a resident''s window (and its tier''s cadence) at a time';

CREATE VIEW coverage_all AS
WITH per_grid AS (
	SELECT r.area_id,
	       count(*) AS residents,
	       count(*) FILTER (WHERE r.tier = 'red') AS red,
	       count(*) FILTER (WHERE r.tier = 'yellow') AS yellow,
	       count(*) FILTER (WHERE r.tier = 'blue') AS blue,
	       count(*) FILTER (WHERE s.status = 'overdue') AS overdue_now,
	       count(*) FILTER (WHERE s.status = 'met') AS window_met
	  FROM sanse.resident r
	  JOIN sanse.tier_policy p ON p.tier = r.tier
	 CROSS JOIN LATERAL (SELECT sanse.visit_status(r.next_visit, r.last_visit_at, p.cadence) AS status) s
	 WHERE r.active
	 GROUP BY r.area_id),
rolled AS (
	SELECT up.id,
	       sum(g.residents) AS residents, sum(g.red) AS red, sum(g.yellow) AS yellow, sum(g.blue) AS blue,
	       sum(g.overdue_now) AS overdue_now, sum(g.window_met) AS window_met
	  FROM per_grid g
	  JOIN sanse.area m ON m.id = g.area_id
	  JOIN sanse.area up ON up.path @> m.path
	 GROUP BY up.id)
SELECT a.id AS area_id, a.path::text AS path, a.kind, a.name,
       coalesce(r.residents, 0)::bigint AS residents,
       coalesce(r.red, 0)::bigint AS red,
       coalesce(r.yellow, 0)::bigint AS yellow,
       coalesce(r.blue, 0)::bigint AS blue,
       coalesce(r.overdue_now, 0)::bigint AS overdue_now,
       coalesce(r.window_met, 0)::bigint AS window_met,
       CASE WHEN r.residents > 0 THEN round(1 - r.overdue_now::numeric / r.residents, 4) END AS coverage_rate
  FROM sanse.area a
  LEFT JOIN rolled r ON r.id = a.id;
COMMENT ON VIEW coverage_all IS 'all areas, for the owner (read coverage): per area at every level (rolled up the hierarchy): residents in the programme by tier, overdue now, current window met, coverage rate = share not overdue';

-- coverage per area and tier, with the tier as text: what a BI tool that
-- knows nothing of sanse filters with WHERE tier = 'red'.
CREATE VIEW coverage_by_tier_all AS
WITH per_grid AS (
	SELECT r.area_id, r.tier,
	       count(*) AS residents,
	       count(*) FILTER (WHERE s.status = 'overdue') AS overdue_now,
	       count(*) FILTER (WHERE s.status = 'met') AS window_met
	  FROM sanse.resident r
	  JOIN sanse.tier_policy p ON p.tier = r.tier
	 CROSS JOIN LATERAL (SELECT sanse.visit_status(r.next_visit, r.last_visit_at, p.cadence) AS status) s
	 WHERE r.active
	 GROUP BY r.area_id, r.tier)
SELECT up.id AS area_id, up.path::text AS path, up.kind, up.name, g.tier::text AS tier,
       sum(g.residents)::bigint AS residents, sum(g.overdue_now)::bigint AS overdue_now,
       sum(g.window_met)::bigint AS window_met,
       round(1 - sum(g.overdue_now)::numeric / sum(g.residents), 4) AS coverage_rate
  FROM per_grid g
  JOIN sanse.area m ON m.id = g.area_id
  JOIN sanse.area up ON up.path @> m.path
 GROUP BY up.id, up.path, up.kind, up.name, g.tier;
COMMENT ON VIEW coverage_by_tier_all IS 'all areas, for the owner (read coverage_by_tier): coverage per area (rolled up) and tier (as text): residents, overdue now, window met, coverage rate';

-- Reads the tally kept as things happen (worker_tally): one row per (worker,
-- month) with activity, so a month of every worker costs milliseconds.
-- Workers of the areas the role may see; where its access is aggregate only,
-- the month as published by the sweep, small cells hidden (a worker's month
-- is no part of a published total: primary suppression only).
CREATE VIEW worker_checkin_rate AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.worker_id, wk.name AS worker_name, wk.force, p.area_id, p.month, p.windows_due, p.windows_met,
	       p.checkin_rate, p.visits, p.flagged_visits, p.checklist_completeness
	  FROM sanse.published_worker_checkin_rate p
	  JOIN sanse.worker wk ON wk.id = p.worker_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT t.worker_id, wk.name AS worker_name, wk.force, wk.area_id, t.month,
	       t.windows_met + t.windows_missed AS windows_due, t.windows_met::bigint,
	       CASE WHEN t.windows_met + t.windows_missed > 0
	            THEN round(t.windows_met::numeric / (t.windows_met + t.windows_missed), 4) END AS checkin_rate,
	       t.visits::bigint, t.flagged_visits::bigint,
	       CASE WHEN t.visits > 0
	            THEN round(t.checklist_items::numeric / (cardinality(checklist_items()) * t.visits), 4) END AS checklist_completeness
	  FROM sanse.worker_tally t
	  JOIN sanse.worker wk ON wk.id = t.worker_id
	  JOIN sanse.screen_areas() v ON v.id = wk.area_id AND v.exact
	 WHERE (t.windows_met + t.windows_missed > 0 OR t.visits > 0)
	   AND sanse.screen_sees_exact()) u;
COMMENT ON VIEW worker_checkin_rate IS 'per worker and month (sanse.timezone): windows due for the residents in their care when the outcome was recorded, met on time, check-in rate (打卡率), their visits, flagged visits, checklist completeness';

-- A month is computed per event (a filter on month cannot use an
-- index, but events are few).  The ancestor list is materialized so it is
-- joined by hash whatever the planner guesses about the month filter: a
-- gist probe per event cost 0.6 s for one month at 100x the paper.
CREATE VIEW overdue_events_all AS
WITH ev AS (
	SELECT e.area_id, date_trunc('month', e.due_at AT TIME ZONE sanse.current_zone())::date AS month,
	       e.status, e.level, e.resolved_at - e.due_at AS time_to_close
	  FROM sanse.event e
	 WHERE e.kind = 'overdue'),
up AS MATERIALIZED (
	SELECT m.id AS grid_id, a.id, a.path, a.kind, a.name
	  FROM sanse.area m
	  JOIN sanse.area a ON a.path @> m.path)
SELECT up.id AS area_id, up.path::text AS path, up.kind, up.name, ev.month,
       count(*) AS opened,
       count(*) FILTER (WHERE ev.status = 'closed') AS closed,
       count(*) FILTER (WHERE ev.status <> 'closed') AS still_open,
       count(*) FILTER (WHERE ev.level = 1) AS reached_level_1,
       count(*) FILTER (WHERE ev.level = 2) AS reached_level_2,
       count(*) FILTER (WHERE ev.level = 3) AS reached_level_3,
       count(*) FILTER (WHERE ev.level = 4) AS reached_level_4,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ev.time_to_close)
           FILTER (WHERE ev.status = 'closed') AS median_time_to_close
  FROM ev
  JOIN up ON up.grid_id = ev.area_id
 GROUP BY up.id, up.path, up.kind, up.name, ev.month;
COMMENT ON VIEW overdue_events_all IS 'all areas, for the owner (read overdue_events): per area (rolled up) and month of the due time: overdue events opened, closed, still open, by highest level reached, median time to close';

-- The days walked are the local dates (sanse.timezone, not the session's
-- TimeZone) that have a finite visit, due or closing time, found by a skip
-- scan of each index (the first time at or after the next day's start, one
-- probe per day that has rows): one row dated 4713 BC adds one day, never
-- the 6,700 years before the next one.  A row belongs to the day of its own local date;
-- the index range only narrows the search, and is three hours wider
-- than [local midnight, next local midnight) on both sides, because where
-- clocks go back over midnight the day starts at the first midnight while
-- AT TIME ZONE reads the second.  No zone has gone back more than three
-- hours since 1970 (Antarctica/Vostok in 1994 aside).
-- Summed per (grid, day) before the area's names are joined, so the sums
-- never sort or spill wide rows.
CREATE VIEW grid_daily_report_all AS
SELECT s.area_id, a.path::text AS path, a.name, s.day, s.visits, s.complete_checklists, s.flagged_visits,
       s.events_opened, s.events_closed
  FROM (
SELECT x.area_id, d.day,
       sum(x.visits)::bigint AS visits,
       sum(x.complete)::bigint AS complete_checklists,
       sum(x.flagged)::bigint AS flagged_visits,
       sum(x.opened)::bigint AS events_opened,
       sum(x.closed)::bigint AS events_closed
  FROM (SELECT g.day,
               (g.day::timestamp AT TIME ZONE sanse.current_zone()) - interval '3 hours' AS starts,
               ((g.day + 1)::timestamp AT TIME ZONE sanse.current_zone()) + interval '3 hours' AS ends
          FROM (WITH RECURSIVE
                vd(day) AS (
                	SELECT (min(v.at) AT TIME ZONE sanse.current_zone())::date FROM sanse.visit v
                	 WHERE v.at > '-infinity' AND v.at < 'infinity'
                	UNION ALL
                	SELECT greatest(vd.day + 1, n.day)
                	  FROM vd CROSS JOIN LATERAL (
                		SELECT (SELECT (min(v.at) AT TIME ZONE sanse.current_zone())::date FROM sanse.visit v
                		         WHERE v.at >= ((vd.day + 1)::timestamp AT TIME ZONE sanse.current_zone()) - interval '3 hours'
                		           AND v.at < 'infinity') AS day) n
                	 WHERE n.day IS NOT NULL),
                ed(day) AS (
                	SELECT (min(e.due_at) AT TIME ZONE sanse.current_zone())::date FROM sanse.event e
                	 WHERE e.due_at > '-infinity' AND e.due_at < 'infinity'
                	UNION ALL
                	SELECT greatest(ed.day + 1, n.day)
                	  FROM ed CROSS JOIN LATERAL (
                		SELECT (SELECT (min(e.due_at) AT TIME ZONE sanse.current_zone())::date FROM sanse.event e
                		         WHERE e.due_at >= ((ed.day + 1)::timestamp AT TIME ZONE sanse.current_zone()) - interval '3 hours'
                		           AND e.due_at < 'infinity') AS day) n
                	 WHERE n.day IS NOT NULL),
                cd(day) AS (
                	SELECT (min(e.resolved_at) AT TIME ZONE sanse.current_zone())::date FROM sanse.event e
                	 WHERE e.status = 'closed' AND e.resolved_at > '-infinity' AND e.resolved_at < 'infinity'
                	UNION ALL
                	SELECT greatest(cd.day + 1, n.day)
                	  FROM cd CROSS JOIN LATERAL (
                		SELECT (SELECT (min(e.resolved_at) AT TIME ZONE sanse.current_zone())::date FROM sanse.event e
                		         WHERE e.status = 'closed'
                		           AND e.resolved_at >= ((cd.day + 1)::timestamp AT TIME ZONE sanse.current_zone()) - interval '3 hours'
                		           AND e.resolved_at < 'infinity') AS day) n
                	 WHERE n.day IS NOT NULL)
                SELECT vd.day FROM vd WHERE vd.day IS NOT NULL
                UNION SELECT ed.day FROM ed WHERE ed.day IS NOT NULL
                UNION SELECT cd.day FROM cd WHERE cd.day IS NOT NULL) g) d
 CROSS JOIN LATERAL (
	SELECT v.area_id, 1 AS visits, (cardinality(v.checklist) = cardinality(checklist_items()))::int AS complete,
	       (v.flags <> '{}')::int AS flagged, 0 AS opened, 0 AS closed
	  FROM sanse.visit v
	 WHERE v.at >= d.starts AND v.at < d.ends AND (v.at AT TIME ZONE sanse.current_zone())::date = d.day
	UNION ALL
	SELECT e.area_id, 0, 0, 0, 1, 0
	  FROM sanse.event e
	 WHERE e.due_at >= d.starts AND e.due_at < d.ends AND (e.due_at AT TIME ZONE sanse.current_zone())::date = d.day
	UNION ALL
	SELECT e.area_id, 0, 0, 0, 0, 1
	  FROM sanse.event e
	 WHERE e.status = 'closed' AND e.resolved_at >= d.starts AND e.resolved_at < d.ends
	   AND (e.resolved_at AT TIME ZONE sanse.current_zone())::date = d.day) x
 GROUP BY x.area_id, d.day) s
  JOIN sanse.area a ON a.id = s.area_id;
COMMENT ON VIEW grid_daily_report_all IS 'all areas, for the owner (read grid_daily_report): daily grid work report (网格工作报告) per micro grid: visits, complete checklists, flagged visits, events opened (by due day) and closed';


-- The closed loop per area (rolled up like coverage), month of raising (in
-- sanse.timezone) and kind.  An event is answered in time when its first
-- arrival came before its first arrival step (raised + arrive_within).
CREATE VIEW loop_metrics_all AS
WITH ev AS (
	SELECT e.area_id, e.kind, date_trunc('month', e.due_at AT TIME ZONE sanse.current_zone())::date AS month,
	       e.status, e.rating, e.solved, e.evaluated_by, e.reopened,
	       a.first_arrival - e.due_at AS time_to_arrive,
	       a.first_arrival < sanse.zone_add(e.due_at, sanse.step_interval(e.kind, e.tier, 'called')) AS in_time,
	       EXISTS (SELECT 1 FROM sanse.event_transition t WHERE t.event_id = e.id AND t.stage = 'handled') AS was_handled
	  FROM sanse.event e
	  LEFT JOIN LATERAL (SELECT min(t.at) AS first_arrival FROM sanse.event_transition t
	                      WHERE t.event_id = e.id AND t.stage = 'arrived') a ON true
	 WHERE e.kind <> 'overdue'),
up AS MATERIALIZED (
	SELECT m.id AS grid_id, a.id, a.path, a.name
	  FROM sanse.area m
	  JOIN sanse.area a ON a.path @> m.path)
SELECT up.id AS area_id, up.path::text AS path, up.name, ev.month, ev.kind,
       count(*) AS raised,
       count(*) FILTER (WHERE ev.in_time) AS answered_in_time,
       round(count(*) FILTER (WHERE ev.in_time)::numeric / count(*), 4) AS response_rate,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ev.time_to_arrive) AS median_time_to_arrive,
       count(*) FILTER (WHERE ev.was_handled) AS handled,
       count(*) FILTER (WHERE ev.status = 'closed') AS closed,
       count(*) FILTER (WHERE ev.reopened > 0) AS reopened,
       round(avg(ev.rating), 2) AS mean_rating,
       count(*) FILTER (WHERE ev.status = 'closed' AND ev.evaluated_by = 'resident' AND ev.solved) AS confirmed_solved,
       count(*) FILTER (WHERE ev.status <> 'closed') AS still_open
  FROM ev
  JOIN up ON up.grid_id = ev.area_id
 GROUP BY up.id, up.path, up.name, ev.month, ev.kind;
COMMENT ON VIEW loop_metrics_all IS 'all areas, for the owner (read loop_metrics): closed loop per area (rolled up), month of raising and kind: raised, answered in time (first arrival before the first arrival step), response rate, median time to arrive, handled, closed, reopened, mean rating, confirmed solved by the resident, still open';

-- The supervisor's board: every open event of every kind.
CREATE VIEW open_events AS
SELECT e.id AS event_id, e.area_id, a.path::text AS path, a.name AS area_name, e.kind, e.scale,
       e.status AS stage, e.level, e.assignee_id, w.name AS assignee_name,
       now() - e.due_at AS age,
       e.next_step_at - now() AS time_left,
       e.parent_id
  FROM sanse.event e
  JOIN sanse.area a ON a.id = e.area_id
  LEFT JOIN sanse.worker w ON w.id = e.assignee_id
 WHERE e.status <> 'closed'
   AND e.area_id IN (SELECT sanse.granted_areas('read', current_user));
COMMENT ON VIEW open_events IS 'every open event of every kind: area, kind, scale, stage, level, assignee, age (since due or raised), time left on its clock (negative: a step is due)';

-- Visits a week a cadence asks for (a month counted as 30.44 days).
CREATE FUNCTION visits_per_week(cadence text) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
	WHEN lower(btrim(cadence)) LIKE 'rolling %'
	  THEN round(604800 / extract(epoch FROM justify_days(substr(btrim(cadence), 9)::interval)), 3)
	WHEN lower(btrim(cadence)) = 'calendar day' THEN 7
	WHEN lower(btrim(cadence)) = 'calendar week' THEN 1
	WHEN lower(btrim(cadence)) = 'calendar month' THEN round(7 / 30.44, 3)
	END;
COMMENT ON FUNCTION visits_per_week(text) IS 'visits a week a cadence asks for';

-- Who carries how much (paper 5.3.2: workers buried under visits): residents
-- in their care by tier, the visits a week their cadences ask for, open
-- events assigned to them, loop events they handled this month.
CREATE VIEW worker_load AS
SELECT w.id AS worker_id, w.name AS worker_name, w.force, w.role, w.area_id,
       coalesce(c.red, 0) AS red, coalesce(c.yellow, 0) AS yellow, coalesce(c.blue, 0) AS blue,
       coalesce(c.visits_per_week, 0) AS visits_per_week,
       coalesce(o.open_overdue, 0) AS open_overdue,
       coalesce(o.open_loop, 0) AS open_loop,
       o.highest_level,
       coalesce(h.handled_this_month, 0) AS handled_this_month
  FROM sanse.worker w
  LEFT JOIN LATERAL (
	SELECT count(*) FILTER (WHERE r.tier = 'red') AS red,
	       count(*) FILTER (WHERE r.tier = 'yellow') AS yellow,
	       count(*) FILTER (WHERE r.tier = 'blue') AS blue,
	       sum(sanse.visits_per_week(p.cadence)) AS visits_per_week
	  FROM sanse.carer ca
	  JOIN sanse.resident r ON r.id = ca.resident_id AND r.active
	  JOIN sanse.tier_policy p ON p.tier = r.tier
	 WHERE ca.worker_id = w.id) c ON true
  LEFT JOIN LATERAL (
	SELECT count(*) FILTER (WHERE e.kind = 'overdue') AS open_overdue,
	       count(*) FILTER (WHERE e.kind <> 'overdue') AS open_loop,
	       max(e.level) AS highest_level
	  FROM sanse.event e
	 WHERE e.assignee_id = w.id AND e.status <> 'closed') o ON true
  LEFT JOIN LATERAL (
	SELECT count(*) AS handled_this_month
	  FROM sanse.event_transition t
	 WHERE t.worker_id = w.id AND t.stage = 'handled'
	   AND t.at >= (date_trunc('month', now() AT TIME ZONE sanse.current_zone()) AT TIME ZONE sanse.current_zone())) h ON true
 WHERE w.active
   AND w.area_id IN (SELECT sanse.granted_areas('read', current_user));
COMMENT ON VIEW worker_load IS 'per active worker: residents in their care by tier, visits a week their cadences ask for, open events assigned (overdue, loop, highest level), loop events handled this month';

-----------------------------------------------------------------------------
-- The screen views clients read (spec 8): each role sees the areas granted
-- to it (every area for superusers and the owner).  An area it sees exactly
-- (read or care) is computed live; an area it sees as aggregates only is
-- read from what the sweep published (77_published.sql): small cells and
-- their complements hidden, so no hidden count can be worked out by
-- arithmetic, and nothing computed from people's rows when the role asks.
-- Names and paths are the areas' (and workers') as they are now, the
-- counts as published.  Each branch is gated by a one-time filter on the
-- caller, so a role with
-- aggregate access only never executes the live one (nor EXPLAIN ANALYZE
-- shows it run).
-----------------------------------------------------------------------------
CREATE VIEW coverage AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.area_id, a.path::text AS path, a.kind, a.name, p.residents, p.red, p.yellow, p.blue, p.overdue_now,
	       p.window_met, p.coverage_rate
	  FROM sanse.published_coverage p
	  JOIN sanse.area a ON a.id = p.area_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT c.area_id, c.path, c.kind, c.name, c.residents, c.red, c.yellow, c.blue, c.overdue_now, c.window_met,
	       c.coverage_rate
	  FROM sanse.coverage_all c
	  JOIN sanse.screen_areas() v ON v.id = c.area_id AND v.exact
	 WHERE sanse.screen_sees_exact()) u;
COMMENT ON VIEW coverage IS 'per area at every level (rolled up the hierarchy) the role may see: residents in the programme by tier, overdue now, current window met, coverage rate = share not overdue (for aggregate-only roles: as published by the sweep, cells suppressed)';

CREATE VIEW coverage_by_tier AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.area_id, a.path::text AS path, a.kind, a.name, p.tier, p.residents, p.overdue_now, p.window_met,
	       p.coverage_rate
	  FROM sanse.published_coverage_by_tier p
	  JOIN sanse.area a ON a.id = p.area_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT c.area_id, c.path, c.kind, c.name, c.tier, c.residents, c.overdue_now, c.window_met, c.coverage_rate
	  FROM sanse.coverage_by_tier_all c
	  JOIN sanse.screen_areas() v ON v.id = c.area_id AND v.exact
	 WHERE sanse.screen_sees_exact()) u;
COMMENT ON VIEW coverage_by_tier IS 'coverage per area (rolled up) the role may see and tier (as text): residents, overdue now, window met, coverage rate (for aggregate-only roles: as published by the sweep, every tier of every area, cells suppressed)';

CREATE VIEW overdue_events AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.area_id, a.path::text AS path, a.kind, a.name, p.month, p.opened, p.closed, p.still_open,
	       p.reached_level_1, p.reached_level_2, p.reached_level_3, p.reached_level_4, p.median_time_to_close
	  FROM sanse.published_overdue_events p
	  JOIN sanse.area a ON a.id = p.area_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT o.area_id, o.path, o.kind, o.name, o.month, o.opened, o.closed, o.still_open,
	       o.reached_level_1, o.reached_level_2, o.reached_level_3, o.reached_level_4, o.median_time_to_close
	  FROM sanse.overdue_events_all o
	  JOIN sanse.screen_areas() v ON v.id = o.area_id AND v.exact
	 WHERE sanse.screen_sees_exact()) u;
COMMENT ON VIEW overdue_events IS 'per area (rolled up) the role may see and month of the due time: overdue events opened, closed, still open, by highest level reached, median time to close (for aggregate-only roles: as published by the sweep, cells suppressed)';

CREATE VIEW grid_daily_report AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.area_id, a.path::text AS path, a.name, p.day, p.visits, p.complete_checklists, p.flagged_visits,
	       p.events_opened, p.events_closed
	  FROM sanse.published_grid_daily_report p
	  JOIN sanse.area a ON a.id = p.area_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT d.area_id, d.path, d.name, d.day, d.visits, d.complete_checklists, d.flagged_visits, d.events_opened, d.events_closed
	  FROM sanse.grid_daily_report_all d
	  JOIN sanse.screen_areas() v ON v.id = d.area_id AND v.exact
	 WHERE sanse.screen_sees_exact()) u;
COMMENT ON VIEW grid_daily_report IS 'daily grid work report (网格工作报告) per micro grid the role may see: visits, complete checklists, flagged visits, events opened (by due day) and closed (for aggregate-only roles: as published by the sweep, cells suppressed)';

CREATE VIEW loop_metrics AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.area_id, a.path::text AS path, a.name, p.month, p.kind, p.raised, p.answered_in_time, p.response_rate,
	       p.median_time_to_arrive, p.handled, p.closed, p.reopened, p.mean_rating, p.confirmed_solved, p.still_open
	  FROM sanse.published_loop_metrics p
	  JOIN sanse.area a ON a.id = p.area_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT l.area_id, l.path, l.name, l.month, l.kind, l.raised, l.answered_in_time, l.response_rate,
	       l.median_time_to_arrive, l.handled, l.closed, l.reopened, l.mean_rating, l.confirmed_solved, l.still_open
	  FROM sanse.loop_metrics_all l
	  JOIN sanse.screen_areas() v ON v.id = l.area_id AND v.exact
	 WHERE sanse.screen_sees_exact()) u;
COMMENT ON VIEW loop_metrics IS 'closed loop per area (rolled up) the role may see, month of raising and kind: raised, answered in time, response rate, median time to arrive, handled, closed, reopened, mean rating, confirmed solved by the resident, still open (for aggregate-only roles: as published by the sweep, cells suppressed, no mean rating)';

-- src/sql/85_privacy.sql
-----------------------------------------------------------------------------
-- Deletion when the purpose ends (spec 8): forgetting a resident erases
-- what identifies them — name, factors, ID hash, coordinates, door tokens,
-- the free texts about them, in the audit log too — and keeps the anonymous
-- rows statistics need (visits, events, steps, tier history without
-- reasons).  The sweep forgets residents inactive for longer than
-- sanse.retention.
--
-- Forgetting and the writes about a person exclude each other: both lock the
-- resident's row first (forgetting FOR UPDATE, in a statement of its own, so
-- its erasing statements see what a writer it waited for committed; check_in
-- and the loop's functions re-check forgotten_at once they hold the lock).
-----------------------------------------------------------------------------
CREATE FUNCTION forget(p_residents bigint[]) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
BEGIN
	DELETE FROM sanse.door_token t WHERE t.resident_id = ANY (p_residents);
	UPDATE sanse.tier_history h SET override_reason = NULL
	 WHERE h.resident_id = ANY (p_residents) AND h.override_reason IS NOT NULL;
	UPDATE sanse.visit v SET note = NULL WHERE v.resident_id = ANY (p_residents) AND v.note IS NOT NULL;
	UPDATE sanse.visit_withdrawn v SET note = NULL, reason = 'forgotten' WHERE v.resident_id = ANY (p_residents);
	UPDATE sanse.event_transition t SET note = NULL
	  FROM sanse.event e
	 WHERE t.event_id = e.id AND e.resident_id = ANY (p_residents) AND t.note IS NOT NULL;
	UPDATE sanse.event e SET detail = NULL, action = NULL, feedback = NULL
	 WHERE e.resident_id = ANY (p_residents)
	   AND (e.detail IS NOT NULL OR e.action IS NOT NULL OR e.feedback IS NOT NULL);
	UPDATE sanse.resident r
	   SET name = 'forgotten', factors = '{}', tier_override = NULL, override_reason = NULL,
	       lat = NULL, lon = NULL, id_number = '', active = false, forgotten_at = now()
	 WHERE r.id = ANY (p_residents) AND r.forgotten_at IS NULL;
	GET DIAGNOSTICS n = ROW_COUNT;
	-- the free text of the audit rows that name them (override reasons,
	-- lookup purposes): the act, who, when and the chain stay; the ground
	-- of a forgetting stays (it is the audit of the erasure)
	UPDATE sanse.audit_log a SET purpose = NULL, detail = NULL, text_key = NULL
	 WHERE a.resident_ids && p_residents AND a.act <> 'forget_resident'
	   AND (a.purpose IS NOT NULL OR a.detail IS NOT NULL OR a.text_key IS NOT NULL);
	RETURN n;
END
$$;

CREATE FUNCTION forget_resident(resident_id bigint, reason text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
BEGIN
	IF reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION 'forgetting a resident needs a reason' USING ERRCODE = '22023';
	ELSIF length(reason) > 2000 THEN
		RAISE EXCEPTION 'the reason is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	PERFORM 1 FROM sanse.resident r WHERE r.id = resident_id AND sanse.caller_sees(r.area_id, 'care')
	   FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'resident % does not exist', coalesce(resident_id::text, 'NULL') USING ERRCODE = '22023';
	END IF;
	PERFORM sanse.forget(ARRAY[resident_id]);
	PERFORM sanse.audit('forget_resident', ARRAY[resident_id], reason);
END
$$;
REVOKE ALL ON FUNCTION forget_resident(bigint, text), forget(bigint[]) FROM PUBLIC;
COMMENT ON FUNCTION forget_resident(bigint, text) IS 'erase what identifies a resident who left the programme (name, factors, ID hash, coordinates, door tokens, free texts), keeping the anonymous rows; audited';

-- sanse.retention as an interval, read in C (never a placeholder a role set
-- before the library was loaded in its session).
CREATE FUNCTION retention() RETURNS interval
	AS 'MODULE_PATHNAME', 'retention' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION retention() IS 'the setting sanse.retention, as an interval';

-- Residents inactive for longer than sanse.retention, forgotten by the sweep
-- (index resident_forget_due: the cost follows who is due).
CREATE FUNCTION forget_expired(at timestamptz) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	ids bigint[];
BEGIN
	-- locked first (a resident a writer holds is left for the next sweep)
	ids := ARRAY(SELECT r.id FROM sanse.resident r
	              WHERE NOT r.active AND r.forgotten_at IS NULL
	                AND r.deactivated_at < at - sanse.retention()
	              ORDER BY r.id
	                FOR UPDATE SKIP LOCKED);
	IF cardinality(ids) = 0 THEN
		RETURN 0;
	END IF;
	PERFORM sanse.audit('forget_resident', ids, 'retention: inactive longer than ' || sanse.retention()::text);
	RETURN sanse.forget(ids);
END
$$;
REVOKE ALL ON FUNCTION forget_expired(timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION forget_expired(timestamptz) IS 'forget the residents inactive for longer than sanse.retention at a time; returns how many';

-- src/sql/90_area_grant.sql
-----------------------------------------------------------------------------
-- Row-level security by area (spec 8).  Every table that holds a person or
-- their events shows a role (other than the owner, who bypasses it, and
-- superusers) only the rows of the areas granted to it: resident, visit and
-- event by their area, carer, tier history, door tokens and withdrawn visits
-- by their resident, steps and transitions by their event.  Writes to
-- residents and carers need care.  Fails closed: without a grant row a role
-- sees no row, whatever table privileges it was given by hand.
-----------------------------------------------------------------------------
-- Each policy is a probe per row (sees_area), so a single-row write costs
-- a hash lookup, not an expansion of the granted subtree; rows keyed by a
-- resident or an event find its area through the primary key.
ALTER TABLE resident ENABLE ROW LEVEL SECURITY;
CREATE POLICY resident_read ON resident FOR SELECT
	USING (sanse.sees_area(area_id, 'read'));
CREATE POLICY resident_insert ON resident FOR INSERT
	WITH CHECK (sanse.sees_area(area_id, 'care'));
CREATE POLICY resident_update ON resident FOR UPDATE
	USING (sanse.sees_area(area_id, 'care'))
	WITH CHECK (sanse.sees_area(area_id, 'care'));
CREATE POLICY resident_delete ON resident FOR DELETE
	USING (sanse.sees_area(area_id, 'care'));

ALTER TABLE carer ENABLE ROW LEVEL SECURITY;
CREATE POLICY carer_read ON carer FOR SELECT
	USING (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'read'));
CREATE POLICY carer_write ON carer FOR ALL
	USING (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'care'))
	WITH CHECK (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'care'));

ALTER TABLE visit ENABLE ROW LEVEL SECURITY;
CREATE POLICY visit_read ON visit FOR SELECT
	USING (sanse.sees_area(area_id, 'read'));
ALTER TABLE event ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_read ON event FOR SELECT
	USING (sanse.sees_area(area_id, 'read'));
ALTER TABLE event_step ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_step_read ON event_step FOR SELECT
	USING (sanse.sees_area((SELECT e.area_id FROM sanse.event e WHERE e.id = event_id), 'read'));
ALTER TABLE event_transition ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_transition_read ON event_transition FOR SELECT
	USING (sanse.sees_area((SELECT e.area_id FROM sanse.event e WHERE e.id = event_id), 'read'));
ALTER TABLE tier_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY tier_history_read ON tier_history FOR SELECT
	USING (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'read'));
ALTER TABLE door_token ENABLE ROW LEVEL SECURITY;
CREATE POLICY door_token_read ON door_token FOR SELECT
	USING (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'read'));
ALTER TABLE visit_withdrawn ENABLE ROW LEVEL SECURITY;
CREATE POLICY visit_withdrawn_read ON visit_withdrawn FOR SELECT
	USING (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'read'));

-- Grant changes run one at a time: each takes this table's lock in its
-- trigger and keeps it to commit, so two administrators' GRANTs and REVOKEs
-- never update one table's privileges at once (XX000 "tuple concurrently
-- updated"); the second waits for the first to commit.  Nobody holds a
-- privilege on it, so only the owner (the trigger runs as the owner) can
-- lock it: an advisory lock could be taken by any login and hold every grant
-- change up.
CREATE TABLE grant_lock ();
REVOKE ALL ON grant_lock FROM PUBLIC;
COMMENT ON TABLE grant_lock IS 'locked by the area_grant trigger until its transaction ends: grant changes one at a time; no rows, no grants';

-- A grant row is the whole recipe: inserting, changing or deleting one gives
-- its role exactly the privileges its strongest remaining access needs
-- (schema usage is everyone's), and takes back the others, including any
-- granted by hand on these objects.
CREATE FUNCTION area_grant_privileges() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	r name;
	roles name[];
	best text;
	aggregate_views text := 'sanse.coverage, sanse.coverage_by_tier, sanse.overdue_events, sanse.grid_daily_report, sanse.loop_metrics, sanse.worker_checkin_rate, sanse.coverage_history';
	-- the district's structure has no row-level security: grant rows manage
	-- only SELECT on it (its writes are granted by hand)
	structure text := 'sanse.area, sanse.worker, sanse.department';
	read_relations text := 'sanse.carer, sanse.visit, sanse.event, sanse.event_step, '
	                       'sanse.event_transition, sanse.tier_history, sanse.open_events, sanse.worker_load, sanse.carer_gaps, sanse.sweep_status';
	resident_read_columns text;
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.area_grant'::regclass THEN
		RAISE EXCEPTION 'trigger function area_grant_privileges() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.area_grant.';
	END IF;
	-- one grant change at a time, to commit (see grant_lock); the queries
	-- below then see what the previous one committed
	LOCK TABLE sanse.grant_lock IN EXCLUSIVE MODE;
	SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO resident_read_columns
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = 'sanse.resident'::regclass AND a.attnum > 0 AND NOT a.attisdropped
	   AND a.attname NOT IN ('factors', 'lat', 'lon', 'id_number_hash', 'id_number');
	-- each branch names only the transition tables its event has
	IF TG_OP = 'INSERT' THEN
		roles := ARRAY(SELECT DISTINCT n.role FROM new_rows n);
	ELSIF TG_OP = 'DELETE' THEN
		roles := ARRAY(SELECT DISTINCT o.role FROM old_rows o);
	ELSE
		roles := ARRAY(SELECT n.role FROM new_rows n UNION SELECT o.role FROM old_rows o);
	END IF;
	FOREACH r IN ARRAY roles LOOP
		CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles x WHERE x.rolname = r);
		SELECT CASE max(CASE g.access WHEN 'care' THEN 3 WHEN 'read' THEN 2 ELSE 1 END)
		         WHEN 3 THEN 'care' WHEN 2 THEN 'read' WHEN 1 THEN 'aggregate' END
		  INTO best FROM sanse.area_grant g
		 WHERE g.role = r AND g.role_oid = (SELECT x.oid FROM pg_catalog.pg_roles x WHERE x.rolname = r);
		EXECUTE format('REVOKE ALL ON %s FROM %I', aggregate_views, r);
		EXECUTE format('REVOKE ALL ON %s FROM %I', read_relations, r);
		EXECUTE format('REVOKE SELECT ON %s FROM %I', structure, r);
		EXECUTE format('REVOKE ALL ON sanse.resident FROM %I', r);
		EXECUTE format('REVOKE ALL (%s, factors, lat, lon, id_number_hash, id_number) ON sanse.resident FROM %I',
		               resident_read_columns, r);
		IF best IS NOT NULL THEN
			EXECUTE format('GRANT SELECT ON %s TO %I', aggregate_views, r);
		END IF;
		IF best IN ('read', 'care') THEN
			EXECUTE format('GRANT SELECT ON %s TO %I', read_relations, r);
			EXECUTE format('GRANT SELECT ON %s TO %I', structure, r);
			EXECUTE format('GRANT SELECT (%s) ON sanse.resident TO %I', resident_read_columns, r);
		END IF;
		IF best = 'care' THEN
			EXECUTE format('GRANT SELECT, INSERT, UPDATE ON sanse.resident TO %I', r);
			EXECUTE format('GRANT INSERT, UPDATE, DELETE ON sanse.carer TO %I', r);
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;
CREATE TRIGGER area_grant_privileges_insert AFTER INSERT ON area_grant
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION area_grant_privileges();
CREATE TRIGGER area_grant_privileges_update AFTER UPDATE ON area_grant
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION area_grant_privileges();
CREATE TRIGGER area_grant_privileges_delete AFTER DELETE ON area_grant
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION area_grant_privileges();
CREATE TRIGGER area_grant_audit AFTER INSERT OR UPDATE OR DELETE ON area_grant
	FOR EACH STATEMENT EXECUTE FUNCTION audit_change();
CREATE TRIGGER area_grant_no_truncate BEFORE TRUNCATE ON area_grant
	FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON area_grant FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
REVOKE ALL ON FUNCTION area_grant_privileges() FROM PUBLIC;

-- The views that filter by grant run as their owner, under no row-level
-- security: as security barriers, a caller's own functions in a WHERE
-- clause run on the rows they return, never below the filter or the
-- aggregates (only leakproof operators, like = on a path, are pushed down).
ALTER VIEW coverage SET (security_barrier = true);
ALTER VIEW coverage_by_tier SET (security_barrier = true);
ALTER VIEW overdue_events SET (security_barrier = true);
ALTER VIEW grid_daily_report SET (security_barrier = true);
ALTER VIEW loop_metrics SET (security_barrier = true);
ALTER VIEW coverage_history SET (security_barrier = true);
ALTER VIEW worker_checkin_rate SET (security_barrier = true);
ALTER VIEW open_events SET (security_barrier = true);
ALTER VIEW worker_load SET (security_barrier = true);
ALTER VIEW carer_gaps SET (security_barrier = true);

-- Sanse's lock bound (75_sweeps.sql) on the closed loop's functions, as on
-- check_in and sweep: a town's role that locks a table or holds rows holds
-- another town's call up for at most 5 s, which then fails with 55P03.
DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
	          WHERE p.pronamespace = 'sanse'::regnamespace
	            AND p.proname IN ('raise_event', 'dispatch_task', 'arrive', 'handle_event', 'whistle', 'feed_back', 'evaluate')
	          ORDER BY p.oid LOOP
		EXECUTE format('ALTER FUNCTION %s SET lock_timeout = %L', f, '5s');
	END LOOP;
END
$$;
