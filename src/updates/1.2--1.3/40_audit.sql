-- 1.2 -> 1.3, issue 18 items 5, 6 and 12 (forgetting): the audit log's
-- hash chain and erasable free text, an override reason changed alone
-- audited, forgetting and the writes about a person excluding each other.

-- the audit log: the text's seal and key, the chain
ALTER TABLE sanse.audit_log ADD COLUMN text_key bytea, ADD COLUMN text_seal bytea,
	ADD COLUMN prev_id bigint, ADD COLUMN hash bytea;
CREATE INDEX audit_log_resident_ids ON sanse.audit_log USING gin (resident_ids);
COMMENT ON COLUMN sanse.audit_log.text_key IS 'random key of the text''s seal; erased with the text';
COMMENT ON COLUMN sanse.audit_log.text_seal IS 'hmac-sha256(purpose and detail, text_key): in the chain, so a changed text is evident';
COMMENT ON COLUMN sanse.audit_log.prev_id IS 'the row before this one in the chain (NULL for the first)';
COMMENT ON COLUMN sanse.audit_log.hash IS 'sha256 of the previous row''s hash and this row''s act, who, when, residents and text seal; written by sanse';

-- only forgetting's erasure of free text passes
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
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

-- Rows written before 1.3: the text of those naming a forgotten resident is
-- erased (the new rule allows that), then every row is sealed and chained in
-- id order (with the append-only trigger held back for this one update).
UPDATE sanse.audit_log a SET purpose = NULL, detail = NULL, text_key = NULL
 WHERE a.act <> 'forget_resident' AND (a.purpose IS NOT NULL OR a.detail IS NOT NULL)
   AND EXISTS (SELECT 1 FROM sanse.resident r WHERE r.id = ANY (a.resident_ids) AND r.forgotten_at IS NOT NULL);
ALTER TABLE sanse.audit_log DISABLE TRIGGER audit_log_append_only;
DO $$
DECLARE
	a sanse.audit_log;
	prev sanse.audit_log;
BEGIN
	FOR a IN SELECT * FROM sanse.audit_log x ORDER BY x.id LOOP
		a.prev_id := prev.id;
		IF a.purpose IS NOT NULL OR a.detail IS NOT NULL THEN
			a.text_key := sanse.audit_text_key();
			a.text_seal := sanse.audit_text_seal(a.purpose, a.detail, a.text_key);
		END IF;
		a.hash := sanse.audit_row_hash(prev.hash, a);
		UPDATE sanse.audit_log x SET text_key = a.text_key, text_seal = a.text_seal, prev_id = a.prev_id, hash = a.hash
		 WHERE x.id = a.id;
		prev := a;
	END LOOP;
	IF prev.id IS NOT NULL THEN
		INSERT INTO sanse.audit_chain (one, last_id, last_hash) VALUES (true, prev.id, prev.hash);
	END IF;
END
$$;
ALTER TABLE sanse.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;

CREATE TRIGGER audit_log_chain BEFORE INSERT ON sanse.audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
ALTER TABLE sanse.audit_log ENABLE ALWAYS TRIGGER audit_log_chain;
CREATE CONSTRAINT TRIGGER audit_log_chain_head AFTER INSERT ON sanse.audit_log
	DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION audit_log_chain_head();
ALTER TABLE sanse.audit_log ENABLE ALWAYS TRIGGER audit_log_chain_head;

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
REVOKE ALL ON FUNCTION audit_log_chain(), audit_log_chain_head() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_row_hash(bytea, audit_log), audit_text_seal(text, text, bytea), audit_text_key() FROM PUBLIC;

-- forgetting erases the audit's free text; it and the sweep lock first
CREATE OR REPLACE FUNCTION forget(p_residents bigint[]) RETURNS integer
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

CREATE OR REPLACE FUNCTION forget_resident(resident_id bigint, reason text) RETURNS void
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

CREATE OR REPLACE FUNCTION forget_expired(at timestamptz) RETURNS integer
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

-- an override's reason rewritten alone: audited
CREATE OR REPLACE FUNCTION resident_audit_override() RETURNS trigger
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
CREATE OR REPLACE TRIGGER resident_audit_override_update AFTER UPDATE ON resident
	FOR EACH ROW WHEN ((OLD.tier_override IS DISTINCT FROM NEW.tier_override
	                    OR (NEW.tier_override IS NOT NULL AND OLD.override_reason IS DISTINCT FROM NEW.override_reason))
	                   AND NEW.forgotten_at IS NULL)
	EXECUTE FUNCTION resident_audit_override();

-- a withdrawal that waited for a forgetting is refused
CREATE OR REPLACE FUNCTION withdraw_visit(visit_id bigint, reason text) RETURNS void
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
