-----------------------------------------------------------------------------
-- Quiet and silent devices, the sweep's side (73_device_spans.sql has the
-- spans and how they are found): what a span raises, cancelling what a
-- late reading disproved, the sweep's phase, the partitions of readings,
-- and the triggers.
-----------------------------------------------------------------------------

-- The event a span is counted on: for quiet, the warning of the same
-- resident and device kind (of the device, for one without a resident)
-- open at the span's end and not cancelled; for silent, the device's task
-- open then.  Open at E: called by E and not closed by E (a span found late
-- counts where a timely sweep would have).
CREATE OR REPLACE FUNCTION device_span_open_event(d device, p_rule text, p_at timestamptz) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
BEGIN
	-- two statements, each on an index (device_resident, event_device)
	IF p_rule = 'quiet' AND d.resident_id IS NOT NULL THEN
		RETURN (SELECT e.id FROM sanse.device x JOIN sanse.event e ON e.device_id = x.id AND e.rule = p_rule
		         WHERE x.resident_id = d.resident_id AND x.kind = d.kind AND e.kind = 'warning'
		           AND (e.status <> 'closed' OR (e.first_called_at <= p_at AND e.resolved_at > p_at))
		           AND NOT EXISTS (SELECT 1 FROM sanse.event_transition t WHERE t.event_id = e.id AND t.stage = 'cancelled')
		         ORDER BY e.status <> 'closed' DESC, e.id DESC
		         LIMIT 1);
	END IF;
	RETURN (SELECT e.id FROM sanse.event e
	         WHERE e.device_id = d.id AND e.rule = p_rule AND e.kind = CASE p_rule WHEN 'quiet' THEN 'warning' ELSE 'task' END
	           AND (e.status <> 'closed' OR (e.first_called_at <= p_at AND e.resolved_at > p_at))
	           AND NOT EXISTS (SELECT 1 FROM sanse.event_transition t WHERE t.event_id = e.id AND t.stage = 'cancelled')
	         ORDER BY e.status <> 'closed' DESC, e.id DESC
	         LIMIT 1);
END
$$;
REVOKE ALL ON FUNCTION device_span_open_event(device, text, timestamptz) FROM PUBLIC;

-- Raise what one span found (the sweep raises all its spans at once,
-- device_spans_raise; this is the same for one span): a quiet warning (its
-- arrival clock from the span's end) or a silent task naming the device and
-- its resident, for the micro-grid leader; counted on the open one instead
-- (event.repeats).  Returns the event, or 0 when a reading that came since
-- the span was recorded disproves it (the spans after that reading are
-- recorded anew), or NULL: nothing about a forgotten resident, nor for an
-- inactive device (the span is dropped).
CREATE OR REPLACE FUNCTION device_span_raise(p_device bigint, p_rule text, p_ends timestamptz, p_at timestamptz) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	s sanse.device_span;
	done record;
BEGIN
	SELECT * INTO s FROM sanse.device_span x WHERE x.device_id = p_device AND x.rule = p_rule AND x.ends_at = p_ends FOR UPDATE;
	IF NOT FOUND OR s.event_id IS NOT NULL OR s.disproved_at IS NOT NULL THEN
		RETURN NULL;
	END IF;
	done := sanse.device_spans_raise(ARRAY[p_device], ARRAY[p_rule], ARRAY[p_ends], p_at);
	IF done.disproved > 0 THEN
		RETURN 0;
	END IF;
	RETURN (SELECT x.event_id FROM sanse.device_span x WHERE x.device_id = p_device AND x.rule = p_rule AND x.ends_at = p_ends);
END
$$;
REVOKE ALL ON FUNCTION device_span_raise(bigint, text, timestamptz, timestamptz) FROM PUBLIC;

-- Cancel a quiet warning a late reading disproved, while nobody has arrived
-- (closed at p_at, the sweep's time: a transition 'cancelled'; steps the
-- clock had reached by then stay; loop_metrics counts it apart,
-- never as answered); the spans counted on it wait for the sweep again
-- (the first of them raises its own warning).
CREATE OR REPLACE FUNCTION device_warning_cancel(p_event bigint, p_at timestamptz, p_note text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	e sanse.event;
BEGIN
	SELECT * INTO e FROM sanse.event x WHERE x.id = p_event FOR UPDATE;
	IF e.status <> 'called' OR EXISTS (SELECT 1 FROM sanse.event_transition t WHERE t.event_id = e.id AND t.stage = 'arrived') THEN
		RETURN false;
	END IF;
	PERFORM sanse.loop_move_event(e, ROW('called', 'cancelled', 'closed', 'called', true, false, false)::sanse.loop_move,
	                              e.called_at, NULL, greatest(p_at, e.called_at), p_note, NULL, NULL, NULL, false);
	UPDATE sanse.device_span s SET event_id = NULL, repeat = false
	 WHERE s.event_id = p_event AND s.repeat AND s.disproved_at IS NULL;
	UPDATE sanse.event x SET repeats = 0 WHERE x.id = p_event;
	RETURN true;
END
$$;
REVOKE ALL ON FUNCTION device_warning_cancel(bigint, timestamptz, text) FROM PUBLIC;

-- Quiet spans a late reading disproved: a reading with value > 0 inside a
-- span whose warning is still called.  A warning nobody has arrived at is
-- cancelled; the span no longer counts (a repeat is taken back), and the
-- spans after the reading are found again.  Looks only at the devices the
-- write path marked since the last sweep (device_late_reading, taken away
-- here), at their spans ending after the earliest marked use, whose warning
-- waits for an arrival and that ended within sanse.max_backdate: with no
-- late use, one probe of an empty table.  (A silent task stays whatever
-- reading comes: whoever fixes the device closes it.)
CREATE OR REPLACE FUNCTION device_spans_disprove(at timestamptz) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	s record;
	n int := 0;
	devices bigint[];
	earliest timestamptz[];
BEGIN
	WITH taken AS (DELETE FROM sanse.device_late_reading l RETURNING l.device_id, l.earliest)
	SELECT array_agg(t.device_id ORDER BY t.device_id), array_agg(t.earliest ORDER BY t.device_id) INTO devices, earliest FROM taken t;
	IF devices IS NULL THEN
		RETURN 0;
	END IF;
	FOR s IN SELECT x.device_id, x.rule, x.span_from, x.ends_at, x.event_id, x.repeat, m.at AS late, d.quiet_for,
	                coalesce(d.last_active_at, m.at) AS last
	           FROM unnest(devices, earliest) l(device_id, earliest)
	           JOIN sanse.device_span x ON x.device_id = l.device_id AND x.rule = 'quiet' AND x.ends_at > l.earliest
	           JOIN sanse.device d ON d.id = x.device_id
	          CROSS JOIN LATERAL (SELECT max(r.at) AS at FROM sanse.reading r
	                               WHERE r.device_id = x.device_id AND r.at > x.span_from AND r.at < x.ends_at
	                                 AND r.value > 0) m
	          WHERE x.event_id IS NOT NULL AND x.disproved_at IS NULL
	            AND x.ends_at > device_spans_disprove.at - sanse.max_backdate()
	            AND (SELECT e.status FROM sanse.event e WHERE e.id = x.event_id) = 'called' AND m.at IS NOT NULL
	          ORDER BY x.device_id, x.rule, x.ends_at
	          FOR UPDATE OF x LOOP
		UPDATE sanse.device_span y SET disproved_at = device_spans_disprove.at
		 WHERE y.device_id = s.device_id AND y.rule = s.rule AND y.ends_at = s.ends_at;
		IF s.repeat THEN
			UPDATE sanse.event e SET repeats = greatest(e.repeats - 1, 0) WHERE e.id = s.event_id;
		ELSE
			PERFORM sanse.device_warning_cancel(s.event_id, at,
				format('cancelled: a reading dated %s, synced late, shows use before the span ended',
				       to_char(s.late AT TIME ZONE sanse.current_zone(), 'YYYY-MM-DD HH24:MI:SS')));
		END IF;
		PERFORM sanse.device_find_spans(s.device_id, 'quiet', s.quiet_for, s.late, s.last);
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION device_spans_disprove(timestamptz) FROM PUBLIC;

-- The sweep's phase for devices: quiet warnings a late reading disproved
-- cancelled; the spans ending by `at` found through device_next_due (an
-- index range: its cost follows the devices due, and
-- the devices quiet or silent now, never all devices), with those the
-- write path recorded; then each raised at its logical time, in the order
-- of their ends.  A span another sweep holds is left to the next one.
-- Returns how many spans it raised or counted.
CREATE OR REPLACE FUNCTION sweep_devices(at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET plan_cache_mode = force_custom_plan AS $$
DECLARE
	n int := 0;
	devices bigint[];
	rules text[];
	ends timestamptz[];
	done record;
BEGIN
	PERFORM sanse.check_sweep_time(at);
	PERFORM sanse.device_spans_disprove(at);
	-- the devices due (device_next_due), then the span of each rule that ended
	INSERT INTO sanse.device_span (device_id, rule, span_from, ends_at)
	SELECT x.id, r.rule, r.span_from, r.ends_at
	  FROM (SELECT d.* FROM sanse.device d
	         WHERE d.active
	           AND sanse.device_next_due(d.last_reading_at, d.last_active_at, d.installed_at, d.quiet_for, d.silent_for) <= sweep_devices.at) x
	 CROSS JOIN LATERAL (VALUES ('quiet', coalesce(x.last_active_at, x.installed_at),
	                             sanse.device_due(coalesce(x.last_active_at, x.installed_at), x.quiet_for)),
	                            ('silent', coalesce(x.last_reading_at, x.installed_at),
	                             sanse.device_due(coalesce(x.last_reading_at, x.installed_at), x.silent_for))) r(rule, span_from, ends_at)
	 WHERE r.ends_at <= sweep_devices.at
	ON CONFLICT DO NOTHING;
	-- all spans waiting, raised together (device_spans_raise); again while
	-- a pass found a span disproved (the spans after its reading were
	-- recorded anew)
	FOR pass IN 1..100 LOOP
		SELECT array_agg(x.device_id), array_agg(x.rule), array_agg(x.ends_at) INTO devices, rules, ends
		  FROM (SELECT y.device_id, y.rule, y.ends_at FROM sanse.device_span y
		         WHERE y.event_id IS NULL AND y.disproved_at IS NULL AND y.ends_at <= sweep_devices.at
		         ORDER BY y.ends_at, y.device_id, y.rule
		           FOR UPDATE SKIP LOCKED) x;
		EXIT WHEN devices IS NULL;
		done := sanse.device_spans_raise(devices, rules, ends, sweep_devices.at);
		n := n + done.raised;
		EXIT WHEN done.disproved = 0;
	END LOOP;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION sweep_devices(timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION sweep_devices(timestamptz) IS 'the sweep''s phase for devices: cancel quiet warnings late readings disproved, then raise every quiet warning and silent task whose span ended by at, at its logical time; returns how many spans it raised or counted';

-- The partitions of sanse.reading: today's and the next two days' made
-- ahead (days in sanse.timezone), those whose day ended more than
-- sanse.reading_retention before `at` dropped.  Returns how many it dropped.
CREATE OR REPLACE FUNCTION reading_partitions_keep(at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	today date := (at AT TIME ZONE sanse.current_zone())::date;
	p record;
	n int := 0;
BEGIN
	FOR i IN 0..2 LOOP
		BEGIN
			PERFORM sanse.reading_partition(today + i);
		EXCEPTION WHEN invalid_object_definition THEN
			-- 42P17: partitions made under another sanse.timezone already
			-- cover part of the day; they take its readings
			NULL;
		END;
	END LOOP;
	FOR p IN SELECT c.relname, to_date(substr(c.relname, 9), 'YYYYMMDD') AS day
	           FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_class c ON c.oid = h.inhrelid
	          WHERE h.inhparent = 'sanse.reading'::regclass AND c.relname ~ '^reading_[0-9]{8}$'
	          ORDER BY 2 LOOP
		EXIT WHEN sanse.reading_day_start(p.day + 1) > at - sanse.reading_retention();
		EXECUTE format('DROP TABLE sanse.%I', p.relname);
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION reading_partitions_keep(timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION reading_partitions_keep(timestamptz) IS 'make the partitions of sanse.reading for today and the next two days, drop those whose day ended more than sanse.reading_retention before at; returns how many it dropped (run by sanse.sweep)';

-- The sweep's phases for devices (sanse.sweep runs them before the
-- clocks): each rolled back alone and left to the next sweep when its rows
-- changed under a REPEATABLE READ sweep (40001), or given up after waiting
-- 5 s for a lock (55P03, recorded by sweep_gave_up), as the other phases.
CREATE OR REPLACE FUNCTION sweep_device_phases(at timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	BEGIN
		PERFORM sanse.sweep_devices(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: devices changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('devices');
	END;
	BEGIN
		PERFORM sanse.reading_partitions_keep(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: the partitions of readings changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('partitions of readings');
	END;
END
$$;
REVOKE ALL ON FUNCTION sweep_device_phases(timestamptz) FROM PUBLIC;

-- The due indexes and the triggers, created once (an upgrade runs this
-- after the functions they name exist).
DO $$
BEGIN
	-- one index, so that the write path's update of a device maintains one
	-- entry more, not two
	CREATE INDEX IF NOT EXISTS device_next_due ON sanse.device (sanse.device_next_due(last_reading_at, last_active_at, installed_at,
	                                                                                 quiet_for, silent_for))
		WHERE active;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = 'sanse.device'::regclass AND tgname = 'device_spans_row') THEN
		CREATE TRIGGER device_spans_row BEFORE INSERT OR UPDATE OF kind, resident_id, report_every, quiet_for, silent_for
			ON sanse.device FOR EACH ROW EXECUTE FUNCTION sanse.device_spans_row();
		CREATE TRIGGER device_span_closed AFTER UPDATE OF last_active_at, last_reading_at ON sanse.device
			FOR EACH ROW
			-- sanse.device_due in epoch seconds (no function call per row)
			WHEN ((OLD.quiet_for IS NOT NULL
			       AND extract(epoch FROM NEW.last_active_at)
			           >= extract(epoch FROM coalesce(OLD.last_active_at, OLD.installed_at)) + extract(epoch FROM OLD.quiet_for))
			   OR (OLD.silent_for IS NOT NULL
			       AND extract(epoch FROM NEW.last_reading_at)
			           >= extract(epoch FROM coalesce(OLD.last_reading_at, OLD.installed_at)) + extract(epoch FROM OLD.silent_for)))
			EXECUTE FUNCTION sanse.device_span_closed();
		CREATE TRIGGER device_spans_rule AFTER INSERT OR UPDATE OR DELETE ON sanse.device_rule
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.device_spans_rederive();
		CREATE TRIGGER device_spans_tier AFTER UPDATE ON sanse.resident
			FOR EACH ROW WHEN (OLD.tier IS DISTINCT FROM NEW.tier)
			EXECUTE FUNCTION sanse.device_spans_rederive();
	END IF;
END
$$;
