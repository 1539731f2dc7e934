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
CREATE OR REPLACE FUNCTION loop_policy_upsert() RETURNS trigger
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
CREATE OR REPLACE FUNCTION loop_policy_rederive() RETURNS trigger
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

-- The role acting in the session (SET ROLE's, else the login), which a
-- SECURITY DEFINER function cannot read from current_user; and
-- sanse.max_backdate as check_in counts it.  Both read in C.
CREATE OR REPLACE FUNCTION acting_role() RETURNS name
	AS 'MODULE_PATHNAME', 'acting_role' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION acting_role() IS 'the role acting in the session: SET ROLE''s, else the login';
CREATE OR REPLACE FUNCTION max_backdate() RETURNS interval
	AS 'MODULE_PATHNAME', 'max_backdate' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION max_backdate() IS 'the setting sanse.max_backdate, as the interval check-ins and loop transitions are bounded by';

-- Every transition, as it happened: stage entered, logical time, worker,
-- and who did it: the role acting and the login (evaluate refuses them).
CREATE TABLE event_transition (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_id bigint NOT NULL REFERENCES event (id) ON DELETE CASCADE,
	stage text NOT NULL CHECK (stage IN ('called', 'arrived', 'handled', 'fed_back', 'whistled', 'evaluated', 'reopened', 'closed')),
	at timestamptz NOT NULL,
	worker_id bigint REFERENCES worker (id),
	note text CHECK (length(note) <= 2000),
	recorded_at timestamptz NOT NULL DEFAULT now(),
	acted_as name DEFAULT acting_role(),
	login name DEFAULT session_user
);
COMMENT ON COLUMN event_transition.acted_as IS 'the role acting in the session that made the transition (SET ROLE''s, else the login)';
COMMENT ON COLUMN event_transition.login IS 'the login (session_user) of the session that made the transition';
CREATE INDEX event_transition_event ON event_transition (event_id, at);
CREATE INDEX event_transition_handled ON event_transition (worker_id, at) WHERE stage = 'handled';
COMMENT ON TABLE event_transition IS 'every transition of a closed-loop event: the stage entered, its logical time, the worker and a note';
SELECT pg_catalog.pg_extension_config_dump('event_transition', '');
SELECT pg_catalog.pg_extension_config_dump('event_transition_id_seq', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON event_transition FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

-- The level an event of a scale starts at.
CREATE OR REPLACE FUNCTION scale_level(scale text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (ARRAY[1, 3, 4]::smallint[])[array_position(sanse.event_scales(), scale)];


-- The original call of a loop event: called_at moves when evaluate reopens
-- it, this does not.  A retried call finds its event by it, and the database
-- enforces that one call makes one event (a retry that comes while the first
-- call's transaction is open waits for it and gets its event): same kind,
-- resident (or area, for a task), original time, author and detail.  A call
-- without a detail is matched by looking, not enforced (forgetting a
-- resident sets the details of its events to NULL, which never conflict).
COMMENT ON COLUMN event.first_called_at IS 'a loop event''s original call time (called_at moves on a reopen): with kind, resident or area, author and detail, the key a retried call finds its event by';
CREATE UNIQUE INDEX event_call_once ON event (kind, coalesce(resident_id, 0), (CASE WHEN resident_id IS NULL THEN area_id ELSE 0 END),
                                             first_called_at, coalesce(raised_by, 0), md5(detail))
	WHERE parent_id IS NULL AND first_called_at IS NOT NULL;

-- A loop transition's time (spec 7, 22008): given and finite, at most 5
-- minutes ahead of the server clock, at most sanse.max_backdate behind it
-- (as a check-in), and not before the stage it follows (since).
CREATE OR REPLACE FUNCTION loop_time(at timestamptz, what text, since timestamptz DEFAULT NULL, since_what text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF at IS NULL OR NOT isfinite(at) THEN
		RAISE EXCEPTION '% cannot be dated %', what, coalesce(at::text, 'NULL') USING ERRCODE = '22008';
	ELSIF at > pg_catalog.clock_timestamp() + interval '5 minutes' THEN
		RAISE EXCEPTION '% cannot be dated ahead of the server clock', what
			USING ERRCODE = '22008', DETAIL = 'A closed-loop transition may be dated at most 5 minutes ahead of the server clock.';
	ELSIF at < pg_catalog.clock_timestamp() - sanse.max_backdate() THEN
		RAISE EXCEPTION '% cannot be dated further back than sanse.max_backdate', what
			USING ERRCODE = '22008',
			      DETAIL = format('A closed-loop transition may be dated at most sanse.max_backdate (%s) before the server clock.', justify_hours(sanse.max_backdate())),
			      HINT = 'A superuser replaying older history raises sanse.max_backdate.';
	ELSIF at < since THEN
		RAISE EXCEPTION '% cannot be dated before %', what, since_what USING ERRCODE = '22008';
	END IF;
END
$$;

-- May the calling role name this worker (spec 7)?  A worker bound to a
-- db_role only as that role (the role acting, or a member of it); an unbound
-- worker only inside the caller's care subtree.
CREATE OR REPLACE FUNCTION acts_for(p_worker bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
BEGIN
	RETURN coalesce((SELECT CASE WHEN w.db_role IS NULL THEN sanse.caller_sees(w.area_id, 'care')
	                             WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = w.db_role) THEN false
	                             ELSE pg_catalog.pg_has_role(sanse.acting_role(), w.db_role, 'MEMBER') END
	                   FROM sanse.worker w WHERE w.id = p_worker), false);
END
$$;

-- May this worker act on this event, named by this caller?  The caller acts
-- for the worker (acts_for), and the worker is active and one who may check
-- in at the door of its resident (a carer, or a leader or task force whose
-- area contains it), a leader or task force whose area contains the event's
-- area, or staff of a department whistled for it.
-- (PL/pgSQL so its plan is kept for the session: a transition calls it once.)
CREATE OR REPLACE FUNCTION may_act(p_event bigint, p_worker bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
BEGIN
	RETURN sanse.acts_for(p_worker) AND (SELECT coalesce(bool_or(
	         w.active
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

-- The event to move, locked.  Outside the calling role's care subtree it
-- does not exist (22023, the words of an id that names nothing, so nothing
-- tells an event elsewhere, its kind or its stage); a missed visit the caller
-- may see is refused (a visit closes those).  Its resident is locked first
-- (FOR SHARE, in the order forget_resident takes resident and events), so a
-- forgetting waits for the transition or the transition for the forgetting,
-- and a forgotten resident's event takes none (55000).
CREATE OR REPLACE FUNCTION loop_event(p_event bigint) RETURNS event
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	e sanse.event;
	forgotten timestamptz;
BEGIN
	SELECT * INTO e FROM sanse.event x WHERE x.id = p_event AND sanse.caller_sees(x.area_id, 'care');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'event % does not exist', coalesce(p_event::text, 'NULL') USING ERRCODE = '22023';
	ELSIF e.kind = 'overdue' THEN
		RAISE EXCEPTION 'event % is an overdue event', p_event
			USING ERRCODE = '22023', HINT = 'A visit to the resident (sanse.check_in) closes it.';
	END IF;
	IF e.resident_id IS NOT NULL THEN
		SELECT r.forgotten_at INTO forgotten FROM sanse.resident r WHERE r.id = e.resident_id FOR SHARE;
	END IF;
	SELECT * INTO e FROM sanse.event x WHERE x.id = p_event FOR UPDATE;
	IF forgotten IS NOT NULL THEN
		RAISE EXCEPTION 'the resident of event % has been forgotten', p_event
			USING ERRCODE = '55000', DETAIL = 'Nothing more is written about a forgotten resident.';
	END IF;
	RETURN e;
END
$$;

CREATE OR REPLACE FUNCTION loop_refuse_stage(e event, wanted text, act text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'event % is %, so it cannot be %', e.id, e.status, act
		USING ERRCODE = '55000', DETAIL = format('Only an event that is %s can be %s.', wanted, act);
END
$$;

CREATE OR REPLACE FUNCTION loop_refuse_worker(e event, p_worker bigint, act text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'worker % may not % event % (%)', coalesce(p_worker::text, 'NULL'), act, e.id, e.status
		USING ERRCODE = '42501',
		      DETAIL = 'Only an active carer of its resident, a leader or task force whose area contains it, or staff of a department whistled for it may act on an event, named by its own bound role or, unbound, by a role with care over its area.';
END
$$;

-- Did the caller take part in the event's current round (spec 7)?  Whether
-- the role acting, or the login (which may SET ROLE to it: a pooled login),
-- is or is a member of a role that arrived at or handled it, or of the
-- bound db_role of the worker who did; for a resident's evaluation, of the
-- one who fed back too (who relays the resident's word).  The extension
-- owner and superusers, who can rewrite any row, are not asked.
CREATE OR REPLACE FUNCTION loop_took_part(e event, by text) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
DECLARE
	acting name := sanse.acting_role();
BEGIN
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
	            WHERE r.rolname = acting
	              AND (r.rolsuper OR r.oid = (SELECT x.extowner FROM pg_catalog.pg_extension x WHERE x.extname = 'sanse'))) THEN
		RETURN false;
	END IF;
	RETURN EXISTS (
		SELECT 1
		  FROM (SELECT t.acted_as AS role FROM sanse.event_transition t
		         WHERE t.event_id = e.id AND (t.stage IN ('arrived', 'handled') OR (t.stage = 'fed_back' AND by = 'resident'))
		           AND t.id > coalesce((SELECT max(p.id) FROM sanse.event_transition p
		                                 WHERE p.event_id = e.id AND p.stage = 'reopened'), 0)
		        UNION
		        SELECT w.db_role FROM sanse.worker w
		         WHERE w.id IN (e.arrived_by, e.handled_by) OR (w.id = e.fed_back_by AND by = 'resident')) x
		  JOIN pg_catalog.pg_roles r ON r.rolname = x.role
		 WHERE pg_catalog.pg_has_role(acting, r.oid, 'MEMBER')
		    OR (NOT (SELECT s.rolsuper FROM pg_catalog.pg_roles s WHERE s.rolname = session_user)
		        AND pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')));
END
$$;

-- End the current clock at p_at: the steps due by then are reached, whether
-- or not a sweep took them; those dated after it never happened (an arrival
-- or handling synced late) and are removed.  The last step left is the
-- level reached at that time.
CREATE OR REPLACE FUNCTION loop_end_clock(p_event bigint, p_since timestamptz, p_at timestamptz) RETURNS event_step
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
-- step and its arrival clock; NULL when the same call made its event already
-- (event_call_once: a retry, which waited for the first call to commit).
CREATE OR REPLACE FUNCTION call_event(p_kind text, p_resident bigint, p_area bigint, p_tier risk_tier, p_detail text,
                           p_scale text, p_at timestamptz, p_raised_by bigint, p_parent bigint, p_department text)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
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
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
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
	ELSIF raised_by IS NOT NULL AND NOT sanse.acts_for(raised_by) THEN
		RAISE EXCEPTION 'worker % may not be named as raising an event by this role', raised_by
			USING ERRCODE = '42501', DETAIL = 'A worker bound to a db_role is named only by that role, an unbound worker only by a role with care over its area.';
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION raise_event(kind text, resident_id bigint, detail text, scale text DEFAULT 'grid',
                            at timestamptz DEFAULT now(), raised_by bigint DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	r sanse.resident;
	same bigint;
BEGIN
	PERFORM sanse.loop_time(at, 'an event');
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
REVOKE ALL ON FUNCTION raise_event(text, bigint, text, text, timestamptz, bigint) FROM PUBLIC;
COMMENT ON FUNCTION raise_event(text, bigint, text, text, timestamptz, bigint) IS 'raise a warning, finding, request or task about a resident; returns the event id (called, at its scale''s level)';

CREATE OR REPLACE FUNCTION dispatch_task(area_id bigint, detail text, scale text DEFAULT 'grid',
                              at timestamptz DEFAULT now(), raised_by bigint DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	same bigint;
BEGIN
	PERFORM sanse.loop_time(at, 'a task');
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

-- 报到: presence, proved by the door token for an event about a resident.
-- An arrival synced after a sweep escalated the event removes the steps
-- dated after it (spec 7) and says so in its transition's note.
CREATE OR REPLACE FUNCTION arrive(event_id bigint, worker_id bigint, token text DEFAULT NULL, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
	nonce bytea;
	t record;
	last sanse.event_step;
	removed text;
BEGIN
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
	PERFORM sanse.loop_time(at, 'an arrival', e.called_at, format('event %s was called', e.id));
	IF NOT sanse.may_act(e.id, worker_id) THEN
		PERFORM sanse.loop_refuse_worker(e, worker_id, 'arrive at');
	END IF;
	SELECT string_agg(format('L%s %s', s.level, s.at), ', ' ORDER BY s.at, s.level) INTO removed
	  FROM sanse.event_step s WHERE s.event_id = e.id AND s.at > at AND s.at > e.called_at;
	last := sanse.loop_end_clock(e.id, e.called_at, at);
	UPDATE sanse.event x
	   SET status = 'arrived', arrived_at = at, arrived_by = worker_id,
	       level = last.level, level_since = last.at, assignee_id = last.assignee_id,
	       next_step_at = CASE WHEN last.level < 4 THEN sanse.zone_add(at, sanse.step_interval(x.kind, x.tier, 'arrived')) END
	 WHERE x.id = e.id;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note)
	VALUES (e.id, 'arrived', at, worker_id,
	        CASE WHEN removed IS NOT NULL
	             THEN format('synced %s after its time; removed escalation steps a sweep had taken: %s', date_trunc('second', now() - at), removed) END);
END
$$;
REVOKE ALL ON FUNCTION arrive(bigint, bigint, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION arrive(bigint, bigint, text, timestamptz) IS 'report in (报到) at an event; the door token proves presence for an event about a resident';

-- 处置
CREATE OR REPLACE FUNCTION handle_event(event_id bigint, worker_id bigint, action text, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
	last sanse.event_step;
BEGIN
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
	PERFORM sanse.loop_time(at, 'a handling', e.arrived_at, format('the arrival at event %s', e.id));
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
CREATE OR REPLACE FUNCTION whistle(event_id bigint, department text, worker_id bigint, at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
	same bigint;
BEGIN
	e := sanse.loop_event(event_id);
	IF department IS NULL OR NOT EXISTS (SELECT 1 FROM sanse.department d WHERE d.code = department) THEN
		RAISE EXCEPTION 'unknown department "%"', coalesce(department, 'NULL')
			USING ERRCODE = '22023', HINT = 'Departments are the rows of sanse.department.';
	END IF;
	SELECT c.id INTO same FROM sanse.event c
	 WHERE c.parent_id = e.id AND c.department = department AND c.first_called_at = at
	   AND c.raised_by IS NOT DISTINCT FROM worker_id
	 ORDER BY c.id LIMIT 1;
	IF FOUND THEN
		RETURN same;	-- a retry (the parent's lock orders them)
	END IF;
	IF e.status NOT IN ('called', 'arrived') THEN
		PERFORM sanse.loop_refuse_stage(e, 'called or arrived', 'whistled for');
	END IF;
	PERFORM sanse.loop_time(at, 'a whistle', e.called_at, format('event %s was called', e.id));
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
CREATE OR REPLACE FUNCTION feed_back(event_id bigint, worker_id bigint, note text, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
BEGIN
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
	PERFORM sanse.loop_time(at, 'a feedback', e.handled_at, format('event %s was handled', e.id));
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

-- 评价: by the resident or a supervisor, never by whoever took part in the
-- round (loop_took_part).  A rating of 2 or less, or not solved, reopens the
-- event one level up.  The rating is an integer so every driver's plain
-- integer parameter binds.
CREATE OR REPLACE FUNCTION evaluate(event_id bigint, rating integer, solved boolean, by text, comment text DEFAULT NULL,
                         at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
	lvl smallint;
BEGIN
	e := sanse.loop_event(event_id);
	IF sanse.loop_took_part(e, by) THEN
		RAISE EXCEPTION 'whoever arrived at or handled event % may not evaluate it', e.id
			USING ERRCODE = '42501',
			      DETAIL = 'Neither the role that arrived or handled (for a resident''s evaluation, or fed back), nor a member of it, nor a login that may act as it, evaluates.';
	END IF;
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
	PERFORM sanse.loop_time(at, 'an evaluation', e.fed_back_at, format('event %s was fed back', e.id));
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
REVOKE ALL ON FUNCTION evaluate(bigint, integer, boolean, text, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION evaluate(bigint, integer, boolean, text, text, timestamptz) IS 'evaluate (评价) a fed-back event: rating 1-5, solved; 2 or less or unsolved reopens it one level up, otherwise it closes';

REVOKE ALL ON FUNCTION may_act(bigint, bigint), acts_for(bigint), loop_event(bigint), loop_refuse_stage(event, text, text),
	loop_refuse_worker(event, bigint, text), loop_took_part(event, text), loop_end_clock(bigint, timestamptz, timestamptz),
	call_event(text, bigint, bigint, risk_tier, text, text, timestamptz, bigint, bigint, text),
	loop_same_call(text, bigint, bigint, timestamptz, bigint, text), loop_check_call(text, text, text, bigint) FROM PUBLIC;
