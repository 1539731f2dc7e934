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
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, sanse
AS $$
	SELECT sanse.window_after(anchor, p.cadence, sanse.current_zone())
	  FROM sanse.tier_policy p
	 WHERE p.tier = window_after.tier
$$;
COMMENT ON FUNCTION window_after(risk_tier, timestamptz) IS
	'window in which the next visit after anchor is due for a tier, in zone sanse.timezone';
