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
LANGUAGE plpgsql SET search_path = pg_catalog, public, sanse AS $$
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
CREATE INDEX worker_area ON worker (area_id) WHERE role <> 'member' AND active;
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
	SELECT public.hmac(convert_to(upper(btrim(id_number)), 'UTF8'), s.secret, 'sha256')
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
	area_kind text NOT NULL GENERATED ALWAYS AS ('micro_grid') STORED,
	CONSTRAINT resident_lives_in_a_micro_grid FOREIGN KEY (area_id, area_kind) REFERENCES area (id, kind),
	CONSTRAINT resident_clear_id_number_never_stored CHECK (id_number IS NULL)
);
CREATE INDEX resident_area ON resident (area_id);
CREATE INDEX resident_factors ON resident USING gin (factors);
CREATE INDEX resident_id_number_hash ON resident (id_number_hash) WHERE id_number_hash IS NOT NULL;
COMMENT ON TABLE resident IS 'residents under special care; tier, computed_tier and next_visit are maintained by sanse';
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
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	INSERT INTO sanse.tier_history (resident_id, new_computed_tier, new_override, new_tier, override_reason)
	SELECT n.id, n.computed_tier, n.tier_override, n.tier, n.override_reason
	  FROM new_rows n
	 WHERE n.computed_tier IS NOT NULL OR n.tier_override IS NOT NULL;
	RETURN NULL;
END
$$;
CREATE FUNCTION resident_history_update() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	INSERT INTO sanse.tier_history (resident_id, old_computed_tier, new_computed_tier,
	                                old_override, new_override, old_tier, new_tier, override_reason)
	SELECT n.id, o.computed_tier, n.computed_tier, o.tier_override, n.tier_override, o.tier, n.tier,
	       n.override_reason
	  FROM new_rows n JOIN old_rows o USING (id)
	 WHERE o.computed_tier IS DISTINCT FROM n.computed_tier
	    OR o.tier_override IS DISTINCT FROM n.tier_override
	    OR o.tier IS DISTINCT FROM n.tier;
	RETURN NULL;
END
$$;
CREATE TRIGGER resident_history_insert AFTER INSERT ON resident
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION resident_history_insert();
CREATE TRIGGER resident_history_update AFTER UPDATE ON resident
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION resident_history_update();

-- Rule edits re-classify the residents whose factors satisfy an old or new rule.
CREATE FUNCTION classification_rule_reclassify() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	rule_factors text[];
BEGIN
	FOR rule_factors IN
		SELECT DISTINCT c.all_of FROM (
			SELECT n.all_of FROM new_rows n
			UNION ALL
			SELECT o.all_of FROM old_rows o) c
	LOOP
		UPDATE sanse.resident r SET factors = r.factors
		 WHERE r.factors @> rule_factors
		   AND r.computed_tier IS DISTINCT FROM sanse.classify(r.factors);
	END LOOP;
	RETURN NULL;
END
$$;
CREATE FUNCTION classification_rule_reclassify_insert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	rule_factors text[];
BEGIN
	FOR rule_factors IN SELECT DISTINCT n.all_of FROM new_rows n LOOP
		UPDATE sanse.resident r SET factors = r.factors
		 WHERE r.factors @> rule_factors
		   AND r.computed_tier IS DISTINCT FROM sanse.classify(r.factors);
	END LOOP;
	RETURN NULL;
END
$$;
CREATE FUNCTION classification_rule_reclassify_delete() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	rule_factors text[];
BEGIN
	FOR rule_factors IN SELECT DISTINCT o.all_of FROM old_rows o LOOP
		UPDATE sanse.resident r SET factors = r.factors
		 WHERE r.factors @> rule_factors
		   AND r.computed_tier IS DISTINCT FROM sanse.classify(r.factors);
	END LOOP;
	RETURN NULL;
END
$$;
-- named to run after classification_rule_cache (triggers fire in name order)
CREATE TRIGGER classification_rule_reclassify_insert AFTER INSERT ON classification_rule
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION classification_rule_reclassify_insert();
CREATE TRIGGER classification_rule_reclassify_update AFTER UPDATE ON classification_rule
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION classification_rule_reclassify();
CREATE TRIGGER classification_rule_reclassify_delete AFTER DELETE ON classification_rule
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION classification_rule_reclassify_delete();

-- A tier's new cadence re-derives next_visit for that tier's residents.
CREATE FUNCTION tier_policy_rederive() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
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
