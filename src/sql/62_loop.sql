-----------------------------------------------------------------------------
-- The closed loop (闭环处置, spec 7): warnings, findings, requests and tasks
-- go call > arrive > handle > feed back > evaluate.  Each transition is a
-- function that runs as the owner (granted to the app, not to PUBLIC),
-- refuses a wrong stage (55000), a worker who may not act (42501), a time
-- ahead of the clock (22008) and unknown values (22023), and takes a retry
-- of the same transition (same worker, same time) as done.  The clocks are
-- the events' escalation steps: sanse.sweep climbs them at logical times.
-----------------------------------------------------------------------------

-- Inserting a (kind, tier) that has a policy replaces it, so pg_dump restores
-- edited policies over the defaults CREATE EXTENSION puts back.
CREATE FUNCTION loop_policy_upsert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.loop_policy'::regclass THEN
		RAISE EXCEPTION 'trigger function loop_policy_upsert() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.loop_policy.';
	END IF;
	UPDATE sanse.loop_policy l
	   SET arrive_within = NEW.arrive_within, handle_within = NEW.handle_within
	 WHERE l.kind = NEW.kind AND l.tier IS NOT DISTINCT FROM NEW.tier;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER loop_policy_upsert BEFORE INSERT ON loop_policy
	FOR EACH ROW EXECUTE FUNCTION loop_policy_upsert();
ALTER TABLE loop_policy ENABLE ALWAYS TRIGGER loop_policy_upsert;

-- A policy edit (a row changed, added or removed) re-derives the open clocks
-- of its kind: the next step counts the new interval from the last step
-- reached on the current clock (or from the clock's start); steps already
-- reached stay.
CREATE FUNCTION loop_policy_rederive() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.loop_policy'::regclass THEN
		RAISE EXCEPTION 'trigger function loop_policy_rederive() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.loop_policy.';
	END IF;
	-- each branch names only the transition tables its event has
	IF TG_OP = 'DELETE' THEN
		UPDATE sanse.event e
		   SET next_step_at = sanse.zone_add(greatest(e.level_since,
		                                              CASE e.status WHEN 'called' THEN e.called_at ELSE e.arrived_at END),
		                                     sanse.step_interval(e.kind, e.tier, e.status))
		 WHERE e.kind IN (SELECT o.kind FROM old_rows o) AND e.status IN ('called', 'arrived') AND e.level < 4;
	ELSE
		UPDATE sanse.event e
		   SET next_step_at = sanse.zone_add(greatest(e.level_since,
		                                              CASE e.status WHEN 'called' THEN e.called_at ELSE e.arrived_at END),
		                                     sanse.step_interval(e.kind, e.tier, e.status))
		 WHERE e.kind IN (SELECT n.kind FROM new_rows n) AND e.status IN ('called', 'arrived') AND e.level < 4;
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER loop_policy_rederive AFTER UPDATE ON loop_policy
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION loop_policy_rederive();
CREATE TRIGGER loop_policy_rederive_insert AFTER INSERT ON loop_policy
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION loop_policy_rederive();
CREATE TRIGGER loop_policy_rederive_delete AFTER DELETE ON loop_policy
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION loop_policy_rederive();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON loop_policy FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER loop_policy_audit AFTER INSERT OR UPDATE OR DELETE ON loop_policy
	FOR EACH STATEMENT EXECUTE FUNCTION audit_change();
CREATE TRIGGER loop_policy_no_truncate BEFORE TRUNCATE ON loop_policy
	FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
REVOKE ALL ON FUNCTION loop_policy_upsert(), loop_policy_rederive() FROM PUBLIC;

-- Every transition, as it happened: stage entered, logical time, worker.
CREATE TABLE event_transition (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_id bigint NOT NULL REFERENCES event (id) ON DELETE CASCADE,
	stage text NOT NULL CHECK (stage IN ('called', 'arrived', 'handled', 'fed_back', 'whistled', 'evaluated', 'reopened', 'closed')),
	at timestamptz NOT NULL,
	worker_id bigint REFERENCES worker (id),
	note text CHECK (length(note) <= 2000),
	recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_transition_event ON event_transition (event_id, at);
CREATE INDEX event_transition_handled ON event_transition (worker_id, at) WHERE stage = 'handled';
COMMENT ON TABLE event_transition IS 'every transition of a closed-loop event: the stage entered, its logical time, the worker and a note';
SELECT pg_catalog.pg_extension_config_dump('event_transition', '');
SELECT pg_catalog.pg_extension_config_dump('event_transition_id_seq', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON event_transition FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

-- The level an event of a scale starts at.
CREATE FUNCTION scale_level(scale text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (ARRAY[1, 3, 4]::smallint[])[array_position(sanse.event_scales(), scale)];

-- A loop transition's time: given, and at most 5 minutes ahead (22008).
CREATE FUNCTION loop_time(at timestamptz, what text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF at IS NULL OR at > pg_catalog.clock_timestamp() + interval '5 minutes' OR NOT isfinite(at) THEN
		RAISE EXCEPTION '% cannot be dated %', what, CASE WHEN at IS NULL THEN 'NULL' WHEN NOT isfinite(at) THEN at::text ELSE 'ahead of the server clock' END
			USING ERRCODE = '22008', DETAIL = 'A closed-loop transition may be dated at most 5 minutes ahead of the server clock.';
	END IF;
END
$$;

-- May this worker act on this event?  Whoever may check in at the door of
-- its resident (a carer, or a leader or task force whose area contains it),
-- a leader or task force whose area contains the event's area, and staff of
-- a department whistled for it; active, and the bound login when db_role is
-- set (as check_in).
-- (PL/pgSQL so its plan is kept for the session: a transition calls it once.)
CREATE FUNCTION may_act(p_event bigint, p_worker bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
BEGIN
	RETURN (SELECT coalesce(bool_or(
	         w.active
	         AND (w.db_role IS NULL
	              OR (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = w.db_role)
	                  AND pg_catalog.pg_has_role(session_user, w.db_role, 'MEMBER')))
	         AND ((e.resident_id IS NOT NULL
	               AND EXISTS (SELECT 1 FROM sanse.carer c WHERE c.resident_id = e.resident_id AND c.worker_id = w.id))
	              OR (w.role <> 'member' AND sanse.path_contains(wa.path, ea.path))
	              OR (w.department IS NOT NULL
	                  AND (e.department = w.department
	                       OR EXISTS (SELECT 1 FROM sanse.event c WHERE c.parent_id = e.id AND c.department = w.department))))),
	         false)
	  FROM sanse.event e
	  JOIN sanse.area ea ON ea.id = e.area_id
	  JOIN sanse.worker w ON w.id = p_worker
	  JOIN sanse.area wa ON wa.id = w.area_id
	 WHERE e.id = p_event);
END
$$;

-- The event to move, locked; 22023 when there is none or it is a missed
-- visit (a visit closes those).
CREATE FUNCTION loop_event(p_event bigint) RETURNS event
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	e sanse.event;
BEGIN
	SELECT * INTO e FROM sanse.event WHERE id = p_event FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'event % does not exist', coalesce(p_event::text, 'NULL') USING ERRCODE = '22023';
	ELSIF e.kind = 'overdue' THEN
		RAISE EXCEPTION 'event % is an overdue event', p_event
			USING ERRCODE = '22023', HINT = 'A visit to the resident (sanse.check_in) closes it.';
	END IF;
	RETURN e;
END
$$;

CREATE FUNCTION loop_refuse_stage(e event, wanted text, act text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'event % is %, so it cannot be %', e.id, e.status, act
		USING ERRCODE = '55000', DETAIL = format('Only an event that is %s can be %s.', wanted, act);
END
$$;

CREATE FUNCTION loop_refuse_worker(e event, p_worker bigint, act text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'worker % may not % event % (%)', coalesce(p_worker::text, 'NULL'), act, e.id, e.status
		USING ERRCODE = '42501',
		      DETAIL = 'Only an active carer of its resident, a leader or task force whose area contains it, or staff of a department whistled for it may act on an event.';
END
$$;

-- End the current clock at p_at: the steps due by then are reached, whether
-- or not a sweep took them; those dated after it never happened (an arrival
-- or handling synced late) and are removed.  The last step left is the
-- level reached at that time.
CREATE FUNCTION loop_end_clock(p_event bigint, p_since timestamptz, p_at timestamptz) RETURNS event_step
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	last sanse.event_step;
BEGIN
	PERFORM sanse.escalate_events(p_at, NULL, p_event);
	DELETE FROM sanse.event_step s WHERE s.event_id = p_event AND s.at > p_at AND s.at > p_since;
	SELECT * INTO last FROM sanse.event_step s WHERE s.event_id = p_event ORDER BY s.at DESC, s.level DESC LIMIT 1;
	RETURN last;
END
$$;

-- Create a loop event in stage called at its scale's level, with its first
-- step and its arrival clock.
CREATE FUNCTION call_event(p_kind text, p_resident bigint, p_area bigint, p_tier risk_tier, p_detail text,
                           p_scale text, p_at timestamptz, p_raised_by bigint, p_parent bigint, p_department text)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	lvl smallint := sanse.scale_level(p_scale);
	new_id bigint;
BEGIN
	INSERT INTO sanse.event (resident_id, area_id, kind, status, tier, level, assignee_id, due_at, level_since,
	                         next_step_at, scale, parent_id, department, detail, raised_by, called_at)
	VALUES (p_resident, p_area, p_kind, 'called', p_tier, lvl, sanse.leader_for(p_area, lvl), p_at, p_at,
	        CASE WHEN lvl < 4 THEN sanse.zone_add(p_at, sanse.step_interval(p_kind, p_tier, 'called')) END,
	        p_scale, p_parent, p_department, p_detail, p_raised_by, p_at)
	RETURNING event.id INTO new_id;
	INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
	SELECT e.id, lvl, e.assignee_id, p_at FROM sanse.event e WHERE e.id = new_id;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) VALUES (new_id, 'called', p_at, p_raised_by, p_detail);
	RETURN new_id;
END
$$;

CREATE FUNCTION loop_check_call(kind text, scale text, detail text, raised_by bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF kind IS NULL OR kind = 'overdue' OR NOT kind = ANY (sanse.event_kinds()) THEN
		RAISE EXCEPTION 'unknown event kind "%"', coalesce(kind, 'NULL')
			USING ERRCODE = '22023', HINT = 'Kinds are warning, finding, request and task (overdue events come from missed visits).';
	END IF;
	IF scale IS NULL OR NOT scale = ANY (sanse.event_scales()) THEN
		RAISE EXCEPTION 'unknown event scale "%"', coalesce(scale, 'NULL')
			USING ERRCODE = '22023', HINT = 'Scales are grid (level 1), department (level 3) and task_force (level 4).';
	END IF;
	IF length(detail) > 2000 THEN
		RAISE EXCEPTION 'the detail is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	IF raised_by IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sanse.worker w WHERE w.id = raised_by) THEN
		RAISE EXCEPTION 'worker % does not exist', raised_by USING ERRCODE = '22023';
	END IF;
END
$$;

CREATE FUNCTION raise_event(kind text, resident_id bigint, detail text, scale text DEFAULT 'grid',
                            at timestamptz DEFAULT now(), raised_by bigint DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	r sanse.resident;
	same bigint;
BEGIN
	PERFORM sanse.loop_time(at, 'an event');
	PERFORM sanse.loop_check_call(kind, scale, detail, raised_by);
	SELECT * INTO r FROM sanse.resident x WHERE x.id = resident_id AND sanse.caller_sees(x.area_id, 'read');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'resident % does not exist', coalesce(resident_id::text, 'NULL') USING ERRCODE = '22023';
	ELSIF r.forgotten_at IS NOT NULL THEN
		RAISE EXCEPTION 'resident % has been forgotten', resident_id
			USING ERRCODE = '55000', DETAIL = 'No event is raised about a forgotten resident.';
	END IF;
	-- a retry of the same call returns the same event
	SELECT e.id INTO same FROM sanse.event e
	 WHERE e.resident_id = r.id AND e.kind = kind AND e.called_at = at AND e.parent_id IS NULL
	   AND e.raised_by IS NOT DISTINCT FROM raised_by AND e.detail IS NOT DISTINCT FROM detail
	 ORDER BY e.id LIMIT 1;
	IF FOUND THEN
		RETURN same;
	END IF;
	RETURN sanse.call_event(kind, r.id, r.area_id, r.tier, detail, scale, at, raised_by, NULL, NULL);
END
$$;
REVOKE ALL ON FUNCTION raise_event(text, bigint, text, text, timestamptz, bigint) FROM PUBLIC;
COMMENT ON FUNCTION raise_event(text, bigint, text, text, timestamptz, bigint) IS 'raise a warning, finding, request or task about a resident; returns the event id (called, at its scale''s level)';

CREATE FUNCTION dispatch_task(area_id bigint, detail text, scale text DEFAULT 'grid',
                              at timestamptz DEFAULT now(), raised_by bigint DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	same bigint;
BEGIN
	PERFORM sanse.loop_time(at, 'a task');
	PERFORM sanse.loop_check_call('task', scale, detail, raised_by);
	IF NOT EXISTS (SELECT 1 FROM sanse.area a WHERE a.id = area_id AND sanse.caller_sees(a.id, 'read')) THEN
		RAISE EXCEPTION 'area % does not exist', coalesce(area_id::text, 'NULL') USING ERRCODE = '22023';
	END IF;
	SELECT e.id INTO same FROM sanse.event e
	 WHERE e.area_id = area_id AND e.resident_id IS NULL AND e.kind = 'task' AND e.called_at = at
	   AND e.parent_id IS NULL AND e.raised_by IS NOT DISTINCT FROM raised_by AND e.detail IS NOT DISTINCT FROM detail
	 ORDER BY e.id LIMIT 1;
	IF FOUND THEN
		RETURN same;
	END IF;
	RETURN sanse.call_event('task', NULL, area_id, NULL, detail, scale, at, raised_by, NULL, NULL);
END
$$;
REVOKE ALL ON FUNCTION dispatch_task(bigint, text, text, timestamptz, bigint) FROM PUBLIC;
COMMENT ON FUNCTION dispatch_task(bigint, text, text, timestamptz, bigint) IS 'dispatch a task about an area; returns the event id';

-- 报到: presence, proved by the door token for an event about a resident.
CREATE FUNCTION arrive(event_id bigint, worker_id bigint, token text DEFAULT NULL, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
	nonce bytea;
	t record;
	last sanse.event_step;
BEGIN
	PERFORM sanse.loop_time(at, 'an arrival');
	e := sanse.loop_event(event_id);
	IF e.resident_id IS NOT NULL THEN
		nonce := sanse.door_token_verify(token, worker_id, 'arrival');
		SELECT d.resident_id, d.revoked_at INTO t FROM sanse.door_token d WHERE d.nonce = nonce;
		IF NOT FOUND THEN
			PERFORM sanse.door_token_refuse(worker_id, 'unknown', 'arrival');
		ELSIF t.revoked_at IS NOT NULL THEN
			PERFORM sanse.door_token_refuse(worker_id, 'revoked', 'arrival');
		ELSIF t.resident_id <> e.resident_id THEN
			PERFORM sanse.door_token_refuse(worker_id, 'for another door', 'arrival');
		END IF;
	END IF;
	-- a retry (after the token: a retry proves presence as the first did)
	IF e.status <> 'called' AND e.arrived_by IS NOT DISTINCT FROM worker_id AND e.arrived_at = at THEN
		RETURN;
	END IF;
	IF e.status <> 'called' THEN
		PERFORM sanse.loop_refuse_stage(e, 'called', 'arrived at');
	END IF;
	IF at < e.called_at THEN
		RAISE EXCEPTION 'an arrival cannot be dated before event % was called', e.id USING ERRCODE = '22008';
	END IF;
	IF NOT sanse.may_act(e.id, worker_id) THEN
		PERFORM sanse.loop_refuse_worker(e, worker_id, 'arrive at');
	END IF;
	last := sanse.loop_end_clock(e.id, e.called_at, at);
	UPDATE sanse.event x
	   SET status = 'arrived', arrived_at = at, arrived_by = worker_id,
	       level = last.level, level_since = last.at, assignee_id = last.assignee_id,
	       next_step_at = CASE WHEN last.level < 4 THEN sanse.zone_add(at, sanse.step_interval(x.kind, x.tier, 'arrived')) END
	 WHERE x.id = e.id;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id) VALUES (e.id, 'arrived', at, worker_id);
END
$$;
REVOKE ALL ON FUNCTION arrive(bigint, bigint, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION arrive(bigint, bigint, text, timestamptz) IS 'report in (报到) at an event; the door token proves presence for an event about a resident';

-- 处置
CREATE FUNCTION handle_event(event_id bigint, worker_id bigint, action text, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
	last sanse.event_step;
BEGIN
	PERFORM sanse.loop_time(at, 'a handling');
	e := sanse.loop_event(event_id);
	IF e.handled_by IS NOT DISTINCT FROM worker_id AND e.handled_at = at THEN
		RETURN;		-- a retry
	END IF;
	IF e.status <> 'arrived' THEN
		PERFORM sanse.loop_refuse_stage(e, 'arrived', 'handled');
	END IF;
	IF length(action) > 2000 THEN
		RAISE EXCEPTION 'the action is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	IF at < e.arrived_at THEN
		RAISE EXCEPTION 'a handling cannot be dated before the arrival at event %', e.id USING ERRCODE = '22008';
	END IF;
	IF NOT sanse.may_act(e.id, worker_id) THEN
		PERFORM sanse.loop_refuse_worker(e, worker_id, 'handle');
	END IF;
	IF EXISTS (SELECT 1 FROM sanse.event c WHERE c.parent_id = e.id AND c.status IN ('called', 'arrived')) THEN
		RAISE EXCEPTION 'event % has whistled events not yet handled', e.id
			USING ERRCODE = '55000', HINT = 'Each department must handle its child event first.';
	END IF;
	last := sanse.loop_end_clock(e.id, e.arrived_at, at);
	UPDATE sanse.event x
	   SET status = 'handled', handled_at = at, handled_by = worker_id, action = handle_event.action, next_step_at = NULL,
	       level = last.level, level_since = last.at, assignee_id = last.assignee_id
	 WHERE x.id = e.id;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) VALUES (e.id, 'handled', at, worker_id, action);
END
$$;
REVOKE ALL ON FUNCTION handle_event(bigint, bigint, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION handle_event(bigint, bigint, text, timestamptz) IS 'handle (处置) an arrived event; refused while whistled child events are unhandled';

-- 网格吹哨: a child task for a department, with its own clocks.
CREATE FUNCTION whistle(event_id bigint, department text, worker_id bigint, at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
	same bigint;
BEGIN
	PERFORM sanse.loop_time(at, 'a whistle');
	e := sanse.loop_event(event_id);
	IF department IS NULL OR NOT EXISTS (SELECT 1 FROM sanse.department d WHERE d.code = department) THEN
		RAISE EXCEPTION 'unknown department "%"', coalesce(department, 'NULL')
			USING ERRCODE = '22023', HINT = 'Departments are the rows of sanse.department.';
	END IF;
	SELECT c.id INTO same FROM sanse.event c
	 WHERE c.parent_id = e.id AND c.department = department AND c.called_at = at
	   AND c.raised_by IS NOT DISTINCT FROM worker_id
	 ORDER BY c.id LIMIT 1;
	IF FOUND THEN
		RETURN same;	-- a retry
	END IF;
	IF e.status NOT IN ('called', 'arrived') THEN
		PERFORM sanse.loop_refuse_stage(e, 'called or arrived', 'whistled for');
	END IF;
	IF at < e.called_at THEN
		RAISE EXCEPTION 'a whistle cannot be dated before event % was called', e.id USING ERRCODE = '22008';
	END IF;
	IF NOT sanse.may_act(e.id, worker_id) THEN
		PERFORM sanse.loop_refuse_worker(e, worker_id, 'whistle for');
	END IF;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) VALUES (e.id, 'whistled', at, worker_id, department);
	RETURN sanse.call_event('task', e.resident_id, e.area_id, e.tier, 'whistled for ' || department, 'department',
	                        at, worker_id, e.id, department);
END
$$;
REVOKE ALL ON FUNCTION whistle(bigint, text, bigint, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION whistle(bigint, text, bigint, timestamptz) IS 'whistle (网格吹哨) for a department: a child task event at level 3 with its own clocks; returns its id';

-- 反馈
CREATE FUNCTION feed_back(event_id bigint, worker_id bigint, note text, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
BEGIN
	PERFORM sanse.loop_time(at, 'a feedback');
	e := sanse.loop_event(event_id);
	IF e.fed_back_by IS NOT DISTINCT FROM worker_id AND e.fed_back_at = at THEN
		RETURN;		-- a retry
	END IF;
	IF e.status <> 'handled' THEN
		PERFORM sanse.loop_refuse_stage(e, 'handled', 'fed back');
	END IF;
	IF length(note) > 2000 THEN
		RAISE EXCEPTION 'the note is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	IF at < e.handled_at THEN
		RAISE EXCEPTION 'a feedback cannot be dated before event % was handled', e.id USING ERRCODE = '22008';
	END IF;
	IF NOT sanse.may_act(e.id, worker_id) THEN
		PERFORM sanse.loop_refuse_worker(e, worker_id, 'feed back on');
	END IF;
	UPDATE sanse.event x
	   SET status = 'fed_back', fed_back_at = at, fed_back_by = worker_id, feedback = feed_back.note
	 WHERE x.id = e.id;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) VALUES (e.id, 'fed_back', at, worker_id, note);
END
$$;
REVOKE ALL ON FUNCTION feed_back(bigint, bigint, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION feed_back(bigint, bigint, text, timestamptz) IS 'feed back (反馈) on a handled event';

-- 评价: by the resident or a supervisor, never by whoever handled it.  A
-- rating of 2 or less, or not solved, reopens the event one level up.
CREATE FUNCTION evaluate(event_id bigint, rating smallint, solved boolean, by text, comment text DEFAULT NULL,
                         at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
	lvl smallint;
BEGIN
	PERFORM sanse.loop_time(at, 'an evaluation');
	e := sanse.loop_event(event_id);
	IF EXISTS (SELECT 1 FROM sanse.event_transition t
	            WHERE t.event_id = e.id AND t.stage IN ('closed', 'reopened') AND t.at = at
	              AND t.note IS NOT DISTINCT FROM format('%s by %s: %s', rating, by, coalesce(comment, ''))) THEN
		RETURN;		-- a retry
	END IF;
	IF e.status <> 'fed_back' THEN
		PERFORM sanse.loop_refuse_stage(e, 'fed_back', 'evaluated');
	END IF;
	IF rating IS NULL OR rating NOT BETWEEN 1 AND 5 THEN
		RAISE EXCEPTION 'rating % is not between 1 and 5', coalesce(rating::text, 'NULL') USING ERRCODE = '22023';
	END IF;
	IF solved IS NULL THEN
		RAISE EXCEPTION 'say whether the problem was solved' USING ERRCODE = '22023';
	END IF;
	IF by IS NULL OR by NOT IN ('resident', 'supervisor') THEN
		RAISE EXCEPTION 'an evaluation is by resident or supervisor, not "%"', coalesce(by, 'NULL') USING ERRCODE = '22023';
	END IF;
	IF length(comment) > 2000 THEN
		RAISE EXCEPTION 'the comment is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	IF at < e.fed_back_at THEN
		RAISE EXCEPTION 'an evaluation cannot be dated before event % was fed back', e.id USING ERRCODE = '22008';
	END IF;
	-- whoever handled the event may not evaluate it
	IF EXISTS (SELECT 1 FROM sanse.worker w
	            WHERE w.id = e.handled_by AND w.db_role IS NOT NULL
	              AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = w.db_role)
	              AND pg_catalog.pg_has_role(session_user, w.db_role, 'MEMBER')) THEN
		RAISE EXCEPTION 'whoever handled event % may not evaluate it', e.id USING ERRCODE = '42501';
	END IF;
	UPDATE sanse.event x SET rating = evaluate.rating, solved = evaluate.solved, evaluated_by = by WHERE x.id = e.id;
	IF rating <= 2 OR NOT solved THEN
		lvl := least(e.level + 1, 4);
		INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
		VALUES (e.id, lvl, sanse.leader_for(e.area_id, lvl), at)
		ON CONFLICT DO NOTHING;
		UPDATE sanse.event x
		   SET status = 'called', called_at = at, level = lvl, level_since = at, assignee_id = sanse.leader_for(x.area_id, lvl),
		       arrived_at = NULL, arrived_by = NULL, handled_at = NULL, handled_by = NULL, action = NULL,
		       fed_back_at = NULL, fed_back_by = NULL, feedback = NULL, reopened = x.reopened + 1,
		       next_step_at = CASE WHEN lvl < 4 THEN sanse.zone_add(at, sanse.step_interval(x.kind, x.tier, 'called')) END
		 WHERE x.id = e.id;
		INSERT INTO sanse.event_transition (event_id, stage, at, note)
		VALUES (e.id, 'reopened', at, format('%s by %s: %s', rating, by, coalesce(comment, '')));
	ELSE
		UPDATE sanse.event x SET status = 'closed', resolved_at = at, next_step_at = NULL WHERE x.id = e.id;
		INSERT INTO sanse.event_transition (event_id, stage, at, note)
		VALUES (e.id, 'closed', at, format('%s by %s: %s', rating, by, coalesce(comment, '')));
	END IF;
END
$$;
REVOKE ALL ON FUNCTION evaluate(bigint, smallint, boolean, text, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION evaluate(bigint, smallint, boolean, text, text, timestamptz) IS 'evaluate (评价) a fed-back event: rating 1-5, solved; 2 or less or unsolved reopens it one level up, otherwise it closes';

REVOKE ALL ON FUNCTION may_act(bigint, bigint), loop_event(bigint), loop_refuse_stage(event, text, text),
	loop_refuse_worker(event, bigint, text), loop_end_clock(bigint, timestamptz, timestamptz),
	call_event(text, bigint, bigint, risk_tier, text, text, timestamptz, bigint, bigint, text),
	loop_check_call(text, text, text, bigint) FROM PUBLIC;
