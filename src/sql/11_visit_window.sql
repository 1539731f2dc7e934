-----------------------------------------------------------------------------
-- visit_window: [opens, due), 16 bytes, ordered by due then opens.
-- Text I/O follows DateStyle and TimeZone, so it is STABLE like timestamptz's.
-----------------------------------------------------------------------------

CREATE TYPE visit_window;

CREATE OR REPLACE FUNCTION visit_window_in(cstring) RETURNS visit_window
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION visit_window_out(visit_window) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION visit_window_recv(internal) RETURNS visit_window
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION visit_window_send(visit_window) RETURNS bytea
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

CREATE OR REPLACE FUNCTION visit_window(opens timestamptz, due timestamptz) RETURNS visit_window
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION visit_window(timestamptz, timestamptz) IS 'window [opens, due)';
CREATE OR REPLACE FUNCTION opens_at(visit_window) RETURNS timestamptz
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION opens_at(visit_window) IS 'first instant inside the window';
CREATE OR REPLACE FUNCTION due_at(visit_window) RETURNS timestamptz
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION due_at(visit_window) IS 'due time: first instant after the window';
CREATE OR REPLACE FUNCTION is_overdue(visit_window, timestamptz) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION is_overdue(visit_window, timestamptz) IS 'true when the time is at or after the due time';
CREATE OR REPLACE FUNCTION lateness(visit_window, timestamptz) RETURNS interval
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION lateness(visit_window, timestamptz) IS 'time past the due time, zero when not overdue';

CREATE OR REPLACE FUNCTION visit_window_contains(visit_window, timestamptz) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION visit_window_contained(timestamptz, visit_window) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION visit_window_overlaps(visit_window, visit_window) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION visit_window_eq(visit_window, visit_window) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION visit_window_ne(visit_window, visit_window) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION visit_window_lt(visit_window, visit_window) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION visit_window_le(visit_window, visit_window) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION visit_window_gt(visit_window, visit_window) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION visit_window_ge(visit_window, visit_window) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION visit_window_cmp(visit_window, visit_window) RETURNS int4
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION visit_window_sortsupport(internal) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION visit_window_hash(visit_window) RETURNS int4
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION visit_window_hash_extended(visit_window, int8) RETURNS int8
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

CREATE OR REPLACE FUNCTION visit_window_larger(visit_window, visit_window) RETURNS visit_window
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION visit_window_smaller(visit_window, visit_window) RETURNS visit_window
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
