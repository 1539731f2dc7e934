-----------------------------------------------------------------------------
-- Quiet and silent devices (spec 10), found by the sweep.  A device's span
-- starts at its last reading with value > 0 (quiet) or its last reading
-- (silent), or at installed_at, and ends quiet_for (silent: 3 x
-- report_every) later; a span that ends before the next reading is a quiet
-- warning (a silent task) at that logical time.  The sweep finds the spans
-- ending by its time through an index on each device's next due time
-- (device_next_due), the same shape as visit windows:
-- the write path keeps last_active_at and last_reading_at, once per
-- statement and device, and the index follows.  A span that a reading
-- closed before any sweep saw it (sweeps stopped, a gateway's buffer) is
-- recorded by the trigger on that update (device_find_spans), so the result
-- is the same whatever the timing of sweeps.  Every span found is a row of
-- sanse.device_span, once (its warning or task, or the open one it was
-- counted on); a late reading that disproves a quiet span cancels its
-- warning while nobody has arrived.
-----------------------------------------------------------------------------

-- Spans are elapsed time (a quiet_for of '1 day' is 24 hours), so the due
-- time is the same in every zone: immutable, as an index needs.
CREATE OR REPLACE FUNCTION device_due(since timestamptz, span interval) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN since + pg_catalog.make_interval(secs => pg_catalog.date_part('epoch', span));
COMMENT ON FUNCTION device_due(timestamptz, interval) IS 'since + span counted as elapsed time (days of 24 hours): when a device''s quiet or silent span ends';

-- A device's next due time: the earlier end of its quiet and silent spans.
CREATE OR REPLACE FUNCTION device_next_due(last_reading_at timestamptz, last_active_at timestamptz, installed_at timestamptz,
                                           quiet_for interval, silent_for interval) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN least(sanse.device_due(coalesce(last_active_at, installed_at), quiet_for),
             sanse.device_due(coalesce(last_reading_at, installed_at), silent_for));
COMMENT ON FUNCTION device_next_due(timestamptz, timestamptz, timestamptz, interval, interval) IS 'a device''s next due time: the earlier end of its quiet and silent spans (NULL: neither rule)';

-- The device's quiet_for and silent span by its kind and its resident's tier
-- (the rule row of the tier, else the row with tier NULL); derived, kept by
-- sanse (device_spans_derive), never written by clients.
ALTER TABLE device ADD COLUMN quiet_for interval;
ALTER TABLE device ADD COLUMN silent_for interval;
COMMENT ON COLUMN device.quiet_for IS 'the quiet_for of the device''s kind and its resident''s tier (NULL: no quiet rule); kept by sanse';
COMMENT ON COLUMN device.silent_for IS '3 x report_every when the device''s kind has a silent rule (NULL: none); kept by sanse';
-- (their due index device_next_due: 74_device_sweep.sql)

-- Every span found: the device, the rule, the span (from its start to its
-- end, the logical time), the event raised for it or counted on (repeat),
-- NULL while it waits for the sweep; disproved_at when a late reading fell
-- inside it.
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

-- A device's spans by its kind and tier (the rule of the tier, else of tier NULL).
CREATE OR REPLACE FUNCTION device_rule_span(p_kind text, p_tier risk_tier, p_rule text, p_report_every interval) RETURNS interval
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT CASE p_rule WHEN 'quiet' THEN r.quiet_for ELSE 3 * p_report_every END
	  FROM sanse.device_rule r
	 WHERE r.kind = p_kind AND r.rule = p_rule AND (r.tier = p_tier OR r.tier IS NULL)
	 ORDER BY r.tier IS NULL
	 LIMIT 1;
END;
COMMENT ON FUNCTION device_rule_span(text, risk_tier, text, interval) IS 'the length of a device''s quiet or silent span by its kind, tier and report_every (NULL: no such rule)';

-- Keep the derived spans of some devices (NULL: all) after a rule, a tier
-- or the device changed.
CREATE OR REPLACE FUNCTION device_spans_derive(p_devices bigint[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	UPDATE sanse.device d
	   SET quiet_for = s.q, silent_for = s.s
	  FROM (SELECT x.id, sanse.device_rule_span(x.kind, r.tier, 'quiet', x.report_every) AS q,
	               sanse.device_rule_span(x.kind, r.tier, 'silent', x.report_every) AS s
	          FROM sanse.device x LEFT JOIN sanse.resident r ON r.id = x.resident_id
	         WHERE p_devices IS NULL OR x.id = ANY (p_devices)) s
	 WHERE d.id = s.id AND (d.quiet_for IS DISTINCT FROM s.q OR d.silent_for IS DISTINCT FROM s.s);
END
$$;
REVOKE ALL ON FUNCTION device_spans_derive(bigint[]) FROM PUBLIC;

-- Before a device is written: its spans, whatever a client set.
CREATE OR REPLACE FUNCTION device_spans_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	t sanse.risk_tier;
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'device_spans_row', ARRAY['sanse.device'::regclass]);
	SELECT r.tier INTO t FROM sanse.resident r WHERE r.id = NEW.resident_id;
	NEW.quiet_for := sanse.device_rule_span(NEW.kind, t, 'quiet', NEW.report_every);
	NEW.silent_for := sanse.device_rule_span(NEW.kind, t, 'silent', NEW.report_every);
	RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION device_spans_row() FROM PUBLIC;

-- After a rule or a resident's tier changed.
CREATE OR REPLACE FUNCTION device_spans_rederive() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'device_spans_rederive', ARRAY['sanse.device_rule'::regclass, 'sanse.resident'::regclass]);
	IF TG_RELID = 'sanse.resident'::regclass THEN
		PERFORM sanse.device_spans_derive(ARRAY(SELECT d.id FROM sanse.device d WHERE d.resident_id = NEW.id));
		RETURN NULL;
	END IF;
	PERFORM sanse.device_spans_derive(NULL);
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION device_spans_rederive() FROM PUBLIC;

-- Record the spans between a device's consecutive readings (with value > 0
-- for quiet) from p_from to p_to: each gap of at least the span's length
-- (readings dated exactly at its end do not close it).  Left for the sweep
-- (event_id NULL) unless found already.
CREATE OR REPLACE FUNCTION device_find_spans(p_device bigint, p_rule text, p_span interval, p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
BEGIN
	INSERT INTO sanse.device_span (device_id, rule, span_from, ends_at)
	SELECT p_device, p_rule, g.prev, sanse.device_due(g.prev, p_span)
	  FROM (SELECT x.at, lag(x.at) OVER (ORDER BY x.at) AS prev
	          FROM sanse.reading x
	         WHERE x.device_id = p_device AND x.at >= p_from AND x.at <= p_to
	           AND (p_rule = 'silent' OR x.value > 0)) g
	 WHERE g.prev IS NOT NULL AND g.at >= sanse.device_due(g.prev, p_span)
	ON CONFLICT DO NOTHING;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION device_find_spans(bigint, text, interval, timestamptz, timestamptz) FROM PUBLIC;

-- The write path moved a device's last reading past the end of its span: the
-- span (and any other inside what arrived) is recorded for the sweep, which
-- may not have seen it.  Fires only then (the trigger's WHEN), so a
-- reading that closes no span costs nothing here.
CREATE OR REPLACE FUNCTION device_span_closed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'device_span_closed', ARRAY['sanse.device'::regclass]);
	IF OLD.quiet_for IS NOT NULL
	   AND NEW.last_active_at >= sanse.device_due(coalesce(OLD.last_active_at, OLD.installed_at), OLD.quiet_for) THEN
		PERFORM sanse.device_find_spans(NEW.id, 'quiet', OLD.quiet_for, coalesce(OLD.last_active_at, OLD.installed_at), NEW.last_active_at);
		IF OLD.last_active_at IS NULL THEN	-- the span from installation
			INSERT INTO sanse.device_span (device_id, rule, span_from, ends_at)
			SELECT NEW.id, 'quiet', OLD.installed_at, sanse.device_due(OLD.installed_at, OLD.quiet_for)
			 WHERE NOT EXISTS (SELECT 1 FROM sanse.reading x WHERE x.device_id = NEW.id AND x.value > 0
			                      AND x.at > OLD.installed_at AND x.at < sanse.device_due(OLD.installed_at, OLD.quiet_for))
			ON CONFLICT DO NOTHING;
		END IF;
	END IF;
	IF OLD.silent_for IS NOT NULL
	   AND NEW.last_reading_at >= sanse.device_due(coalesce(OLD.last_reading_at, OLD.installed_at), OLD.silent_for) THEN
		PERFORM sanse.device_find_spans(NEW.id, 'silent', OLD.silent_for, coalesce(OLD.last_reading_at, OLD.installed_at), NEW.last_reading_at);
		IF OLD.last_reading_at IS NULL THEN
			INSERT INTO sanse.device_span (device_id, rule, span_from, ends_at)
			SELECT NEW.id, 'silent', OLD.installed_at, sanse.device_due(OLD.installed_at, OLD.silent_for)
			 WHERE NOT EXISTS (SELECT 1 FROM sanse.reading x WHERE x.device_id = NEW.id
			                      AND x.at > OLD.installed_at AND x.at < sanse.device_due(OLD.installed_at, OLD.silent_for))
			ON CONFLICT DO NOTHING;
		END IF;
	END IF;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION device_span_closed() FROM PUBLIC;

