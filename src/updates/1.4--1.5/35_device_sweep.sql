-- sanse 1.4 -> 1.5, quiet and silent devices (spec 10, issue 21): the
-- derived spans of a device, the spans the sweep found, the loop's stage
-- 'cancelled' and loop_metrics' column cancelled.  The due indexes and the
-- triggers follow with the functions (an idempotent DO block in
-- src/sql/74_device_sweep.sql).
ALTER TABLE device ADD COLUMN quiet_for interval;
ALTER TABLE device ADD COLUMN silent_for interval;
COMMENT ON COLUMN device.quiet_for IS 'the quiet_for of the device''s kind and its resident''s tier (NULL: no quiet rule); kept by sanse';
COMMENT ON COLUMN device.silent_for IS '3 x report_every when the device''s kind has a silent rule (NULL: none); kept by sanse';

CREATE TABLE device_span (
	device_id bigint NOT NULL REFERENCES device (id),
	rule text NOT NULL REFERENCES device_rule_kind (value) CHECK (rule IN ('quiet', 'silent')),
	span_from timestamptz NOT NULL,
	ends_at timestamptz NOT NULL,
	event_id bigint REFERENCES event (id),
	repeat boolean NOT NULL DEFAULT false,
	found_at timestamptz NOT NULL DEFAULT now(),
	disproved_at timestamptz,
	PRIMARY KEY (device_id, rule, ends_at)
);
CREATE INDEX device_span_pending ON device_span (ends_at) WHERE event_id IS NULL AND disproved_at IS NULL;
CREATE INDEX device_span_event ON device_span (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX device_span_quiet_raised ON device_span (ends_at) WHERE rule = 'quiet' AND event_id IS NOT NULL AND disproved_at IS NULL;
REVOKE ALL ON device_span FROM PUBLIC;
COMMENT ON TABLE device_span IS 'every quiet or silent span of a device found by the sweep: its start, its end (the warning''s or task''s logical time), the event raised for it or counted on; disproved_at when a late reading fell inside it';
SELECT pg_catalog.pg_extension_config_dump('device_span', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON device_span FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

INSERT INTO loop_stage (value, position, meaning, verb, done, noun, note_is, by_worker) VALUES
	('cancelled', 9, 'closed by sanse before anyone arrived: a quiet warning a reading synced late disproved (no move of sanse.loop_move: nobody makes it)', 'cancel', 'cancelled', 'a cancellation', 'note', false);

ALTER TABLE published_loop_metrics ADD COLUMN cancelled bigint;

CREATE TABLE published_device_status (
	area_id bigint PRIMARY KEY, path text NOT NULL, kind text NOT NULL, name text NOT NULL,
	devices bigint, silent bigint, open_warnings bigint
);
REVOKE ALL ON published_device_status FROM PUBLIC;
COMMENT ON TABLE published_device_status IS 'device_status as aggregate-only roles read it (hidden cells NULL), as of screen_publication.published_at';
SELECT pg_catalog.pg_extension_config_dump('published_device_status', '');
