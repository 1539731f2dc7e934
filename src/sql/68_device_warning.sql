-----------------------------------------------------------------------------
-- The write path of readings (reading.c) and the warnings it raises (spec
-- 10).  Each row is checked in C against the cached devices; at the end of
-- the statement the C trigger calls, as the extension owner, device_seen
-- (the devices' last times, once per device) and device_warning (each
-- reading a rule might turn into a warning, in the order of its own time).
-- Neither is callable by clients.
-----------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION reading_check() RETURNS trigger
	AS 'MODULE_PATHNAME', 'reading_check' LANGUAGE C;
COMMENT ON FUNCTION reading_check() IS 'BEFORE INSERT row trigger of sanse.reading: refuses an unknown or inactive device (23503, 55000), a time more than 5 minutes ahead (22008), a NaN or infinite value (22003); notes the rest';
CREATE OR REPLACE FUNCTION reading_flush() RETURNS trigger
	AS 'MODULE_PATHNAME', 'reading_flush' LANGUAGE C;
COMMENT ON FUNCTION reading_flush() IS 'AFTER INSERT statement trigger of sanse.reading: writes the devices'' last times and raises the warnings the statement''s readings call for';

-- The devices' latest reading times, locked in id order (two gateways
-- writing the same devices wait for each other instead of deadlocking);
-- an older reading changes nothing.
CREATE OR REPLACE FUNCTION device_seen(p_devices bigint[], p_last timestamptz[], p_active timestamptz[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM 1
	   FROM sanse.device d JOIN unnest(p_devices, p_last, p_active) s(id, last_at, active_at) ON d.id = s.id
	  WHERE d.last_reading_at IS NULL OR s.last_at > d.last_reading_at
	     OR s.active_at > coalesce(d.last_active_at, '-infinity')
	  ORDER BY d.id FOR NO KEY UPDATE OF d;
	UPDATE sanse.device d
	   SET last_reading_at = greatest(d.last_reading_at, s.last_at),
	       last_active_at = greatest(d.last_active_at, s.active_at)
	  FROM unnest(p_devices, p_last, p_active) s(id, last_at, active_at)
	 WHERE d.id = s.id
	   AND (d.last_reading_at IS NULL OR s.last_at > d.last_reading_at
	        OR s.active_at > coalesce(d.last_active_at, '-infinity'));
END
$$;
REVOKE ALL ON FUNCTION device_seen(bigint[], timestamptz[], timestamptz[]) FROM PUBLIC;
COMMENT ON FUNCTION device_seen(bigint[], timestamptz[], timestamptz[]) IS 'the write path: each device''s latest reading time and latest with value > 0 (run by reading_flush as the owner)';

-- A reading that may raise a warning (alarm, above, below): the rule of
-- its device's kind for its resident's tier (or the tier-NULL row); then
-- the warning, raised or counted.  Nothing about a forgotten resident.
CREATE OR REPLACE FUNCTION device_warning(p_device bigint, p_rule text, p_at timestamptz, p_value float8) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	d sanse.device;
	r sanse.resident;
	rule_found boolean;
	limit_value float8;
BEGIN
	SELECT * INTO d FROM sanse.device x WHERE x.id = p_device;
	IF d.resident_id IS NOT NULL THEN
		-- FOR SHARE, as raise_event: a forgetting waits for the warning, or it for the forgetting
		SELECT * INTO r FROM sanse.resident x WHERE x.id = d.resident_id FOR SHARE;
		IF r.forgotten_at IS NOT NULL THEN
			RETURN NULL;
		END IF;
	END IF;
	SELECT true, x.threshold INTO rule_found, limit_value
	  FROM sanse.device_rule x
	 WHERE x.kind = d.kind AND x.rule = p_rule AND (x.tier = r.tier OR x.tier IS NULL)
	 ORDER BY x.tier IS NULL LIMIT 1;
	IF rule_found IS NULL
	   OR (p_rule = 'above' AND NOT coalesce(p_value > limit_value, false))
	   OR (p_rule = 'below' AND NOT coalesce(p_value < limit_value, false)) THEN
		RETURN NULL;
	END IF;
	RETURN sanse.device_warning_raise(d, r.tier, p_rule, p_at,
		CASE p_rule WHEN 'alarm' THEN format('%s alarm (device %s)', d.kind, d.id)
		            ELSE format('%s %s %s: %s (device %s)', d.kind, p_rule, limit_value, p_value, d.id) END);
END
$$;
REVOKE ALL ON FUNCTION device_warning(bigint, text, timestamptz, float8) FROM PUBLIC;
COMMENT ON FUNCTION device_warning(bigint, text, timestamptz, float8) IS 'the write path: a reading a device rule may turn into a warning; returns the warning raised or counted (NULL: none)';

-- The open or then-open warning of a device's key (its resident, kind and
-- rule; the device and rule without a resident), locked.  p_covering: the
-- one that was open at p_at; otherwise an open one raised later.
CREATE OR REPLACE FUNCTION device_warning_of(d device, p_rule text, p_at timestamptz, p_covering boolean) RETURNS event
LANGUAGE plpgsql AS $$
DECLARE
	w sanse.event;
BEGIN
	SELECT * INTO w FROM sanse.event e
	 WHERE e.kind = 'warning' AND e.device_id IS NOT NULL AND e.rule = p_rule
	   AND CASE WHEN d.resident_id IS NULL THEN e.device_id = d.id AND e.resident_id IS NULL
	            ELSE e.resident_id = d.resident_id AND e.device_kind = d.kind END
	   AND CASE WHEN p_covering THEN e.due_at <= p_at AND (e.status <> 'closed' OR e.resolved_at > p_at)
	            ELSE e.due_at > p_at AND e.status <> 'closed' END
	 ORDER BY e.due_at DESC LIMIT 1
	   FOR UPDATE;
	RETURN w;
END
$$;

-- Raise a warning at the reading's own time, as it would have been raised
-- on time: a reading while a warning of its key was open (then) counts on
-- it; one dated before the open warning of its key, which nobody has
-- reached yet, moves that warning's call back to its own time; otherwise a
-- new warning, called at p_at (one open warning per key: a concurrent one
-- makes this a repeat), with the escalation steps due by now.
CREATE OR REPLACE FUNCTION device_warning_raise(d device, p_tier risk_tier, p_rule text, p_at timestamptz, p_detail text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	w sanse.event := sanse.device_warning_of(d, p_rule, p_at, true);
	new_id bigint;
	inserted boolean;
BEGIN
	IF w.id IS NULL THEN
		w := sanse.device_warning_of(d, p_rule, p_at, false);
		IF w.id IS NOT NULL AND w.status = 'called' AND w.arrived_at IS NULL AND w.reopened = 0 THEN
			PERFORM sanse.device_warning_recall(w, p_at);
			RETURN w.id;
		END IF;
	END IF;
	IF w.id IS NOT NULL THEN
		UPDATE sanse.event e SET repeats = e.repeats + 1 WHERE e.id = w.id;
		RETURN w.id;
	END IF;
	INSERT INTO sanse.event AS e (resident_id, area_id, kind, status, tier, level, assignee_id, due_at, level_since,
	                              next_step_at, scale, detail, called_at, first_called_at, device_id, device_kind, rule)
	VALUES (d.resident_id, d.area_id, 'warning', 'called', p_tier, 1, sanse.leader_for(d.area_id, 1), p_at, p_at,
	        sanse.zone_add(p_at, sanse.step_interval('warning', p_tier, 'called')), 'grid', p_detail, p_at, p_at,
	        d.id, d.kind, p_rule)
	ON CONFLICT ((CASE WHEN resident_id IS NULL THEN device_id END), resident_id, device_kind, rule)
	   WHERE kind = 'warning' AND device_id IS NOT NULL AND status <> 'closed'
	   DO UPDATE SET repeats = e.repeats + 1
	RETURNING e.id, e.xmax = 0 INTO new_id, inserted;
	IF inserted THEN
		INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
		SELECT e.id, 1, e.assignee_id, p_at FROM sanse.event e WHERE e.id = new_id;
		INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) VALUES (new_id, 'called', p_at, NULL, p_detail);
		PERFORM sanse.escalate_events(now(), NULL, new_id);
	END IF;
	RETURN new_id;
END
$$;

-- An earlier reading of an open warning nobody has reached: its call moves
-- back to the reading's time, its arrival clock restarts there (with the
-- steps due by now), and the later reading that raised it counts as a repeat.
CREATE OR REPLACE FUNCTION device_warning_recall(w event, p_at timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE sanse.event e
	   SET due_at = p_at, called_at = p_at, first_called_at = p_at, level = 1, level_since = p_at,
	       assignee_id = sanse.leader_for(e.area_id, 1),
	       next_step_at = sanse.zone_add(p_at, sanse.step_interval(e.kind, e.tier, 'called')),
	       repeats = e.repeats + 1
	 WHERE e.id = w.id;
	DELETE FROM sanse.event_step s WHERE s.event_id = w.id;
	INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
	SELECT e.id, 1, e.assignee_id, p_at FROM sanse.event e WHERE e.id = w.id;
	UPDATE sanse.event_transition t SET at = p_at WHERE t.event_id = w.id AND t.stage = 'called';
	PERFORM sanse.escalate_events(now(), NULL, w.id);
END
$$;
REVOKE ALL ON FUNCTION device_warning_of(device, text, timestamptz, boolean),
	device_warning_raise(device, risk_tier, text, timestamptz, text), device_warning_recall(event, timestamptz) FROM PUBLIC;

-- A device in a home is in its resident's micro grid: area_id is derived
-- (read as the owner; the policy then checks the caller's care of it).
CREATE OR REPLACE FUNCTION device_area() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'device_area', ARRAY['sanse.device'::regclass]);
	IF NEW.resident_id IS NOT NULL THEN
		NEW.area_id := (SELECT r.area_id FROM sanse.resident r WHERE r.id = NEW.resident_id);
	END IF;
	RETURN NEW;
END
$$;
-- ... and follows the resident when it moves.
CREATE OR REPLACE FUNCTION resident_devices_follow() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'resident_devices_follow', ARRAY['sanse.resident'::regclass]);
	UPDATE sanse.device d SET area_id = NEW.area_id WHERE d.resident_id = NEW.id AND d.area_id <> NEW.area_id;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION reading_check(), reading_flush(), device_area(), resident_devices_follow() FROM PUBLIC;
