-----------------------------------------------------------------------------
-- Readings (spec 10): gateways append them with COPY or multi-row INSERT
-- into sanse.reading, partitioned by day (days in sanse.timezone) on the
-- reading's own time.  A day's partition is sanse.reading_YYYYMMDD, made by
-- sanse.reading_partition(day) (the sweep makes them ahead and drops those
-- older than sanse.reading_retention).  No row-level security on readings:
-- PostgreSQL refuses COPY FROM into a table with row-level security, and a
-- gateway appends with COPY; nobody but the owner reads the table itself,
-- roles read readings through sanse.device_reading (by area grant).
-----------------------------------------------------------------------------
CREATE TABLE reading (
	device_id bigint NOT NULL,
	at timestamptz NOT NULL,
	value float8,
	alarm boolean NOT NULL DEFAULT false
) PARTITION BY RANGE (at);
-- no index on the parent: each day's partition has its own on (device_id,
-- at), made with it (a parent index of the extension's would be made again on
-- each partition a restore attaches, and the dump's own index of the
-- partition then fail as existing)
COMMENT ON TABLE reading IS 'sensor readings, appended by gateways (COPY or INSERT); partitioned by day in sanse.timezone (sanse.reading_YYYYMMDD); checked and judged by the device rules as they are written';
COMMENT ON COLUMN reading.at IS 'the reading''s own time (late readings are normal; more than 5 minutes ahead is refused)';
COMMENT ON COLUMN reading.value IS 'the measurement (a meter: the amount used since the previous reading); NULL for a device that only alarms; NaN and infinities are refused';
COMMENT ON COLUMN reading.alarm IS 'the device raised its alarm';

-- sanse.reading_retention as an interval, read in C (never a placeholder a
-- role set before the library was loaded).
CREATE OR REPLACE FUNCTION reading_retention() RETURNS interval
	AS 'MODULE_PATHNAME', 'reading_retention' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION reading_retention() IS 'the setting sanse.reading_retention, as an interval: how long readings are kept';

-- The first instant of a local day (sanse.timezone) and the partition of a day.
CREATE OR REPLACE FUNCTION reading_day_start(day date) RETURNS timestamptz
LANGUAGE sql STABLE STRICT PARALLEL SAFE
RETURN (day::timestamp AT TIME ZONE sanse.current_zone());
COMMENT ON FUNCTION reading_day_start(date) IS 'the first instant of a day in sanse.timezone: where its partition of sanse.reading starts';

CREATE OR REPLACE FUNCTION reading_partition_name(day date) RETURNS name
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ('reading_' || to_char(day, 'YYYYMMDD'))::name;
COMMENT ON FUNCTION reading_partition_name(date) IS 'the name (in schema sanse) of the partition of sanse.reading holding a day';

-- Make the partition of one day (in sanse.timezone) unless it exists; its
-- name either way.  Runs as the owner; the write path's statement trigger
-- and the index on (device_id, at) are put on the partition too.
CREATE OR REPLACE FUNCTION reading_partition(day date) RETURNS regclass
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	part name := sanse.reading_partition_name(day);
BEGIN
	IF day IS NULL THEN
		RAISE EXCEPTION 'the day of a partition of readings must not be NULL' USING ERRCODE = '22004';
	END IF;
	IF to_regclass('sanse.' || quote_ident(part)) IS NULL THEN
		-- one maker at a time (the lock conflicts with itself, not with
		-- appending): the second finds the first one's partition
		LOCK TABLE sanse.reading IN SHARE UPDATE EXCLUSIVE MODE;
		IF to_regclass('sanse.' || quote_ident(part)) IS NULL THEN
			-- the bounds as epoch seconds: a timestamptz written as text in
			-- the session's DateStyle may read back in another zone
			EXECUTE format('CREATE TABLE sanse.%I PARTITION OF sanse.reading FOR VALUES FROM (pg_catalog.to_timestamp(%s)) TO (pg_catalog.to_timestamp(%s))',
			               part, extract(epoch FROM sanse.reading_day_start(day)), extract(epoch FROM sanse.reading_day_start(day + 1)));
			-- for an INSERT naming the partition itself (a statement trigger
			-- of the parent fires only for statements naming the parent)
			EXECUTE format('CREATE TRIGGER reading_flush AFTER INSERT ON sanse.%I FOR EACH STATEMENT EXECUTE FUNCTION sanse.reading_flush()', part);
			EXECUTE format('CREATE INDEX %I ON sanse.%I (device_id, at)', part || '_device_at', part);
		END IF;
	END IF;
	RETURN ('sanse.' || quote_ident(part))::regclass;
END
$$;
REVOKE ALL ON FUNCTION reading_partition(date) FROM PUBLIC;
COMMENT ON FUNCTION reading_partition(date) IS 'make the partition of sanse.reading for a day in sanse.timezone unless it exists; returns it (the sweep makes them ahead)';

-- Readings as a role may read them: those of the devices of the areas
-- granted to it with read or care (spec 8); given by a grant row
-- (90_area_grant.sql).  A security barrier run as its owner: the table
-- itself is the owner's alone.
CREATE OR REPLACE VIEW device_reading AS
SELECT r.device_id, r.at, r.value, r.alarm
  FROM sanse.reading r JOIN sanse.device d ON d.id = r.device_id
 WHERE sanse.sees_area(d.area_id, 'read');
ALTER VIEW device_reading SET (security_barrier = true);
COMMENT ON VIEW device_reading IS 'the readings of the devices in the areas granted to the calling role (read or care)';
