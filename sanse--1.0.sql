-- sanse 1.0: three-colour household assistance (三色入户帮)
\echo Use "CREATE EXTENSION sanse" to load this file. \quit

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
COMMENT ON AGGREGATE max(risk_tier) IS 'most severe tier';
COMMENT ON AGGREGATE min(risk_tier) IS 'least severe tier';

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

-- Inserting a tier that has a policy replaces it.  This is what lets pg_dump
-- restore edited policies over the defaults CREATE EXTENSION puts back.
CREATE FUNCTION tier_policy_upsert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
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

-- Every tier always has a policy.
CREATE FUNCTION tier_policy_keep() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_OP = 'DELETE' OR OLD.tier <> NEW.tier THEN
		RAISE EXCEPTION 'every risk tier must keep its policy'
			USING ERRCODE = '23001',
				  DETAIL = format('The policy of tier %s cannot be removed; update its cadence instead.', OLD.tier);
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
COMMENT ON TABLE area IS 'grid hierarchy: district > town > village > total_grid > general_grid > micro_grid';

-- A child is exactly one level below an existing parent; moves and deletes
-- must not strand residents, workers or child areas.
CREATE FUNCTION area_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	parent sanse.area;
BEGIN
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

CREATE TABLE worker (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name text NOT NULL,
	force text NOT NULL CHECK (force IN ('department_staff', 'community_cadre', 'grid_officer',
	                                     'service_professional', 'volunteer')),
	role text NOT NULL DEFAULT 'member'
		CHECK (role IN ('member', 'micro_grid_leader', 'general_grid_leader', 'total_grid_leader', 'task_force')),
	area_id bigint NOT NULL REFERENCES area (id),
	db_role name,
	active boolean NOT NULL DEFAULT true,
	-- the kind of area a leader's role requires; NULL for members (not checked)
	led_area_kind text GENERATED ALWAYS AS (
		CASE role WHEN 'micro_grid_leader' THEN 'micro_grid'
		          WHEN 'general_grid_leader' THEN 'general_grid'
		          WHEN 'total_grid_leader' THEN 'total_grid'
		          WHEN 'task_force' THEN 'district' END) STORED,
	UNIQUE (id, force),
	CONSTRAINT worker_leads_area_of_its_kind FOREIGN KEY (area_id, led_area_kind) REFERENCES area (id, kind)
);
CREATE INDEX worker_area ON worker (area_id);
COMMENT ON TABLE worker IS 'grid workers of the five forces; leaders lead the area of their role''s kind';

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
	note text
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

-- Built-in rules can be switched off but not edited or deleted, so a dump
-- restored over a fresh CREATE EXTENSION reproduces them exactly; inserting
-- a built-in rule that exists (what pg_dump does) carries over enabled/note.
CREATE FUNCTION classification_rule_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
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

-- pg_dump restores the old secret over the one CREATE EXTENSION made, so
-- hashes and door tokens keep working after a restore.
CREATE FUNCTION installation_secret_replace() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
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
	CONSTRAINT resident_lives_in_a_micro_grid FOREIGN KEY (area_id, area_kind) REFERENCES area (id, kind),
	CONSTRAINT resident_clear_id_number_never_stored CHECK (id_number IS NULL)
);
CREATE INDEX resident_area ON resident (area_id);
CREATE INDEX resident_factors ON resident USING gin (factors);
CREATE INDEX resident_id_number_hash ON resident (id_number_hash) WHERE id_number_hash IS NOT NULL;
COMMENT ON TABLE resident IS 'residents under special care; tier, computed_tier and next_visit are maintained by sanse';
COMMENT ON COLUMN resident.written_by IS 'the role that last wrote the row (maintained; the history names it)';
COMMENT ON COLUMN resident.id_number IS 'write a clear ID card number here; it is replaced by id_number_hash and never stored';

-- 10: the clear ID number becomes its keyed hash (runs as owner to read the secret)
CREATE FUNCTION resident_hash_id_number() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
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

CREATE FUNCTION find_resident_by_id_number(id_number text) RETURNS SETOF bigint
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT r.id FROM sanse.resident r
	 WHERE r.id_number_hash = sanse.id_number_hash(find_resident_by_id_number.id_number)
	 ORDER BY r.id;
END;
REVOKE ALL ON FUNCTION find_resident_by_id_number(text) FROM PUBLIC;
COMMENT ON FUNCTION find_resident_by_id_number(text) IS 'ids of residents registered with this clear ID card number';

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
	WHEN (OLD.computed_tier IS DISTINCT FROM NEW.computed_tier
	      OR OLD.tier_override IS DISTINCT FROM NEW.tier_override
	      OR OLD.tier IS DISTINCT FROM NEW.tier)
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
-- A rule or policy edit first waits for resident writes in flight and holds
-- new ones until it commits (they then reload the rules), so no resident is
-- classified with rules that are about to change.
CREATE FUNCTION classification_rule_reclassify() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
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

-- A tier's new cadence re-derives next_visit for that tier's residents.
CREATE FUNCTION tier_policy_rederive() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	LOCK TABLE sanse.resident IN SHARE ROW EXCLUSIVE MODE;
	UPDATE sanse.resident r SET next_visit = NULL
	  FROM new_rows n JOIN old_rows o USING (tier)
	 WHERE r.tier = n.tier AND r.active AND n.cadence IS DISTINCT FROM o.cadence;
	RETURN NULL;
END
$$;
CREATE TRIGGER tier_policy_rederive AFTER UPDATE ON tier_policy
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION tier_policy_rederive();

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

CREATE FUNCTION carer_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	w sanse.worker;
BEGIN
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

CREATE VIEW carer_gaps AS
SELECT r.id AS resident_id, r.area_id, r.tier,
       array_agg(f.force ORDER BY f.ord) AS missing_forces
  FROM resident r
 CROSS JOIN unnest(ARRAY['department_staff', 'community_cadre', 'grid_officer',
                         'service_professional', 'volunteer']) WITH ORDINALITY AS f(force, ord)
 WHERE r.active
   AND NOT EXISTS (SELECT 1 FROM carer c JOIN worker w ON w.id = c.worker_id
                    WHERE c.resident_id = r.id AND c.force = f.force AND w.active)
 GROUP BY r.id, r.area_id, r.tier;
COMMENT ON VIEW carer_gaps IS 'active residents whose five-for-one is incomplete, with the forces missing (inactive carers count as missing)';

-----------------------------------------------------------------------------
-- pg_dump keeps user data
-----------------------------------------------------------------------------

SELECT pg_catalog.pg_extension_config_dump('area', '');
SELECT pg_catalog.pg_extension_config_dump('area_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('worker', '');
SELECT pg_catalog.pg_extension_config_dump('worker_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('classification_rule', '');
SELECT pg_catalog.pg_extension_config_dump('classification_rule_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('installation_secret', '');
SELECT pg_catalog.pg_extension_config_dump('resident', '');
SELECT pg_catalog.pg_extension_config_dump('resident_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tier_history', '');
SELECT pg_catalog.pg_extension_config_dump('tier_history_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('carer', '');

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

CREATE FUNCTION door_token(resident_id bigint) RETURNS text
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_column
DECLARE
	current_nonce bytea;
BEGIN
	PERFORM 1 FROM sanse.resident r WHERE r.id = door_token.resident_id FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'resident % does not exist', door_token.resident_id USING ERRCODE = '22023';
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
	PERFORM 1 FROM sanse.resident r WHERE r.id = revoke_door_token.resident_id FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'resident % does not exist', revoke_door_token.resident_id USING ERRCODE = '22023';
	END IF;
	UPDATE sanse.door_token t SET revoked_at = now()
	 WHERE t.resident_id = revoke_door_token.resident_id AND t.revoked_at IS NULL;
	RETURN sanse.door_token(revoke_door_token.resident_id);
END
$$;
REVOKE ALL ON FUNCTION revoke_door_token(bigint) FROM PUBLIC;
COMMENT ON FUNCTION revoke_door_token(bigint) IS 'kill the resident''s door token and return a new one';

CREATE TRIGGER installation_secret_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON installation_secret
	FOR EACH STATEMENT EXECUTE FUNCTION cache_invalidate();

-----------------------------------------------------------------------------
-- Visits (入户走访) and check-in
-----------------------------------------------------------------------------

CREATE FUNCTION checklist_items() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['ask_health', 'ask_diet', 'ask_family', 'check_water', 'check_power', 'check_gas',
             'clear_clutter', 'clear_garbage', 'clear_passage'];
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

-----------------------------------------------------------------------------
-- Overdue events and the three-level backup (三级补位)
-----------------------------------------------------------------------------

CREATE TABLE event (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	resident_id bigint NOT NULL REFERENCES resident (id),
	area_id bigint NOT NULL REFERENCES area (id),
	kind text NOT NULL DEFAULT 'overdue' CHECK (kind IN ('overdue')),
	status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
	tier risk_tier NOT NULL,
	level smallint NOT NULL DEFAULT 1 CHECK (level BETWEEN 1 AND 4),
	assignee_id bigint REFERENCES worker (id),
	due_at timestamptz NOT NULL,
	level_since timestamptz NOT NULL,
	next_step_at timestamptz,
	resolved_at timestamptz,
	visit_id bigint REFERENCES visit (id),
	closed_by bigint REFERENCES worker (id),
	created_at timestamptz NOT NULL DEFAULT now(),
	CHECK ((status = 'closed') = (resolved_at IS NOT NULL)),
	CHECK (status = 'closed' OR level = 4 OR next_step_at IS NOT NULL)
);
CREATE UNIQUE INDEX event_overdue_once ON event (resident_id, due_at) WHERE kind = 'overdue';
CREATE INDEX event_open_next_step ON event (next_step_at) WHERE status <> 'closed';
CREATE INDEX event_area_due ON event (area_id, due_at);
COMMENT ON TABLE event IS 'overdue events: one per missed window, escalating micro grid > general grid > total grid > task force';
COMMENT ON COLUMN event.level_since IS 'logical time the current level was reached (derived from due_at and escalate_after)';
COMMENT ON COLUMN event.next_step_at IS 'logical time of the next escalation step while open';

CREATE TABLE event_step (
	event_id bigint NOT NULL REFERENCES event (id) ON DELETE CASCADE,
	level smallint NOT NULL CHECK (level BETWEEN 1 AND 4),
	assignee_id bigint REFERENCES worker (id),
	at timestamptz NOT NULL,
	PRIMARY KEY (event_id, level)
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
	   AND w.role = (ARRAY['micro_grid_leader', 'general_grid_leader', 'total_grid_leader', 'task_force'])[leader_for.level]
	 ORDER BY w.id
	 LIMIT 1;
END;
COMMENT ON FUNCTION leader_for(bigint, int) IS 'lowest-id active leader of a micro grid''s level: 1 micro grid, 2 general grid, 3 total grid, 4 task force of the district';

-- Apply every escalation step due by p_at (optionally for one resident),
-- each at its logical time; returns the number of steps.
CREATE FUNCTION escalate_events(p_at timestamptz, p_resident bigint DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
	total int := 0;
BEGIN
	LOOP
		IF p_resident IS NULL THEN
			WITH stepped AS (
				UPDATE sanse.event e
				   SET level = e.level + 1,
				       level_since = e.next_step_at,
				       assignee_id = sanse.leader_for(e.area_id, e.level + 1),
				       next_step_at = CASE WHEN e.level + 1 < 4
				                           THEN sanse.zone_add(e.next_step_at, p.escalate_after) END
				  FROM sanse.tier_policy p
				 WHERE p.tier = e.tier AND e.status <> 'closed' AND e.next_step_at <= p_at
				RETURNING e.id, e.level, e.assignee_id, e.level_since)
			INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
			SELECT id, level, assignee_id, level_since FROM stepped;
		ELSE
			WITH stepped AS (
				UPDATE sanse.event e
				   SET level = e.level + 1,
				       level_since = e.next_step_at,
				       assignee_id = sanse.leader_for(e.area_id, e.level + 1),
				       next_step_at = CASE WHEN e.level + 1 < 4
				                           THEN sanse.zone_add(e.next_step_at, p.escalate_after) END
				  FROM sanse.tier_policy p
				 WHERE p.tier = e.tier AND e.resident_id = p_resident
				   AND e.status <> 'closed' AND e.next_step_at <= p_at
				RETURNING e.id, e.level, e.assignee_id, e.level_since)
			INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
			SELECT id, level, assignee_id, level_since FROM stepped;
		END IF;
		GET DIAGNOSTICS n = ROW_COUNT;
		EXIT WHEN n = 0;
		total := total + n;
	END LOOP;
	RETURN total;
END
$$;

-- Open the overdue event of (resident, due) at level 1 unless it exists;
-- p_tier is the tier whose window was missed.
CREATE FUNCTION open_overdue_event(p_resident bigint, p_due timestamptz, p_tier risk_tier) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
BEGIN
	WITH created AS (
		INSERT INTO sanse.event (resident_id, area_id, tier, level, assignee_id, due_at, level_since, next_step_at)
		SELECT r.id, r.area_id, p_tier, 1, sanse.leader_for(r.area_id, 1), p_due, p_due,
		       sanse.zone_add(p_due, p.escalate_after)
		  FROM sanse.resident r JOIN sanse.tier_policy p ON p.tier = p_tier
		 WHERE r.id = p_resident
		ON CONFLICT (resident_id, due_at) WHERE kind = 'overdue' DO NOTHING
		RETURNING id, assignee_id, level_since)
	INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
	SELECT id, 1, assignee_id, level_since FROM created;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-- A change that moves or ends the window of a resident whose window had
-- already passed (a downgrade, a deactivation, a new cadence) must not hide
-- the missed visit: its event is opened now, as a sweep would have.
CREATE FUNCTION resident_keep_missed_window() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF sanse.due_at(OLD.next_visit) <= now() THEN
		PERFORM sanse.open_overdue_event(OLD.id, sanse.due_at(OLD.next_visit), OLD.tier);
	END IF;
	RETURN NULL;
END
$$;

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
		PERFORM sanse.open_overdue_event(p_resident, p_late_due, (SELECT r.tier FROM sanse.resident r WHERE r.id = p_resident));
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

CREATE FUNCTION check_in(token text, worker_id bigint, at timestamptz DEFAULT now(),
                         checklist text[] DEFAULT '{}', note text DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, sanse;
COMMENT ON FUNCTION check_in(text, bigint, timestamptz, text[], text) IS
	'record a door check-in; returns the visit id (the same id for a retried scan)';

CREATE TRIGGER resident_keep_missed_window AFTER UPDATE ON resident
	FOR EACH ROW
	WHEN (OLD.next_visit IS NOT NULL AND OLD.next_visit IS DISTINCT FROM NEW.next_visit
	      AND OLD.last_visit_at IS NOT DISTINCT FROM NEW.last_visit_at)
	EXECUTE FUNCTION resident_keep_missed_window();

-- Index for the overdue sweep: residents by due time.  Not partial, so
-- ANALYZE keeps statistics on due times and the planner sees how few are due.
CREATE INDEX resident_due ON resident (due_at(next_visit));

-----------------------------------------------------------------------------
-- Sweeps
-----------------------------------------------------------------------------

CREATE FUNCTION sweep_overdue(at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
BEGIN
	-- Lock the due residents (a check-in holding one makes us wait and
	-- re-check its new window) and open the event of each missed window once.
	WITH due AS (
		SELECT r.id, r.area_id, r.tier, sanse.due_at(r.next_visit) AS due
		  FROM sanse.resident r
		 WHERE r.active AND r.next_visit IS NOT NULL
		   AND sanse.due_at(r.next_visit) <= sweep_overdue.at
		   FOR NO KEY UPDATE OF r),
	created AS (
		INSERT INTO sanse.event (resident_id, area_id, tier, level, assignee_id, due_at, level_since, next_step_at)
		SELECT d.id, d.area_id, d.tier, 1, sanse.leader_for(d.area_id, 1), d.due, d.due,
		       sanse.zone_add(d.due, p.escalate_after)
		  FROM due d JOIN sanse.tier_policy p ON p.tier = d.tier
		 WHERE NOT EXISTS (SELECT 1 FROM sanse.event e
		                    WHERE e.resident_id = d.id AND e.due_at = d.due AND e.kind = 'overdue')
		ON CONFLICT (resident_id, due_at) WHERE kind = 'overdue' DO NOTHING
		RETURNING id, assignee_id, level_since)
	INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
	SELECT id, 1, assignee_id, level_since FROM created;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION sweep_overdue(timestamptz) IS 'open the overdue event of every window due by at that has none; returns how many';

CREATE FUNCTION sweep_escalations(at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, sanse
RETURN sanse.escalate_events(at);
COMMENT ON FUNCTION sweep_escalations(timestamptz) IS 'apply every escalation step due by at, each at its logical time; returns how many';

CREATE FUNCTION sweep(at timestamptz DEFAULT now(),
                      OUT overdue_opened integer, OUT escalations integer, OUT skipped boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	-- one sweep at a time; an overlapping run skips instead of doubling work
	IF NOT pg_try_advisory_xact_lock(hashtext('sanse.sweep')) THEN
		overdue_opened := 0;
		escalations := 0;
		skipped := true;
		RETURN;
	END IF;
	overdue_opened := sanse.sweep_overdue(at);
	escalations := sanse.sweep_escalations(at);
	skipped := false;
END
$$;
COMMENT ON FUNCTION sweep(timestamptz) IS 'sweep_overdue then sweep_escalations under an advisory lock';

CREATE FUNCTION schedule_sweeps(schedule text DEFAULT '* * * * *') RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = '55000',
			      HINT = format('CREATE EXTENSION pg_cron here if this is the database named by cron.database_name; '
			                    'otherwise run in that database: SELECT cron.schedule_in_database(%L, %L, %L, %L);',
			                    'sanse-sweep', schedule, 'SELECT sanse.sweep()', current_database());
	END IF;
	RETURN cron.schedule('sanse-sweep', schedule, 'SELECT sanse.sweep()');
END
$$;
COMMENT ON FUNCTION schedule_sweeps(text) IS 'create or update the pg_cron job sanse-sweep that runs sanse.sweep()';

CREATE FUNCTION unschedule_sweeps() RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	job bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = '55000',
			      HINT = 'In the database named by cron.database_name run: SELECT cron.unschedule(''sanse-sweep'');';
	END IF;
	SELECT j.jobid INTO job FROM cron.job j WHERE j.jobname = 'sanse-sweep' AND j.username = current_user;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	RETURN cron.unschedule(job);
END
$$;
COMMENT ON FUNCTION unschedule_sweeps() IS 'drop the pg_cron job sanse-sweep; false if there was none';

SELECT pg_catalog.pg_extension_config_dump('door_token', '');
SELECT pg_catalog.pg_extension_config_dump('visit', '');
SELECT pg_catalog.pg_extension_config_dump('visit_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('event', '');
SELECT pg_catalog.pg_extension_config_dump('event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('event_step', '');

-----------------------------------------------------------------------------
-- Screen patrol (巡屏): views for supervisors and BI tools
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

CREATE VIEW coverage AS
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
	SELECT subpath(m.path, 0, k) AS path,
	       sum(g.residents) AS residents, sum(g.red) AS red, sum(g.yellow) AS yellow, sum(g.blue) AS blue,
	       sum(g.overdue_now) AS overdue_now, sum(g.window_met) AS window_met
	  FROM per_grid g
	  JOIN sanse.area m ON m.id = g.area_id
	 CROSS JOIN LATERAL generate_series(1, nlevel(m.path)) k
	 GROUP BY 1)
SELECT a.id AS area_id, a.path, a.kind, a.name,
       coalesce(r.residents, 0)::bigint AS residents,
       coalesce(r.red, 0)::bigint AS red,
       coalesce(r.yellow, 0)::bigint AS yellow,
       coalesce(r.blue, 0)::bigint AS blue,
       coalesce(r.overdue_now, 0)::bigint AS overdue_now,
       coalesce(r.window_met, 0)::bigint AS window_met,
       CASE WHEN r.residents > 0 THEN round(1 - r.overdue_now::numeric / r.residents, 4) END AS coverage_rate
  FROM sanse.area a
  LEFT JOIN rolled r ON r.path = a.path;
COMMENT ON VIEW coverage IS 'per area at every level (rolled up the hierarchy): residents in the programme by tier, overdue now, current window met, coverage rate = share not overdue';

-- One row per contribution, summed per (worker, month): a filter on
-- worker_id reaches the carer and visit indexes through the UNION ALL.
CREATE VIEW worker_checkin_rate AS
SELECT x.worker_id, wk.name AS worker_name, wk.force, wk.area_id, x.month,
       sum(x.due)::bigint AS windows_due,
       sum(x.met)::bigint AS windows_met,
       CASE WHEN sum(x.due) > 0 THEN round(sum(x.met)::numeric / sum(x.due), 4) END AS checkin_rate,
       sum(x.visits)::bigint AS visits,
       sum(x.flagged)::bigint AS flagged_visits,
       round(avg(x.completeness), 4) AS checklist_completeness
  FROM (
	-- windows of the residents in the worker's care met on time (visit_window_met: once each)
	SELECT c.worker_id, date_trunc('month', w.due AT TIME ZONE sanse.current_zone())::date AS month,
	       1 AS due, 1 AS met, 0 AS visits, 0 AS flagged, NULL::numeric AS completeness
	  FROM sanse.carer c
	  JOIN (SELECT v.resident_id, v.window_due AS due FROM sanse.visit v
	         WHERE v.window_due IS NOT NULL AND v.window_due <= now()) w ON w.resident_id = c.resident_id
	UNION ALL
	-- and missed: one overdue event each
	SELECT c.worker_id, date_trunc('month', e.due_at AT TIME ZONE sanse.current_zone())::date,
	       1, 0, 0, 0, NULL
	  FROM sanse.carer c JOIN sanse.event e ON e.resident_id = c.resident_id AND e.kind = 'overdue'
	UNION ALL
	-- the worker's own check-ins
	SELECT v.worker_id, date_trunc('month', v.at AT TIME ZONE sanse.current_zone())::date,
	       0, 0, 1, (v.flags <> '{}')::int, cardinality(v.checklist) / 9.0
	  FROM sanse.visit v) x
  JOIN sanse.worker wk ON wk.id = x.worker_id
 GROUP BY x.worker_id, wk.name, wk.force, wk.area_id, x.month;
COMMENT ON VIEW worker_checkin_rate IS 'per worker and month (sanse.timezone): windows due for the residents in their care, met on time, check-in rate (打卡率), their visits, flagged visits, checklist completeness';

CREATE VIEW overdue_events AS
WITH ev AS (
	SELECT e.area_id, date_trunc('month', e.due_at AT TIME ZONE sanse.current_zone())::date AS month,
	       e.status, e.level, e.resolved_at - e.due_at AS time_to_close
	  FROM sanse.event e
	 WHERE e.kind = 'overdue')
SELECT a.id AS area_id, a.path, a.kind, a.name, ev.month,
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
  JOIN sanse.area m ON m.id = ev.area_id
  JOIN sanse.area a ON a.path @> m.path
 GROUP BY a.id, a.path, a.kind, a.name, ev.month;
COMMENT ON VIEW overdue_events IS 'per area (rolled up) and month of the due time: overdue events opened, closed, still open, by highest level reached, median time to close';

-- Summed per (micro grid, day) from one UNION ALL, so a filter on area_id
-- reaches the visit and event indexes.
CREATE VIEW grid_daily_report AS
SELECT x.area_id, a.path, a.name, x.day,
       sum(x.visits)::bigint AS visits,
       sum(x.complete)::bigint AS complete_checklists,
       sum(x.flagged)::bigint AS flagged_visits,
       sum(x.opened)::bigint AS events_opened,
       sum(x.closed)::bigint AS events_closed
  FROM (
	SELECT v.area_id, (v.at AT TIME ZONE sanse.current_zone())::date AS day, 1 AS visits,
	       (cardinality(v.checklist) = 9)::int AS complete, (v.flags <> '{}')::int AS flagged,
	       0 AS opened, 0 AS closed
	  FROM sanse.visit v
	UNION ALL
	SELECT e.area_id, (e.due_at AT TIME ZONE sanse.current_zone())::date, 0, 0, 0, 1, 0
	  FROM sanse.event e
	UNION ALL
	SELECT e.area_id, (e.resolved_at AT TIME ZONE sanse.current_zone())::date, 0, 0, 0, 0, 1
	  FROM sanse.event e WHERE e.status = 'closed') x
  JOIN sanse.area a ON a.id = x.area_id
 GROUP BY x.area_id, a.path, a.name, x.day;
COMMENT ON VIEW grid_daily_report IS 'daily grid work report (网格工作报告) per micro grid: visits, complete checklists, flagged visits, events opened (by due day) and closed';

-----------------------------------------------------------------------------
-- Restore: pg_restore with session_replication_role = replica loads rows as
-- they were, without re-running sanse's triggers over them; only the
-- triggers that merge restored defaults and drop cached copies still fire.
-----------------------------------------------------------------------------

ALTER TABLE tier_policy ENABLE ALWAYS TRIGGER tier_policy_upsert;
ALTER TABLE tier_policy ENABLE ALWAYS TRIGGER tier_policy_cache;
ALTER TABLE classification_rule ENABLE ALWAYS TRIGGER classification_rule_guard;
ALTER TABLE classification_rule ENABLE ALWAYS TRIGGER classification_rule_cache;
ALTER TABLE installation_secret ENABLE ALWAYS TRIGGER installation_secret_replace;
ALTER TABLE installation_secret ENABLE ALWAYS TRIGGER installation_secret_cache;
