-- PL/pgSQL reference implementations of sanse's C hot paths, kept only to
-- measure the C code against (make bench).  Same inputs, same outputs.
CREATE SCHEMA IF NOT EXISTS bench;

-- how long a query takes, in ms
CREATE OR REPLACE FUNCTION bench.time_ms(query text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz;
BEGIN
	t0 := clock_timestamp();
	EXECUTE query;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;

-- window_after(anchor, cadence, tz) in PL/pgSQL
CREATE OR REPLACE FUNCTION bench.window_after_plpgsql(anchor timestamptz, cadence text, tz text)
RETURNS sanse.visit_window LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	c text := lower(btrim(cadence));
	step interval;
	unit text;
	local timestamp;
	t timestamptz;
	m int;
	d int;
BEGIN
	IF c LIKE 'rolling %' THEN
		step := btrim(substr(c, 9))::interval;
		IF step <= interval '0' THEN
			RAISE EXCEPTION 'invalid cadence: "%"', cadence USING ERRCODE = '22P02';
		END IF;
		m := (extract(year FROM step) * 12 + extract(month FROM step))::int;
		d := extract(day FROM step)::int;
		t := anchor;
		IF m <> 0 THEN
			t := ((t AT TIME ZONE tz) + make_interval(months => m)) AT TIME ZONE tz;
		END IF;
		IF d <> 0 THEN
			t := ((t AT TIME ZONE tz) + make_interval(days => d)) AT TIME ZONE tz;
		END IF;
		t := t + (step - make_interval(months => m, days => d));
		RETURN sanse.visit_window(anchor, t);
	ELSIF c IN ('calendar day', 'calendar week', 'calendar month') THEN
		unit := substr(c, 10);
		local := date_trunc(unit, anchor AT TIME ZONE tz);
		RETURN sanse.visit_window((local + ('1 ' || unit)::interval) AT TIME ZONE tz,
		                          (local + ('2 ' || unit)::interval) AT TIME ZONE tz);
	END IF;
	RAISE EXCEPTION 'invalid cadence: "%"', cadence USING ERRCODE = '22P02';
END
$$;

-- classify(factors) in PL/pgSQL over the same rule table
CREATE OR REPLACE FUNCTION bench.classify_plpgsql(factors text[])
RETURNS sanse.risk_tier LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
	f text;
	result sanse.risk_tier;
BEGIN
	FOREACH f IN ARRAY factors LOOP
		IF NOT f = ANY (sanse.factor_names()) THEN
			RAISE EXCEPTION 'unknown risk factor "%"', f USING ERRCODE = '22023';
		END IF;
	END LOOP;
	SELECT sanse.max(r.tier) INTO result FROM sanse.classification_rule r
	 WHERE r.enabled AND r.all_of <@ factors;
	RETURN result;
END
$$;

-- check_in in PL/pgSQL: the same checks, flags, writes and event handling
CREATE OR REPLACE FUNCTION bench.check_in_plpgsql(token text, worker_id bigint, at timestamptz DEFAULT now(),
                                                  checklist text[] DEFAULT '{}', note text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	raw bytea;
	tok record;
	r record;
	f record;
	flags text[] := '{}';
	vid bigint;
	late_due timestamptz;
	window_due timestamptz;
	km float8;
	hours float8;
BEGIN
	IF token IS NULL OR length(token) <> 43 THEN
		RAISE LOG 'sanse: check-in by worker % refused: malformed door token', worker_id;
		RAISE EXCEPTION 'door token is not valid' USING ERRCODE = '28000';
	END IF;
	raw := decode(translate(token, '-_', '+/') || '=', 'base64');
	IF length(raw) <> 32 OR get_byte(raw, 0) <> 1 THEN
		RAISE EXCEPTION 'door token is not valid' USING ERRCODE = '28000';
	END IF;
	IF substr(public.hmac(convert_to('sanse door token', 'UTF8') || '\x00'::bytea || substr(raw, 1, 16),
	                      (SELECT s.secret FROM sanse.installation_secret s), 'sha256'), 1, 16)
	   <> substr(raw, 17, 16) THEN
		RAISE LOG 'sanse: check-in by worker % refused: forged door token', worker_id;
		RAISE EXCEPTION 'door token is not valid' USING ERRCODE = '28000';
	END IF;
	IF at > clock_timestamp() + interval '5 minutes' THEN
		RAISE EXCEPTION 'check-in time is in the future' USING ERRCODE = '22008';
	END IF;
	IF NOT coalesce(checklist, '{}') <@ sanse.checklist_items() THEN
		RAISE EXCEPTION 'unknown checklist item' USING ERRCODE = '22023';
	END IF;
	SELECT t.resident_id, t.revoked_at IS NOT NULL AS revoked INTO tok
	  FROM sanse.door_token t WHERE t.nonce = substr(raw, 2, 15);
	IF NOT FOUND OR tok.revoked THEN
		RAISE EXCEPTION 'door token is not valid' USING ERRCODE = '28000';
	END IF;
	SELECT v.id INTO vid FROM sanse.visit v
	 WHERE v.resident_id = tok.resident_id AND v.worker_id = worker_id AND v.at = at;
	IF FOUND THEN
		RETURN vid;
	END IF;
	SELECT rr.next_visit, rr.last_visit_at, rr.area_id, w.active,
	       w.db_role IS NULL OR pg_has_role(session_user, w.db_role, 'MEMBER') AS role_ok,
	       EXISTS (SELECT 1 FROM sanse.carer c WHERE c.resident_id = rr.id AND c.worker_id = w.id)
	       OR (w.role <> 'member' AND wa.path OPERATOR(public.@>) ra.path) AS allowed
	  INTO r
	  FROM sanse.resident rr JOIN sanse.area ra ON ra.id = rr.area_id,
	       sanse.worker w JOIN sanse.area wa ON wa.id = w.area_id
	 WHERE rr.id = tok.resident_id AND w.id = worker_id
	   FOR NO KEY UPDATE OF rr;
	IF NOT FOUND OR NOT r.active OR NOT r.role_ok OR NOT r.allowed THEN
		RAISE EXCEPTION 'worker % may not check in at this door', worker_id USING ERRCODE = '42501';
	END IF;
	IF r.next_visit IS NOT NULL AND at >= sanse.due_at(r.next_visit) THEN
		late_due := sanse.due_at(r.next_visit);
	END IF;
	IF r.next_visit IS NOT NULL AND at >= sanse.opens_at(r.next_visit) AND at < sanse.due_at(r.next_visit) THEN
		window_due := sanse.due_at(r.next_visit);
	END IF;
	SELECT EXISTS (SELECT 1 FROM sanse.visit v WHERE v.worker_id = worker_id AND v.resident_id <> tok.resident_id
	                 AND v.at >= at - current_setting('sanse.quick_succession')::interval
	                 AND v.at <= at) AS quick,
	       EXISTS (SELECT 1 FROM sanse.visit v WHERE v.worker_id = worker_id AND v.resident_id = tok.resident_id
	                 AND v.at >= at - current_setting('sanse.repeat_window')::interval AND v.at < at) AS rep,
	       p.at AS prev_at, here.lat AS lat1, here.lon AS lon1, there.lat AS lat2, there.lon AS lon2
	  INTO f
	  FROM sanse.resident here
	  LEFT JOIN LATERAL (SELECT v.at, v.resident_id FROM sanse.visit v
	                      WHERE v.worker_id = worker_id AND v.at <= at AND v.resident_id <> tok.resident_id
	                      ORDER BY v.at DESC LIMIT 1) p ON true
	  LEFT JOIN sanse.resident there ON there.id = p.resident_id
	 WHERE here.id = tok.resident_id;
	IF f.quick THEN flags := flags || 'quick_succession'::text; END IF;
	IF f.prev_at IS NOT NULL AND f.lat1 IS NOT NULL AND f.lat2 IS NOT NULL THEN
		km := 2 * 6371.0088 * asin(least(1.0, sqrt(sin(radians(f.lat2 - f.lat1) / 2) ^ 2
		        + cos(radians(f.lat1)) * cos(radians(f.lat2)) * sin(radians(f.lon2 - f.lon1) / 2) ^ 2)));
		hours := extract(epoch FROM at - f.prev_at) / 3600;
		IF km > 0.1 AND (hours <= 0 OR km / hours > current_setting('sanse.max_travel_speed')::float8) THEN
			flags := flags || 'impossible_travel'::text;
		END IF;
	END IF;
	IF f.rep THEN flags := flags || 'repeat_visit'::text; END IF;
	IF late_due IS NOT NULL THEN flags := flags || 'late'::text; END IF;
	INSERT INTO sanse.visit (resident_id, worker_id, at, checklist, flags, note, area_id, window_due)
	VALUES (tok.resident_id, worker_id, at, coalesce(checklist, '{}'), flags, note, r.area_id, window_due)
	ON CONFLICT ON CONSTRAINT visit_resident_id_worker_id_at_key DO NOTHING RETURNING id INTO vid;
	IF vid IS NULL THEN
		SELECT v.id INTO vid FROM sanse.visit v
		 WHERE v.resident_id = tok.resident_id AND v.worker_id = worker_id AND v.at = at;
		RETURN vid;
	END IF;
	-- the check-in rates of the visitor and of the resident's carers
	INSERT INTO sanse.worker_month_pending (worker_id, month, windows_met, visits, flagged_visits, checklist_items)
	VALUES (check_in_plpgsql.worker_id, sanse.month_of(at), 0, 1, (flags <> '{}')::int,
	        cardinality(coalesce(checklist, '{}')));
	IF window_due IS NOT NULL THEN
		INSERT INTO sanse.worker_month_pending (worker_id, month, windows_met)
		SELECT c.worker_id, sanse.month_of(window_due), 1 FROM unnest(sanse.carers_of(tok.resident_id)) c(worker_id);
	END IF;
	IF r.last_visit_at IS NULL OR at > r.last_visit_at THEN
		UPDATE sanse.resident SET last_visit_at = at WHERE id = tok.resident_id;
		IF late_due IS NOT NULL OR EXISTS (SELECT 1 FROM sanse.event e WHERE e.resident_id = tok.resident_id AND e.kind = 'overdue' AND e.status <> 'closed') THEN
			PERFORM sanse.close_overdue_events(tok.resident_id, vid, at, worker_id, late_due);
		END IF;
	END IF;
	RETURN vid;
END
$$;
