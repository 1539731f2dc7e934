-- sanse 1.4 -> 1.5, devices (spec 10, issue 21): the device and rule
-- vocabularies, sanse.device, sanse.device_rule with its defaults,
-- sanse.reading partitioned by day, the warning columns of sanse.event and
-- the policies.  The functions follow, and the triggers on new functions
-- (an idempotent DO block in src/sql/69_device_triggers.sql).

-- The kinds of device (pinned), in the house shape of a vocabulary.
CREATE TABLE device_kind (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL
);
COMMENT ON TABLE device_kind IS 'vocabulary of device.kind: the sensors sanse listens to';
GRANT SELECT ON device_kind TO PUBLIC;
INSERT INTO device_kind (value, position, meaning) VALUES
	('smoke', 1, 'smoke detector (烟感): alarms'),
	('gas', 2, 'gas detector (燃气报警器): alarms, value = concentration in %LEL'),
	('fall', 3, 'fall detector (跌倒报警器): alarms'),
	('sos', 4, 'SOS button (一键呼叫): alarms'),
	('water_meter', 5, 'smart water meter (智能水表): value = water used since the last reading'),
	('door', 6, 'door contact (门磁): value = times the door opened since the last reading'),
	('power_meter', 7, 'smart power meter (智能电表): value = energy used since the last reading');

-- The rules a device's readings are judged by (pinned values of device_rule.rule).
CREATE TABLE device_rule_kind (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL
);
COMMENT ON TABLE device_rule_kind IS 'vocabulary of device_rule.rule and event.rule: alarm, above and below raise a warning as the reading is written; quiet and silent are found by the sweep';
GRANT SELECT ON device_rule_kind TO PUBLIC;
INSERT INTO device_rule_kind (value, position, meaning) VALUES
	('alarm', 1, 'a reading with alarm true: a warning at once'),
	('above', 2, 'a reading with value strictly above threshold: a warning at once'),
	('below', 3, 'a reading with value strictly below threshold: a warning at once'),
	('quiet', 4, 'no reading with value > 0 for quiet_for: a warning, raised by the sweep at its logical time'),
	('silent', 5, 'no reading at all for 3 x report_every: a task for the micro-grid leader to fix the device');

-- A device in a home names its resident (and its area is the resident's,
-- maintained by sanse); one in a corridor names only its area.
-- last_reading_at and last_active_at are written by the write path, once
-- per statement and device (reading.c), never by clients.
CREATE TABLE device (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind text NOT NULL REFERENCES device_kind (value),
	resident_id bigint REFERENCES resident (id),
	area_id bigint NOT NULL REFERENCES area (id),
	report_every interval NOT NULL DEFAULT interval '1 minute'
		CONSTRAINT device_report_every_positive CHECK (report_every > interval '0'),
	active boolean NOT NULL DEFAULT true,
	installed_at timestamptz NOT NULL DEFAULT now(),
	last_reading_at timestamptz,
	last_active_at timestamptz
);
CREATE INDEX device_resident ON device (resident_id) WHERE resident_id IS NOT NULL;
CREATE INDEX device_area ON device (area_id);
COMMENT ON TABLE device IS 'sensors in homes (resident_id) and corridors (area_id only); readings of an unknown or inactive device are refused';
COMMENT ON COLUMN device.area_id IS 'for a device in a home, its resident''s micro grid (maintained by sanse)';
COMMENT ON COLUMN device.report_every IS 'how often the device reports; silent after 3 x report_every without a reading';
COMMENT ON COLUMN device.last_reading_at IS 'the latest reading''s own time (maintained by the write path)';
COMMENT ON COLUMN device.last_active_at IS 'the latest reading''s own time with value > 0 (maintained by the write path)';
SELECT pg_catalog.pg_extension_config_dump('device', '');
SELECT pg_catalog.pg_extension_config_dump('device_id_seq', '');

-- The rules (pinned): per device kind and rule, per tier of the device's
-- resident; the row with tier NULL serves every tier without a row of its
-- own (and devices without a resident).
CREATE TABLE device_rule (
	kind text NOT NULL REFERENCES device_kind (value),
	rule text NOT NULL REFERENCES device_rule_kind (value),
	tier risk_tier,
	threshold float8,
	quiet_for interval,
	CONSTRAINT device_rule_once UNIQUE NULLS NOT DISTINCT (kind, rule, tier),
	CONSTRAINT device_rule_threshold CHECK ((rule IN ('above', 'below')) = (threshold IS NOT NULL)
		AND threshold IS DISTINCT FROM 'NaN'::float8),
	CONSTRAINT device_rule_quiet_for CHECK ((rule = 'quiet') = (quiet_for IS NOT NULL)
		AND (quiet_for IS NULL OR quiet_for > interval '0'))
);
COMMENT ON TABLE device_rule IS 'which readings raise warnings: per device kind, rule and tier (NULL: every tier without a row of its own); threshold for above/below, quiet_for for quiet';
GRANT SELECT ON device_rule TO PUBLIC;
INSERT INTO device_rule (kind, rule, tier, threshold, quiet_for) VALUES
	('smoke', 'alarm', NULL, NULL, NULL),
	('gas', 'alarm', NULL, NULL, NULL),
	('gas', 'above', NULL, 20, NULL),
	('fall', 'alarm', NULL, NULL, NULL),
	('sos', 'alarm', NULL, NULL, NULL),
	('water_meter', 'quiet', 'red', NULL, interval '12 hours'),
	('water_meter', 'quiet', 'yellow', NULL, interval '24 hours'),
	('door', 'quiet', 'red', NULL, interval '24 hours'),
	('door', 'quiet', 'yellow', NULL, interval '48 hours'),
	('power_meter', 'quiet', 'red', NULL, interval '24 hours'),
	('smoke', 'silent', NULL, NULL, NULL),
	('gas', 'silent', NULL, NULL, NULL),
	('fall', 'silent', NULL, NULL, NULL),
	('sos', 'silent', NULL, NULL, NULL),
	('water_meter', 'silent', NULL, NULL, NULL),
	('door', 'silent', NULL, NULL, NULL),
	('power_meter', 'silent', NULL, NULL, NULL);
SELECT pg_catalog.pg_extension_config_dump('device_rule', '');

CREATE TRIGGER device_rule_audit AFTER INSERT OR UPDATE OR DELETE ON device_rule
	FOR EACH STATEMENT EXECUTE FUNCTION audit_change();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON device FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

-- Warnings from devices are loop events (spec 7) naming the device and the
-- rule; device_kind is the device's, so that two smoke detectors in one
-- flat make one warning.  repeats counts the readings that would have
-- raised it again while it was open.
-- tally_missed (70_tally.sql, BEGIN ATOMIC) depends on event's row type:
-- dropped here, made again with the functions that follow
DROP FUNCTION tally_missed(event[], integer);
ALTER TABLE event ADD COLUMN device_id bigint REFERENCES device (id);
ALTER TABLE event ADD COLUMN device_kind text REFERENCES device_kind (value);
ALTER TABLE event ADD COLUMN rule text REFERENCES device_rule_kind (value);
ALTER TABLE event ADD COLUMN repeats integer NOT NULL DEFAULT 0;
ALTER TABLE event ADD CONSTRAINT event_device_rule CHECK ((device_id IS NULL) = (rule IS NULL)
	AND (device_id IS NULL) = (device_kind IS NULL) AND (device_id IS NULL OR kind IN ('warning', 'task')));
COMMENT ON COLUMN event.device_id IS 'the device whose reading raised the warning (or whose silence made the task)';
COMMENT ON COLUMN event.device_kind IS 'that device''s kind: one open warning per resident, device kind and rule';
COMMENT ON COLUMN event.rule IS 'the device rule that raised the warning (sanse.device_rule_kind)';
COMMENT ON COLUMN event.repeats IS 'readings that would have raised the warning again while it was open';
-- At most one open warning per resident, device kind and rule (two smoke
-- detectors in one flat are one fire), or per device and rule for a device
-- without a resident.
CREATE UNIQUE INDEX event_device_warning_open ON event
	((CASE WHEN resident_id IS NULL THEN device_id END), resident_id, device_kind, rule) NULLS NOT DISTINCT
	WHERE kind = 'warning' AND device_id IS NOT NULL AND status <> 'closed';
-- the warnings of a device's key, by the time they were raised
CREATE INDEX event_device ON event (device_id, rule, due_at) WHERE device_id IS NOT NULL;
CREATE INDEX event_resident_device ON event (resident_id, device_kind, rule, due_at) WHERE device_id IS NOT NULL AND resident_id IS NOT NULL;

-- Row-level security (spec 8): a device names a resident, so roles see the
-- devices of the areas granted to them; those with care register them.
ALTER TABLE device ENABLE ROW LEVEL SECURITY;
CREATE POLICY device_read ON device FOR SELECT
	USING (sanse.sees_area(area_id, 'read'));
CREATE POLICY device_write ON device FOR ALL
	USING (sanse.sees_area(area_id, 'care'))
	WITH CHECK (sanse.sees_area(area_id, 'care'));

-- Readings (67_reading.sql)
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

