-----------------------------------------------------------------------------
-- The closed loop's calls (呼叫, spec 7): raise_event (about a resident) and
-- dispatch_task (about an area) make an event in stage called at its
-- scale's level, its arrival clock started (sanse.loop_move's row from no
-- status); whistle (62_loop.sql) calls a department's child event the same
-- way.  A retried call returns the event the first one made.  The helpers
-- run only inside raise_event, dispatch_task and loop_transition (search_path
-- pinned there), with every name schema-qualified.
-----------------------------------------------------------------------------

-- The level an event of a scale starts at (PL/pgSQL: planned once a session).
CREATE OR REPLACE FUNCTION scale_level(scale text) RETURNS smallint
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
	RETURN (SELECT s.start_level FROM sanse.event_scale s WHERE s.value = scale_level.scale);
END
$$;

-- Create a loop event in stage called at its scale's level, with its first
-- step and its arrival clock; NULL when the same call made its event already
-- (event_call_once: a retry, which waited for the first call to commit).
CREATE OR REPLACE FUNCTION call_event(p_kind text, p_resident bigint, p_area bigint, p_tier risk_tier, p_detail text,
                           p_scale text, p_at timestamptz, p_raised_by bigint, p_parent bigint, p_department text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	lvl smallint := sanse.scale_level(p_scale);
	new_id bigint;
BEGIN
	INSERT INTO sanse.event (resident_id, area_id, kind, status, tier, level, assignee_id, due_at, level_since,
	                         next_step_at, scale, parent_id, department, detail, raised_by, called_at, first_called_at)
	VALUES (p_resident, p_area, p_kind, 'called', p_tier, lvl, sanse.leader_for(p_area, lvl), p_at, p_at,
	        CASE WHEN lvl < 4 THEN sanse.zone_add(p_at, sanse.step_interval(p_kind, p_tier, 'called')) END,
	        p_scale, p_parent, p_department, p_detail, p_raised_by, p_at, p_at)
	ON CONFLICT (kind, coalesce(resident_id, 0), (CASE WHEN resident_id IS NULL THEN area_id ELSE 0 END),
	             first_called_at, coalesce(raised_by, 0), md5(detail))
	   WHERE parent_id IS NULL AND first_called_at IS NOT NULL DO NOTHING
	RETURNING event.id INTO new_id;
	IF new_id IS NULL THEN
		RETURN NULL;
	END IF;
	INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
	SELECT e.id, lvl, e.assignee_id, p_at FROM sanse.event e WHERE e.id = new_id;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) VALUES (new_id, 'called', p_at, p_raised_by, p_detail);
	RETURN new_id;
END
$$;

-- The event a call made already (the key of event_call_once), or NULL.
CREATE OR REPLACE FUNCTION loop_same_call(p_kind text, p_resident bigint, p_area bigint, p_at timestamptz, p_raised_by bigint, p_detail text)
RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN (SELECT e.id FROM sanse.event e
	         WHERE e.kind = p_kind AND coalesce(e.resident_id, 0) = coalesce(p_resident, 0)
	           AND (CASE WHEN e.resident_id IS NULL THEN e.area_id ELSE 0 END) = (CASE WHEN p_resident IS NULL THEN p_area ELSE 0 END)
	           AND e.first_called_at = p_at AND coalesce(e.raised_by, 0) = coalesce(p_raised_by, 0)
	           AND md5(e.detail) IS NOT DISTINCT FROM md5(p_detail) AND e.parent_id IS NULL
	         ORDER BY e.id LIMIT 1);
END
$$;

-- A call's values, and its author (raised_by): a worker the caller acts for.
CREATE OR REPLACE FUNCTION loop_check_call(kind text, scale text, detail text, raised_by bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF kind IS NULL OR kind = 'overdue' OR NOT EXISTS (SELECT 1 FROM sanse.event_kind k WHERE k.value = kind) THEN
		RAISE EXCEPTION 'unknown event kind "%"', coalesce(kind, 'NULL')
			USING ERRCODE = '22023', HINT = 'Kinds are warning, finding, request and task (overdue events come from missed visits).';
	END IF;
	IF scale IS NULL OR NOT EXISTS (SELECT 1 FROM sanse.event_scale s WHERE s.value = scale) THEN
		RAISE EXCEPTION 'unknown event scale "%"', coalesce(scale, 'NULL')
			USING ERRCODE = '22023', HINT = 'Scales are grid (level 1), department (level 3) and task_force (level 4).';
	END IF;
	PERFORM sanse.check_free_text(detail, 'detail');
	IF raised_by IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sanse.worker w WHERE w.id = raised_by) THEN
		RAISE EXCEPTION 'worker % does not exist', raised_by USING ERRCODE = '22023';
	ELSIF raised_by IS NOT NULL AND NOT sanse.acts_for(raised_by) THEN
		RAISE EXCEPTION 'worker % may not be named as raising an event by this role', raised_by
			USING ERRCODE = '42501', DETAIL = 'A worker bound to a db_role is named only by that role, an unbound worker only by a role with care over its area.';
	END IF;
END
$$;

-- A call as raise_event makes it, every check and every case: raise_event
-- (C, src/loop_path.c) takes the plain call itself and hands it everything
-- else (a refusal, a retry, a call without a detail) before it wrote
-- anything.
CREATE OR REPLACE FUNCTION loop_raise(kind text, resident_id bigint, detail text, scale text,
                                      at timestamptz, raised_by bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	r sanse.resident;
	same bigint;
	ok boolean;
BEGIN
	ok := sanse.loop_time(at, 'an event');
	PERFORM sanse.loop_check_call(kind, scale, detail, raised_by);
	-- locked FOR SHARE: a forgetting waits for the event, or the event for it
	SELECT * INTO r FROM sanse.resident x WHERE x.id = resident_id AND sanse.caller_sees(x.area_id, 'care') FOR SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'resident % does not exist', coalesce(resident_id::text, 'NULL') USING ERRCODE = '22023';
	ELSIF r.forgotten_at IS NOT NULL THEN
		RAISE EXCEPTION 'resident % has been forgotten', resident_id
			USING ERRCODE = '55000', DETAIL = 'No event is raised about a forgotten resident.';
	END IF;
	-- a retry of the same call returns the same event
	same := coalesce(sanse.loop_same_call(kind, r.id, NULL, at, raised_by, detail),
	                 sanse.call_event(kind, r.id, r.area_id, r.tier, detail, scale, at, raised_by, NULL, NULL));
	RETURN coalesce(same, sanse.loop_same_call(kind, r.id, NULL, at, raised_by, detail));
END
$$;
REVOKE ALL ON FUNCTION loop_raise(text, bigint, text, text, timestamptz, bigint) FROM PUBLIC;
COMMENT ON FUNCTION loop_raise(text, bigint, text, text, timestamptz, bigint) IS 'raise_event''s every case, refusals and retries included (raise_event takes the plain call in C and hands it the rest)';

-- The plain call in two statements with saved plans (src/loop_path.c):
-- the resident locked with the call's values checked, then the event, its
-- first step and its transition in one statement.
CREATE OR REPLACE FUNCTION raise_event(kind text, resident_id bigint, detail text, scale text DEFAULT 'grid',
                            at timestamptz DEFAULT now(), raised_by bigint DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'loop_raise_event' LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, sanse;
REVOKE ALL ON FUNCTION raise_event(text, bigint, text, text, timestamptz, bigint) FROM PUBLIC;
COMMENT ON FUNCTION raise_event(text, bigint, text, text, timestamptz, bigint) IS 'raise a warning, finding, request or task about a resident; returns the event id (called, at its scale''s level)';

CREATE OR REPLACE FUNCTION dispatch_task(area_id bigint, detail text, scale text DEFAULT 'grid',
                              at timestamptz DEFAULT now(), raised_by bigint DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	same bigint;
	ok boolean;
BEGIN
	ok := sanse.loop_time(at, 'a task');
	PERFORM sanse.loop_check_call('task', scale, detail, raised_by);
	IF NOT EXISTS (SELECT 1 FROM sanse.area a WHERE a.id = area_id AND sanse.caller_sees(a.id, 'care')) THEN
		RAISE EXCEPTION 'area % does not exist', coalesce(area_id::text, 'NULL') USING ERRCODE = '22023';
	END IF;
	same := coalesce(sanse.loop_same_call('task', NULL, area_id, at, raised_by, detail),
	                 sanse.call_event('task', NULL, area_id, NULL, detail, scale, at, raised_by, NULL, NULL));
	RETURN coalesce(same, sanse.loop_same_call('task', NULL, area_id, at, raised_by, detail));
END
$$;
REVOKE ALL ON FUNCTION dispatch_task(bigint, text, text, timestamptz, bigint) FROM PUBLIC;
COMMENT ON FUNCTION dispatch_task(bigint, text, text, timestamptz, bigint) IS 'dispatch a task about an area; returns the event id';

REVOKE ALL ON FUNCTION call_event(text, bigint, bigint, risk_tier, text, text, timestamptz, bigint, bigint, text),
	loop_same_call(text, bigint, bigint, timestamptz, bigint, text), loop_check_call(text, text, text, bigint) FROM PUBLIC;
