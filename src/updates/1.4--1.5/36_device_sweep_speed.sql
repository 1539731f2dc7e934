-- sanse 1.4 -> 1.5, the sweep's device phase in proportion to the devices
-- due (issue 21): the devices whose late use the sweep re-checks, marked by
-- the write path (src/sql/73_device_spans.sql).
CREATE TABLE device_late_reading (
	device_id bigint PRIMARY KEY REFERENCES device (id),
	earliest timestamptz NOT NULL
);
REVOKE ALL ON device_late_reading FROM PUBLIC;
COMMENT ON TABLE device_late_reading IS 'devices with a use that may fall inside a raised quiet span (the earliest), marked by the write path, re-checked and taken away by the next sweep';
SELECT pg_catalog.pg_extension_config_dump('device_late_reading', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON device_late_reading FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
