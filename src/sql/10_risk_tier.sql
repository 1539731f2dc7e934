-----------------------------------------------------------------------------
-- risk_tier: 1 byte, codes 1 blue < 2 yellow < 3 red.  Comparison and hashing
-- reuse core's "char" functions, which compare the byte unsigned.
-----------------------------------------------------------------------------

CREATE TYPE risk_tier;
CREATE OR REPLACE FUNCTION risk_tier_in(cstring) RETURNS risk_tier
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION risk_tier_out(risk_tier) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION risk_tier_recv(internal) RETURNS risk_tier
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION risk_tier_send(risk_tier) RETURNS bytea
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

CREATE OR REPLACE FUNCTION risk_tier_eq(risk_tier, risk_tier) RETURNS bool
	AS 'chareq' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION risk_tier_ne(risk_tier, risk_tier) RETURNS bool
	AS 'charne' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION risk_tier_lt(risk_tier, risk_tier) RETURNS bool
	AS 'charlt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION risk_tier_le(risk_tier, risk_tier) RETURNS bool
	AS 'charle' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION risk_tier_gt(risk_tier, risk_tier) RETURNS bool
	AS 'chargt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION risk_tier_ge(risk_tier, risk_tier) RETURNS bool
	AS 'charge' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION risk_tier_cmp(risk_tier, risk_tier) RETURNS int4
	AS 'btcharcmp' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION risk_tier_hash(risk_tier) RETURNS int4
	AS 'hashchar' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION risk_tier_hash_extended(risk_tier, int8) RETURNS int8
	AS 'hashcharextended' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE OR REPLACE FUNCTION risk_tier_larger(risk_tier, risk_tier) RETURNS risk_tier
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION risk_tier_smaller(risk_tier, risk_tier) RETURNS risk_tier
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
