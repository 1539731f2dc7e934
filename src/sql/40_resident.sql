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

CREATE OR REPLACE FUNCTION resident_hash_id_number() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'resident_hash_id_number', '{sanse.resident}');
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
CREATE OR REPLACE FUNCTION resident_maintain() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
CREATE TRIGGER resident_20_maintain BEFORE INSERT OR UPDATE ON resident
	FOR EACH ROW EXECUTE FUNCTION resident_maintain();

-- Matching records across departments is a sensitive act: it needs a
-- purpose, and it is audited with the residents it found.
CREATE OR REPLACE FUNCTION find_resident_by_id_number(id_number text, purpose text) RETURNS SETOF bigint
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
CREATE OR REPLACE FUNCTION resident_audit_override() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'resident_audit_override', '{sanse.resident}');
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
CREATE OR REPLACE FUNCTION resident_deactivated() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'resident_deactivated', '{sanse.resident}');
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

CREATE OR REPLACE FUNCTION resident_history_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'resident_history_insert', '{sanse.resident}');
	INSERT INTO sanse.tier_history (resident_id, changed_by, new_computed_tier, new_override, new_tier, override_reason)
	SELECT n.id, n.written_by, n.computed_tier, n.tier_override, n.tier, n.override_reason
	  FROM new_rows n
	 WHERE n.computed_tier IS NOT NULL OR n.tier_override IS NOT NULL;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION resident_history_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'resident_history_update', '{sanse.resident}');
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
CREATE OR REPLACE FUNCTION reclassify_residents_having(rule_factors text[]) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	UPDATE sanse.resident r SET factors = r.factors
	 WHERE r.factors @> reclassify_residents_having.rule_factors
	   AND r.computed_tier IS DISTINCT FROM sanse.classify(r.factors);
END;

CREATE OR REPLACE FUNCTION classification_rule_reclassify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'classification_rule_reclassify', '{sanse.classification_rule}');
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

CREATE OR REPLACE FUNCTION tier_policy_rederive() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'tier_policy_rederive', '{sanse.tier_policy}');
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
CREATE OR REPLACE FUNCTION resident_guard() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
CREATE TRIGGER resident_05_guard BEFORE INSERT OR UPDATE ON resident
	FOR EACH ROW EXECUTE FUNCTION resident_guard();
-- Index for the overdue sweep: residents by due time.  Not partial, so
-- ANALYZE keeps statistics on due times and the planner sees how few are due.
CREATE INDEX resident_due ON resident (due_at(next_visit));
-- The tier a resident had at a time, from its history (the registration
-- tier before the first change, the current tier without history).
-- (PL/pgSQL: planned once a session; a back-dated check-in calls it.)
CREATE OR REPLACE FUNCTION tier_at(p_resident bigint, p_at timestamptz) RETURNS risk_tier
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
BEGIN
	RETURN coalesce(
	         (SELECT h.new_tier FROM sanse.tier_history h
	           WHERE h.resident_id = tier_at.p_resident AND h.changed_at <= tier_at.p_at
	           ORDER BY h.changed_at DESC, h.id DESC LIMIT 1),
	         (SELECT h.new_tier FROM sanse.tier_history h
	           WHERE h.resident_id = tier_at.p_resident
	           ORDER BY h.changed_at, h.id LIMIT 1),
	         (SELECT r.tier FROM sanse.resident r WHERE r.id = tier_at.p_resident));
END
$$;
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
