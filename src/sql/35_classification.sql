-----------------------------------------------------------------------------
-- Classification rules (风险分级)
-----------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION factor_names() RETURNS text[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION factor_names() IS 'the pinned risk factor names';
CREATE OR REPLACE FUNCTION factors_are_valid(factors text[]) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION factors_are_valid(text[]) IS 'true for known factors; raises 22023 naming an unknown one';

CREATE TABLE classification_rule (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tier risk_tier NOT NULL,
	all_of text[] NOT NULL CHECK (cardinality(all_of) > 0 AND factors_are_valid(all_of)),
	enabled boolean NOT NULL DEFAULT true,
	builtin boolean NOT NULL DEFAULT false,
	note text,
	CONSTRAINT classification_rule_note_length CHECK (length(note) <= @SANSE_FREE_TEXT_MAX@)
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

CREATE OR REPLACE FUNCTION classify(factors text[]) RETURNS risk_tier
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION classify(text[]) IS 'most severe tier among the enabled rules these factors satisfy; NULL if none';

CREATE OR REPLACE FUNCTION classify_explain(factors text[])
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

CREATE OR REPLACE FUNCTION classification_rule_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'classification_rule_guard', '{sanse.classification_rule}');
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
