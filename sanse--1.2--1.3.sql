-- sanse 1.2 -> 1.3
-- Generated from src/updates/1.2--1.3/*.sql by make; edit those files, not this one.
\echo Use "ALTER EXTENSION sanse UPDATE TO '1.3'" to load this file. \quit

-- src/updates/1.2--1.3/00_begin.sql
-- 1.2 -> 1.3: issue 18 (the holes in the closed loop, small cells, audit,
-- forgetting, locks, clients).  Each file after this one holds what one
-- concern changes in place; functions it replaces are repeated from
-- src/sql (CREATE OR REPLACE) so the update ends where a fresh install does.

-- src/updates/1.2--1.3/10_clients.sql
-- 1.2 -> 1.3, issue 18 items 8-10 (clients): the restore guard no longer takes
-- the rows sanse's triggers write during a client's COPY of residents (tier
-- history) for a restore: it judges only the COPY's own table (trigger depth 1).
CREATE OR REPLACE FUNCTION restore_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	q text := left(current_query(), 4000);
	cols text;
BEGIN
	IF TG_RELID NOT IN ('sanse.area'::regclass, 'sanse.worker'::regclass, 'sanse.classification_rule'::regclass,
	                    'sanse.installation_secret'::regclass, 'sanse.tier_policy'::regclass,
	                    'sanse.resident'::regclass, 'sanse.tier_history'::regclass, 'sanse.carer'::regclass,
	                    'sanse.door_token'::regclass, 'sanse.visit'::regclass, 'sanse.event'::regclass,
	                    'sanse.event_step'::regclass, 'sanse.worker_month'::regclass,
	                    'sanse.worker_month_pending'::regclass, 'sanse.visit_withdrawn'::regclass,
	                    'sanse.department'::regclass, 'sanse.loop_policy'::regclass, 'sanse.event_transition'::regclass,
	                    'sanse.audit_log'::regclass, 'sanse.area_grant'::regclass,
	                    'sanse.area_day'::regclass, 'sanse.area_day_recorded'::regclass) THEN
		RAISE EXCEPTION 'trigger function restore_guard() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse''s tables.';
	END IF;
	IF pg_trigger_depth() > 1 THEN
		RETURN NULL;   -- written by a trigger during the COPY of another table
	END IF;
	IF q ~* '^\s*copy\s' THEN
		cols := substring(q FROM '^\s*[Cc][Oo][Pp][Yy]\s+[^(\s]+\s*\(([^)]*)\)');
		-- clients bulk-load areas, workers, residents (without ids) and carers
		IF TG_TABLE_NAME = 'carer'
		   OR (TG_TABLE_NAME IN ('area', 'worker', 'resident') AND cols IS NOT NULL
		       AND cols !~* '(^|,)\s*"?id"?\s*(,|$)') THEN
			RETURN NULL;
		END IF;
	ELSE
		RETURN NULL;
	END IF;
	RAISE EXCEPTION 'rows of sanse.% look like a restore; sanse''s data must be restored with its triggers held back', TG_TABLE_NAME
		USING ERRCODE = '55000',
		      DETAIL = 'A plain restore would re-run sanse''s triggers over restored rows: tier history dated at the restore, override times overwritten, missed windows counted twice.',
		      HINT = 'Restore into a fresh database as a superuser with: PGOPTIONS=''-c session_replication_role=replica'' pg_restore -d <database> <dump>';
END
$$;

-- src/updates/1.2--1.3/20_loop.sql
-- 1.2 -> 1.3, the closed loop (issue 18 items 1, 2, 3, 9 first bullet,
-- 12 second and third bullets; src/sql/62_loop.sql): every loop function acts
-- only inside the caller's care subtree and names only workers the caller
-- acts for; each transition records the role and login that made it, and
-- whoever took part may not evaluate; every at is bounded by
-- sanse.max_backdate and the previous stage; evaluate's rating is an
-- integer; a retried call is one event by a key the database enforces; the
-- resident is locked before anything is written about them.

-- event before event_transition: the order the loop functions take them
LOCK TABLE event, event_step, event_transition IN ACCESS EXCLUSIVE MODE;

-- The role acting in the session (SET ROLE's, else the login), which a
-- SECURITY DEFINER function cannot read from current_user; and
-- sanse.max_backdate as check_in counts it.  Both read in C.
CREATE FUNCTION acting_role() RETURNS name
	AS 'MODULE_PATHNAME', 'acting_role' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION acting_role() IS 'the role acting in the session: SET ROLE''s, else the login';
CREATE FUNCTION max_backdate() RETURNS interval
	AS 'MODULE_PATHNAME', 'max_backdate' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION max_backdate() IS 'the setting sanse.max_backdate, as the interval check-ins and loop transitions are bounded by';

ALTER TABLE event_transition ADD COLUMN acted_as name DEFAULT acting_role(), ADD COLUMN login name DEFAULT session_user;
COMMENT ON COLUMN event_transition.acted_as IS 'the role acting in the session that made the transition (SET ROLE''s, else the login)';
COMMENT ON COLUMN event_transition.login IS 'the login (session_user) of the session that made the transition';

-- The original call of a loop event: called_at moves when evaluate reopens
-- it, this does not.  A retried call finds its event by it, and the database
-- enforces that one call makes one event (a retry that comes while the first
-- call's transaction is open waits for it and gets its event): same kind,
-- resident (or area, for a task), original time, author and detail.  A call
-- without a detail is matched by looking, not enforced (forgetting a
-- resident sets the details of its events to NULL, which never conflict).
ALTER TABLE event ADD COLUMN first_called_at timestamptz;
COMMENT ON COLUMN event.first_called_at IS 'a loop event''s original call time (called_at moves on a reopen): with kind, resident or area, author and detail, the key a retried call finds its event by';
-- the original call time of each loop event: its 'called' transition (a
-- reopen moved called_at); a call the race of issue 18 made twice keeps its
-- key on its first event only
UPDATE event e
   SET first_called_at = coalesce((SELECT min(t.at) FROM event_transition t WHERE t.event_id = e.id AND t.stage = 'called'),
                                  e.called_at)
 WHERE e.kind <> 'overdue';
UPDATE event e SET first_called_at = NULL
 WHERE e.parent_id IS NULL AND e.first_called_at IS NOT NULL AND e.detail IS NOT NULL
   AND EXISTS (SELECT 1 FROM event o
                WHERE o.id < e.id AND o.parent_id IS NULL AND o.kind = e.kind
                  AND coalesce(o.resident_id, 0) = coalesce(e.resident_id, 0)
                  AND (CASE WHEN o.resident_id IS NULL THEN o.area_id ELSE 0 END) = (CASE WHEN e.resident_id IS NULL THEN e.area_id ELSE 0 END)
                  AND o.first_called_at = e.first_called_at AND coalesce(o.raised_by, 0) = coalesce(e.raised_by, 0)
                  AND md5(o.detail) = md5(e.detail));
CREATE UNIQUE INDEX event_call_once ON event (kind, coalesce(resident_id, 0), (CASE WHEN resident_id IS NULL THEN area_id ELSE 0 END),
                                             first_called_at, coalesce(raised_by, 0), md5(detail))
	WHERE parent_id IS NULL AND first_called_at IS NOT NULL;

-- a SQL-standard body keeps the column list of the rows it unnests: parsed
-- again, tally_missed's names event's new column as a fresh install does
CREATE OR REPLACE FUNCTION tally_missed(events event[], sign int) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	INSERT INTO sanse.worker_month_pending (worker_id, month, windows_missed)
	SELECT w.worker_id, sanse.month_of(e.due_at), tally_missed.sign
	  FROM unnest(tally_missed.events) e
	 CROSS JOIN LATERAL unnest(coalesce(e.charged_to, sanse.carers_of(e.resident_id))) w(worker_id)
	 WHERE e.kind = 'overdue';
END;

DROP FUNCTION loop_time(timestamptz, text);
-- A loop transition's time (spec 7, 22008): given and finite, at most 5
-- minutes ahead of the server clock, at most sanse.max_backdate behind it
-- (as a check-in), and not before the stage it follows (since).
CREATE FUNCTION loop_time(at timestamptz, what text, since timestamptz DEFAULT NULL, since_what text DEFAULT NULL)
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
CREATE FUNCTION acts_for(p_worker bigint) RETURNS boolean
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
CREATE FUNCTION loop_took_part(e event, by text) RETURNS boolean
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
CREATE FUNCTION loop_same_call(p_kind text, p_resident bigint, p_area bigint, p_at timestamptz, p_raised_by bigint, p_detail text)
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

-- evaluate's rating becomes an integer: a new signature.  Grants given on
-- the smallint one by hand (the README's recipe gives it to the app and the
-- supervisor) move to the integer one.
SELECT pg_catalog.set_config('sanse_upgrade.evaluate_grants', coalesce((
	SELECT json_agg(json_build_object('grantee', a.grantee::regrole::text, 'grantable', a.is_grantable))::text
	  FROM pg_catalog.pg_proc p, aclexplode(p.proacl) a
	 WHERE p.oid = 'sanse.evaluate(bigint, smallint, boolean, text, text, timestamptz)'::regprocedure
	   AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner AND a.grantee <> 0), '[]'), true);
DROP FUNCTION evaluate(bigint, smallint, boolean, text, text, timestamptz);
-- 评价: by the resident or a supervisor, never by whoever took part in the
-- round (loop_took_part).  A rating of 2 or less, or not solved, reopens the
-- event one level up.  The rating is an integer so every driver's plain
-- integer parameter binds.
CREATE FUNCTION evaluate(event_id bigint, rating integer, solved boolean, by text, comment text DEFAULT NULL,
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
DO $$
DECLARE
	g record;
BEGIN
	FOR g IN SELECT * FROM json_to_recordset(pg_catalog.current_setting('sanse_upgrade.evaluate_grants')::json)
	                         AS x(grantee text, grantable boolean) LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION sanse.evaluate(bigint, integer, boolean, text, text, timestamptz) TO %s%s',
		               g.grantee, CASE WHEN g.grantable THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;
END
$$;
-- a GRANT run by an extension script is recorded as the object's initial
-- privilege, which pg_dump leaves out: the initial privileges are a fresh
-- install's (the owner's alone), so a dump keeps the grants moved above
UPDATE pg_catalog.pg_init_privs i
   SET initprivs = ARRAY[pg_catalog.makeaclitem(p.proowner, p.proowner, 'EXECUTE', false)]
  FROM pg_catalog.pg_proc p
 WHERE p.oid = 'sanse.evaluate(bigint, integer, boolean, text, text, timestamptz)'::regprocedure
   AND i.objoid = p.oid AND i.classoid = 'pg_catalog.pg_proc'::regclass AND i.objsubid = 0;

REVOKE ALL ON FUNCTION may_act(bigint, bigint), acts_for(bigint), loop_event(bigint), loop_refuse_stage(event, text, text),
	loop_refuse_worker(event, bigint, text), loop_took_part(event, text), loop_end_clock(bigint, timestamptz, timestamptz),
	call_event(text, bigint, bigint, risk_tier, text, text, timestamptz, bigint, bigint, text),
	loop_same_call(text, bigint, bigint, timestamptz, bigint, text), loop_check_call(text, text, text, bigint) FROM PUBLIC;

-- src/updates/1.2--1.3/30_cells.sql
-- 1.2 -> 1.3, issue 18 items 4 and 3 (second half): small cells stay
-- hidden under arithmetic.  The screen for aggregate-only roles is
-- published by the sweep with primary and secondary cell suppression
-- (77_published.sql, whole), the screen views read it for the areas a role
-- sees as aggregates only, and grid_daily_report_all walks only the days
-- that have rows (one absurd row no longer makes it walk millennia).

-- make puts src/sql/77_published.sql here, whole: every object in it is new
-- in 1.3, so the update creates them exactly as a fresh install does
-----------------------------------------------------------------------------
-- Published screen (spec 8, "Small cells stay hidden under arithmetic").
-- What a role whose access to an area is aggregate only reads of it is not
-- computed when it asks: it is the rows the sweep published last, with
-- their small cells hidden by cell suppression (statistical disclosure
-- control, as statistical offices publish tables):
--   primary suppression:   a count from 1 to sanse.min_cell - 1 is hidden;
--   secondary (complementary) suppression: in every additive group a
--       published count belongs to (an area and its children at every level
--       of the hierarchy, the residents and their three tiers, opened =
--       closed + still open = the levels reached, raised = closed + still
--       open, a month and its recorded days, a micro grid's events of a day
--       and the history's overdue and loop events of that day) no hidden
--       cell is alone, and the hidden cells of a group never add up to a
--       known 0: the smallest other count of the group is hidden too, again
--       and again until nothing changes (a fixpoint);
--   zeros: in a row's partition with a hidden cell (residents and their
--       tiers, opened and closed + still open, opened and its levels) every
--       0 is hidden as well: a 0 beside a hidden total tells its make-up
--       ("residents hidden, yellow 0, blue 0" would say every household
--       there is red).  Elsewhere a 0 is shown, and an area, month or day
--       without a row is a 0 anyone sees; a complement is a 0 only in such
--       a partition, and only when its group has no other count left;
--   a rate, median or mean over a hidden count is hidden.
-- A recorded day of the history is published once, when it is recorded,
-- and never changes; the views of now (coverage, the months, the daily
-- report) are published again by the sweep at most every ten minutes (and
-- at once after a day was recorded).  Only the owner (and the sweep) writes
-- them.  EXPLAIN ANALYZE of a screen view by such a role shows the scan of
-- these tables and nothing beneath them.
-----------------------------------------------------------------------------

-- The last publication: when, and with which sanse.min_cell.
CREATE TABLE screen_publication (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	published_at timestamptz NOT NULL,
	published_clock timestamptz NOT NULL DEFAULT clock_timestamp(),
	min_cell integer NOT NULL,
	cells integer NOT NULL,
	hidden integer NOT NULL
);
COMMENT ON TABLE screen_publication IS 'the last publication of the screen for aggregate-only roles: as of when (the sweep''s time), when on the clock, sanse.min_cell, count cells published and hidden';

-- Each recorded day of the history, published once.
CREATE TABLE published_history_day (
	day date PRIMARY KEY,
	published_at timestamptz NOT NULL,
	min_cell integer NOT NULL
);
COMMENT ON TABLE published_history_day IS 'recorded days of area_day published for aggregate-only roles (once, never changed)';

CREATE TABLE published_coverage_history (
	day date NOT NULL,
	area_id bigint NOT NULL,
	residents bigint, red bigint, yellow bigint, blue bigint, overdue bigint, windows_met bigint,
	events_opened bigint, events_closed bigint,
	open_level_1 bigint, open_level_2 bigint, open_level_3 bigint, open_level_4 bigint,
	loop_raised bigint, loop_answered_in_time bigint,
	coverage_rate numeric, response_rate numeric,
	PRIMARY KEY (day, area_id)
);
COMMENT ON TABLE published_coverage_history IS 'coverage_history as aggregate-only roles read it: the rows of area_day of each published day, hidden cells NULL (an area without a row: zeros)';

CREATE TABLE published_coverage (
	area_id bigint PRIMARY KEY, path text NOT NULL, kind text NOT NULL, name text NOT NULL,
	residents bigint, red bigint, yellow bigint, blue bigint, overdue_now bigint, window_met bigint,
	coverage_rate numeric
);
CREATE TABLE published_coverage_by_tier (
	area_id bigint NOT NULL, path text NOT NULL, kind text NOT NULL, name text NOT NULL, tier text NOT NULL,
	residents bigint, overdue_now bigint, window_met bigint, coverage_rate numeric,
	PRIMARY KEY (area_id, tier)
);
CREATE TABLE published_overdue_events (
	area_id bigint NOT NULL, path text NOT NULL, kind text NOT NULL, name text NOT NULL, month date NOT NULL,
	opened bigint, closed bigint, still_open bigint,
	reached_level_1 bigint, reached_level_2 bigint, reached_level_3 bigint, reached_level_4 bigint,
	median_time_to_close interval,
	PRIMARY KEY (area_id, month)
);
CREATE TABLE published_loop_metrics (
	area_id bigint NOT NULL, path text NOT NULL, name text NOT NULL, month date NOT NULL, kind text NOT NULL,
	raised bigint, answered_in_time bigint, response_rate numeric, median_time_to_arrive interval,
	handled bigint, closed bigint, reopened bigint, mean_rating numeric, confirmed_solved bigint, still_open bigint,
	PRIMARY KEY (area_id, month, kind)
);
CREATE TABLE published_grid_daily_report (
	area_id bigint NOT NULL, path text NOT NULL, name text NOT NULL, day date NOT NULL,
	visits bigint, complete_checklists bigint, flagged_visits bigint, events_opened bigint, events_closed bigint,
	PRIMARY KEY (area_id, day)
);
CREATE TABLE published_worker_checkin_rate (
	worker_id bigint NOT NULL, worker_name text NOT NULL, force text NOT NULL, area_id bigint NOT NULL, month date NOT NULL,
	windows_due bigint, windows_met bigint, checkin_rate numeric, visits bigint, flagged_visits bigint,
	checklist_completeness numeric,
	PRIMARY KEY (worker_id, month)
);
COMMENT ON TABLE published_coverage IS 'coverage as aggregate-only roles read it (hidden cells NULL), as of screen_publication.published_at';
COMMENT ON TABLE published_coverage_by_tier IS 'coverage_by_tier as aggregate-only roles read it: every area and tier, the same cells as published_coverage';
COMMENT ON TABLE published_overdue_events IS 'overdue_events as aggregate-only roles read it (hidden cells NULL), as of screen_publication.published_at';
COMMENT ON TABLE published_loop_metrics IS 'loop_metrics as aggregate-only roles read it (hidden cells NULL), as of screen_publication.published_at';
COMMENT ON TABLE published_grid_daily_report IS 'grid_daily_report as aggregate-only roles read it (hidden cells NULL), as of screen_publication.published_at';
COMMENT ON TABLE published_worker_checkin_rate IS 'worker_checkin_rate as aggregate-only roles read it (small cells NULL), as of screen_publication.published_at';
REVOKE ALL ON screen_publication, published_history_day, published_coverage_history, published_coverage,
              published_coverage_by_tier, published_overdue_events, published_loop_metrics,
              published_grid_daily_report, published_worker_checkin_rate FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('screen_publication', '');
SELECT pg_catalog.pg_extension_config_dump('published_history_day', '');
SELECT pg_catalog.pg_extension_config_dump('published_coverage_history', '');
SELECT pg_catalog.pg_extension_config_dump('published_coverage', '');
SELECT pg_catalog.pg_extension_config_dump('published_coverage_by_tier', '');
SELECT pg_catalog.pg_extension_config_dump('published_overdue_events', '');
SELECT pg_catalog.pg_extension_config_dump('published_loop_metrics', '');
SELECT pg_catalog.pg_extension_config_dump('published_grid_daily_report', '');
SELECT pg_catalog.pg_extension_config_dump('published_worker_checkin_rate', '');

-- Whether the current user sees some area exactly (read or care), and some
-- area as aggregates only: the one-time filters of the screen views' two
-- branches (the live computation and the published rows), so the branch a
-- role has no area for is never executed.
CREATE FUNCTION screen_sees_exact() RETURNS boolean
LANGUAGE sql STABLE
RETURN EXISTS (SELECT 1 FROM sanse.granted_areas('read', current_user));
COMMENT ON FUNCTION screen_sees_exact() IS 'true when current_user sees some area exactly (read or care): the screen views compute its rows live';
CREATE FUNCTION screen_sees_aggregate() RETURNS boolean
LANGUAGE sql STABLE
RETURN EXISTS (SELECT 1 FROM sanse.granted_areas('aggregate', current_user) g(id)
                WHERE g.id NOT IN (SELECT sanse.granted_areas('read', current_user)));
COMMENT ON FUNCTION screen_sees_aggregate() IS 'true when current_user sees some area as aggregates only: the screen views read its published rows';

-- When the rows an aggregate-only role reads were published (NULL: never).
CREATE FUNCTION screen_published_at() RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, sanse
RETURN (SELECT p.published_at FROM sanse.screen_publication p);
COMMENT ON FUNCTION screen_published_at() IS 'when the screen rows aggregate-only roles read were published by the sweep (NULL: never yet)';

-- sanse.min_cell as sanse.cell applies it (reading it through sanse.cell
-- first loads the library: never a placeholder a role set before).
CREATE FUNCTION min_cell_in_force() RETURNS integer
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.cell(0, false);
	RETURN pg_catalog.current_setting('sanse.min_cell')::integer;
END
$$;
COMMENT ON FUNCTION min_cell_in_force() IS 'the setting sanse.min_cell that sanse.cell applies';

-- The suppression itself, on the session's work tables sc_cell (a count:
-- value, hidden, frozen = already published and never changed, w = how many
-- hidden cells a frozen one stands for, round = the round of the fixpoint
-- that hid it)
-- and sc_member (group, cell, sign:
-- in a group, sum(sign * value) = 0).  Returns how many cells it hid.
CREATE FUNCTION suppress_cells() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET jit = off AS $$
DECLARE
	n int;
	z int;
	r int := 0;
	total int := 0;
BEGIN
	IF to_regclass('pg_temp.sc_cell') IS NULL THEN
		RAISE EXCEPTION 'no cells to suppress in this session' USING ERRCODE = '55000',
			HINT = 'sanse.publish_screen() makes them (with sanse.suppress_begin()).';
	END IF;
	-- a group of one cell says nothing
	DELETE FROM pg_temp.sc_member m
	 WHERE m.gid IN (SELECT x.gid FROM pg_temp.sc_member x GROUP BY x.gid HAVING count(*) < 2);
	ANALYZE pg_temp.sc_member;
	-- primary: the small counts (sanse.cell reads sanse.min_cell in C); the
	-- hidden cells of each round are "new" (round r): only the groups they
	-- belong to are looked at again
	UPDATE pg_temp.sc_cell c SET hidden = true, round = 0
	 WHERE NOT c.frozen AND NOT c.hidden AND sanse.cell(c.val, false) IS NULL;
	GET DIAGNOSTICS n = ROW_COUNT;
	total := n;
	UPDATE pg_temp.sc_cell c SET round = 0 WHERE c.frozen AND c.hidden;
	ANALYZE pg_temp.sc_cell;
	LOOP
		DELETE FROM pg_temp.sc_touched;
		INSERT INTO pg_temp.sc_touched (gid)
		SELECT DISTINCT m.gid FROM pg_temp.sc_cell c JOIN pg_temp.sc_member m ON m.cid = c.cid WHERE c.round = r;
		-- zeros of a row's partition with a hidden cell (its tiers, closed
		-- and still open, levels): a 0 there tells the hidden one's make-up
		UPDATE pg_temp.sc_cell c SET hidden = true, round = r + 1
		 WHERE NOT c.frozen AND NOT c.hidden AND c.val = 0
		   AND c.cid IN (SELECT m.cid FROM pg_temp.sc_touched t JOIN pg_temp.sc_member m ON m.gid = t.gid WHERE m.part);
		GET DIAGNOSTICS z = ROW_COUNT;
		-- complements: a group with one hidden cell, or whose hidden cells all
		-- count the same way and add up to what is shown (then all are 0),
		-- hides its smallest other count (not a 0 if it can, a part before
		-- the total)
		WITH g AS (
			SELECT m.gid
			  FROM pg_temp.sc_touched t JOIN pg_temp.sc_member m ON m.gid = t.gid JOIN pg_temp.sc_cell c ON c.cid = m.cid
			 GROUP BY m.gid
			HAVING sum(c.w) FILTER (WHERE c.hidden) = 1
			    OR (sum(c.w) FILTER (WHERE c.hidden) > 1
			        AND min(m.sign) FILTER (WHERE c.hidden) = max(m.sign) FILTER (WHERE c.hidden)
			        AND coalesce(sum(m.sign * c.val) FILTER (WHERE NOT c.hidden), 0) = 0)),
		pick AS (
			SELECT DISTINCT ON (m.gid) m.cid
			  FROM g JOIN pg_temp.sc_member m ON m.gid = g.gid JOIN pg_temp.sc_cell c ON c.cid = m.cid
			 WHERE NOT c.hidden AND NOT c.frozen
			   -- a 0 only where it is part of a row's partition: a 0 hidden
			   -- elsewhere could be read back from a month or day without a row
			   AND (c.val <> 0 OR EXISTS (SELECT 1 FROM pg_temp.sc_member pm WHERE pm.cid = c.cid AND pm.part))
			 ORDER BY m.gid, c.val = 0, m.sign, c.val, c.cid)
		UPDATE pg_temp.sc_cell c SET hidden = true, round = r + 1 FROM pick WHERE c.cid = pick.cid AND NOT c.hidden;
		GET DIAGNOSTICS n = ROW_COUNT;
		total := total + z + n;
		RAISE DEBUG 'suppress_cells: round %, % zeros and % complements hidden', r + 1, z, n;
		EXIT WHEN z = 0 AND n = 0;
		r := r + 1;
	END LOOP;
	RETURN total;
END
$$;
REVOKE ALL ON FUNCTION suppress_cells() FROM PUBLIC;
COMMENT ON FUNCTION suppress_cells() IS 'primary and secondary cell suppression on the session''s sc_cell and sc_member, to a fixpoint; returns how many cells it hid';

-- Fresh work tables for one suppression.
CREATE FUNCTION suppress_begin() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	-- made once a transaction and emptied after (no new relation, so no new
	-- lock, for each day a sweep publishes)
	IF to_regclass('pg_temp.sc_cell') IS NULL THEN
		CREATE TEMP TABLE sc_cell (
			cid serial PRIMARY KEY, src text NOT NULL, area_id bigint, k text NOT NULL DEFAULT '', m text NOT NULL,
			val bigint NOT NULL, hidden boolean NOT NULL DEFAULT false, frozen boolean NOT NULL DEFAULT false,
			w integer NOT NULL DEFAULT 1, round integer) ON COMMIT DROP;
		CREATE INDEX ON pg_temp.sc_cell (src, area_id, k, m);
		CREATE TEMP TABLE sc_member (gid bigint NOT NULL, cid integer NOT NULL, sign integer NOT NULL,
		                             part boolean NOT NULL DEFAULT false) ON COMMIT DROP;
		CREATE INDEX ON pg_temp.sc_member (gid);
		CREATE INDEX ON pg_temp.sc_member (cid);
		CREATE TEMP TABLE sc_parent (id bigint PRIMARY KEY, parent bigint NOT NULL) ON COMMIT DROP;
		CREATE TEMP TABLE sc_touched (gid bigint NOT NULL) ON COMMIT DROP;
	ELSE
		TRUNCATE pg_temp.sc_cell, pg_temp.sc_member, pg_temp.sc_parent, pg_temp.sc_touched;
	END IF;
	INSERT INTO pg_temp.sc_parent (id, parent)
	SELECT a.id, p.id
	  FROM sanse.area a
	  JOIN sanse.area p ON p.path::text = pg_catalog.regexp_replace(a.path::text, '[.][^.]*$', '')
	 WHERE pg_catalog.strpos(a.path::text, '.') > 0;
END
$$;
REVOKE ALL ON FUNCTION suppress_begin() FROM PUBLIC;
COMMENT ON FUNCTION suppress_begin() IS 'create the session''s work tables of one suppression (sc_cell, sc_member, sc_parent)';

-- Hierarchy groups for the cells of some sources: an area's count and the
-- same count of its children (same key and measure).
CREATE FUNCTION suppress_hierarchy(p_src text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF to_regclass('pg_temp.sc_cell') IS NULL THEN
		RAISE EXCEPTION 'no cells to suppress in this session' USING ERRCODE = '55000',
			HINT = 'sanse.publish_screen() makes them (with sanse.suppress_begin()).';
	END IF;
	INSERT INTO pg_temp.sc_member (gid, cid, sign)
	SELECT pg_catalog.hashtextextended('h/' || c.src || '/' || c.area_id || '/' || c.k || '/' || c.m, 0), c.cid, 1
	  FROM pg_temp.sc_cell c
	 WHERE c.src = ANY (p_src) AND NOT c.frozen
	   AND c.area_id IN (SELECT p.parent FROM pg_temp.sc_parent p)
	UNION ALL
	SELECT pg_catalog.hashtextextended('h/' || c.src || '/' || p.parent || '/' || c.k || '/' || c.m, 0), c.cid, -1
	  FROM pg_temp.sc_cell c JOIN pg_temp.sc_parent p ON p.id = c.area_id
	 WHERE c.src = ANY (p_src) AND NOT c.frozen;
END
$$;
REVOKE ALL ON FUNCTION suppress_hierarchy(text[]) FROM PUBLIC;

-- Groups inside a row: (total measure, part measures) of each (src, area, k).
CREATE FUNCTION suppress_row_group(p_src text, p_name text, p_total text, p_parts text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF to_regclass('pg_temp.sc_cell') IS NULL THEN
		RAISE EXCEPTION 'no cells to suppress in this session' USING ERRCODE = '55000',
			HINT = 'sanse.publish_screen() makes them (with sanse.suppress_begin()).';
	END IF;
	INSERT INTO pg_temp.sc_member (gid, cid, sign, part)
	SELECT pg_catalog.hashtextextended(p_name || '/' || c.area_id || '/' || c.k, 0), c.cid,
	       CASE WHEN c.m = p_total THEN 1 ELSE -1 END, true
	  FROM pg_temp.sc_cell c
	 WHERE c.src = p_src AND (c.m = p_total OR c.m = ANY (p_parts)) AND NOT c.frozen;
END
$$;
REVOKE ALL ON FUNCTION suppress_row_group(text, text, text, text[]) FROM PUBLIC;

-- One recorded day of the history, published: its area_day rows, cells
-- suppressed within the day (hierarchy and tiers), frozen from then on.
CREATE FUNCTION publish_history_day(p_day date, at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET jit = off AS $$
DECLARE
	n int;
BEGIN
	PERFORM sanse.suppress_begin();
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'hist', h.area_id, '', x.m, x.v
	  FROM sanse.area_day h
	 CROSS JOIN LATERAL (VALUES ('residents', h.residents), ('red', h.red), ('yellow', h.yellow), ('blue', h.blue),
	                            ('overdue', h.overdue), ('windows_met', h.windows_met),
	                            ('events_opened', h.events_opened), ('events_closed', h.events_closed),
	                            ('open_level_1', h.open_level_1), ('open_level_2', h.open_level_2),
	                            ('open_level_3', h.open_level_3), ('open_level_4', h.open_level_4),
	                            ('loop_raised', h.loop_raised), ('loop_answered_in_time', h.loop_answered_in_time)) x(m, v)
	 WHERE h.day = p_day;
	PERFORM sanse.suppress_hierarchy(ARRAY['hist']);
	PERFORM sanse.suppress_row_group('hist', 'tiers', 'residents', ARRAY['red', 'yellow', 'blue']);
	PERFORM sanse.suppress_cells();
	DELETE FROM sanse.published_coverage_history p WHERE p.day = p_day;
	INSERT INTO sanse.published_coverage_history
	SELECT p_day, h.area_id,
	       s.c[1], s.c[2], s.c[3], s.c[4], s.c[5], s.c[6], s.c[7], s.c[8], s.c[9], s.c[10], s.c[11], s.c[12], s.c[13], s.c[14],
	       CASE WHEN h.residents > 0 AND s.c[1] IS NOT NULL AND s.c[5] IS NOT NULL
	            THEN round(1 - h.overdue::numeric / h.residents, 4) END,
	       CASE WHEN h.loop_raised > 0 AND s.c[13] IS NOT NULL AND s.c[14] IS NOT NULL
	            THEN round(h.loop_answered_in_time::numeric / h.loop_raised, 4) END
	  FROM sanse.area_day h
	  JOIN (SELECT c.area_id,
	               array_agg(CASE WHEN c.hidden THEN NULL ELSE c.val END
	                         ORDER BY array_position(ARRAY['residents', 'red', 'yellow', 'blue', 'overdue', 'windows_met',
	                                                       'events_opened', 'events_closed', 'open_level_1', 'open_level_2',
	                                                       'open_level_3', 'open_level_4', 'loop_raised', 'loop_answered_in_time'], c.m)) AS c
	          FROM pg_temp.sc_cell c GROUP BY c.area_id) s ON s.area_id = h.area_id
	 WHERE h.day = p_day;
	GET DIAGNOSTICS n = ROW_COUNT;
	INSERT INTO sanse.published_history_day (day, published_at, min_cell)
	VALUES (p_day, at, sanse.min_cell_in_force())
	ON CONFLICT (day) DO UPDATE SET published_at = EXCLUDED.published_at, min_cell = EXCLUDED.min_cell;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION publish_history_day(date, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION publish_history_day(date, timestamptz) IS 'publish one recorded day of area_day for aggregate-only roles, cells suppressed (run by record_history and publish_screen)';

-- Publish the screen for aggregate-only roles: every recorded day not
-- published yet, then coverage (with coverage_by_tier: the same cells),
-- overdue_events, loop_metrics, grid_daily_report and worker_checkin_rate
-- as of now, suppressed together (a month's totals against its published
-- days, whose cells never change).  Returns how many cells it hid.  Runs as
-- the owner: the sweep calls it, and a role the owner grants EXECUTE may
-- publish at once (after a bulk load, say).
CREATE FUNCTION publish_screen(at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse SET jit = off AS $$
DECLARE
	d date;
	n_hidden int;
	n_cells int;
BEGIN
	-- one publisher at a time
	LOCK TABLE sanse.screen_publication IN EXCLUSIVE MODE;
	FOR d IN SELECT r.day FROM sanse.area_day_recorded r
	          WHERE r.areas IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sanse.published_history_day p WHERE p.day = r.day)
	          ORDER BY r.day LOOP
		PERFORM sanse.publish_history_day(d, at);
	END LOOP;

	PERFORM sanse.suppress_begin();
	IF to_regclass('pg_temp.sc_cov') IS NOT NULL THEN
		DROP TABLE pg_temp.sc_cov, pg_temp.sc_oe, pg_temp.sc_lm, pg_temp.sc_gdr, pg_temp.sc_shown;
	END IF;
	CREATE TEMP TABLE sc_cov ON COMMIT DROP AS
	SELECT c.area_id, c.path, c.kind, c.name, c.residents, c.red, c.yellow, c.blue, c.overdue_now, c.window_met,
	       coalesce(b.o_red, 0) AS o_red, coalesce(b.o_yellow, 0) AS o_yellow, coalesce(b.o_blue, 0) AS o_blue,
	       coalesce(b.m_red, 0) AS m_red, coalesce(b.m_yellow, 0) AS m_yellow, coalesce(b.m_blue, 0) AS m_blue
	  FROM sanse.coverage_all c
	  LEFT JOIN (SELECT t.area_id,
	                    sum(t.overdue_now) FILTER (WHERE t.tier = 'red') AS o_red,
	                    sum(t.overdue_now) FILTER (WHERE t.tier = 'yellow') AS o_yellow,
	                    sum(t.overdue_now) FILTER (WHERE t.tier = 'blue') AS o_blue,
	                    sum(t.window_met) FILTER (WHERE t.tier = 'red') AS m_red,
	                    sum(t.window_met) FILTER (WHERE t.tier = 'yellow') AS m_yellow,
	                    sum(t.window_met) FILTER (WHERE t.tier = 'blue') AS m_blue
	               FROM sanse.coverage_by_tier_all t GROUP BY t.area_id) b ON b.area_id = c.area_id;
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'cov', c.area_id, '', x.m, x.v
	  FROM pg_temp.sc_cov c
	 CROSS JOIN LATERAL (VALUES ('residents', c.residents), ('red', c.red), ('yellow', c.yellow), ('blue', c.blue),
	                            ('overdue_now', c.overdue_now), ('window_met', c.window_met),
	                            ('overdue_now:red', c.o_red), ('overdue_now:yellow', c.o_yellow), ('overdue_now:blue', c.o_blue),
	                            ('window_met:red', c.m_red), ('window_met:yellow', c.m_yellow), ('window_met:blue', c.m_blue)) x(m, v);

	CREATE TEMP TABLE sc_oe ON COMMIT DROP AS SELECT * FROM sanse.overdue_events_all;
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'oe', o.area_id, o.month::text, x.m, x.v
	  FROM pg_temp.sc_oe o
	 CROSS JOIN LATERAL (VALUES ('opened', o.opened), ('closed', o.closed), ('still_open', o.still_open),
	                            ('reached_level_1', o.reached_level_1), ('reached_level_2', o.reached_level_2),
	                            ('reached_level_3', o.reached_level_3), ('reached_level_4', o.reached_level_4)) x(m, v);

	CREATE TEMP TABLE sc_lm ON COMMIT DROP AS SELECT * FROM sanse.loop_metrics_all;
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'lm', l.area_id, l.month || '/' || l.kind, x.m, x.v
	  FROM pg_temp.sc_lm l
	 CROSS JOIN LATERAL (VALUES ('raised', l.raised), ('answered_in_time', l.answered_in_time), ('handled', l.handled),
	                            ('closed', l.closed), ('reopened', l.reopened), ('confirmed_solved', l.confirmed_solved),
	                            ('still_open', l.still_open)) x(m, v);

	CREATE TEMP TABLE sc_gdr ON COMMIT DROP AS SELECT * FROM sanse.grid_daily_report_all;
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'gdr', g.area_id, g.day::text, x.m, x.v
	  FROM pg_temp.sc_gdr g
	 CROSS JOIN LATERAL (VALUES ('visits', g.visits), ('complete_checklists', g.complete_checklists),
	                            ('flagged_visits', g.flagged_visits), ('events_opened', g.events_opened),
	                            ('events_closed', g.events_closed)) x(m, v);

	-- a worker's month: no group (its counts are of that worker only)
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'wk', t.worker_id, t.month::text, x.m, x.v
	  FROM sanse.worker_tally t
	 CROSS JOIN LATERAL (VALUES ('windows_due', t.windows_met + t.windows_missed), ('windows_met', t.windows_met),
	                            ('visits', t.visits), ('flagged_visits', t.flagged_visits)) x(m, v)
	 WHERE t.windows_met + t.windows_missed > 0 OR t.visits > 0;

	-- the published days, frozen: per area and month, the hidden days of
	-- overdue events opened and loop events raised (standing for as many
	-- hidden cells) and the shown ones; per micro grid and day of the
	-- daily report, that day's two cells
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val, hidden, frozen, w)
	SELECT 'histm', h.area_id, date_trunc('month', h.day)::date::text, x.m, sum(x.v), x.hid, true,
	       CASE WHEN x.hid THEN count(*) ELSE 1 END
	  FROM sanse.area_day h
	  JOIN sanse.published_coverage_history p ON p.day = h.day AND p.area_id = h.area_id
	 CROSS JOIN LATERAL (VALUES ('events_opened', h.events_opened, p.events_opened IS NULL),
	                            ('loop_raised', h.loop_raised, p.loop_raised IS NULL)) x(m, v, hid)
	 WHERE h.day >= (SELECT least(min(o.month), min(l.month)) FROM (SELECT min(month) AS month FROM pg_temp.sc_oe) o,
	                                                                (SELECT min(month) AS month FROM pg_temp.sc_lm) l)
	 GROUP BY h.area_id, date_trunc('month', h.day), x.m, x.hid;
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val, hidden, frozen)
	SELECT 'histd', h.area_id, h.day::text, x.m, x.v, x.hid, true
	  FROM pg_temp.sc_gdr g
	  JOIN sanse.area_day h ON h.day = g.day AND h.area_id = g.area_id
	  JOIN sanse.published_coverage_history p ON p.day = h.day AND p.area_id = h.area_id
	 CROSS JOIN LATERAL (VALUES ('events_opened', h.events_opened, p.events_opened IS NULL),
	                            ('loop_raised', h.loop_raised, p.loop_raised IS NULL)) x(m, v, hid);
	ANALYZE pg_temp.sc_cell;

	-- the groups
	PERFORM sanse.suppress_hierarchy(ARRAY['cov', 'oe', 'lm']);
	PERFORM sanse.suppress_row_group('cov', 'tiers', 'residents', ARRAY['red', 'yellow', 'blue']);
	PERFORM sanse.suppress_row_group('cov', 'overdue_tiers', 'overdue_now', ARRAY['overdue_now:red', 'overdue_now:yellow', 'overdue_now:blue']);
	PERFORM sanse.suppress_row_group('cov', 'met_tiers', 'window_met', ARRAY['window_met:red', 'window_met:yellow', 'window_met:blue']);
	PERFORM sanse.suppress_row_group('oe', 'closed_open', 'opened', ARRAY['closed', 'still_open']);
	PERFORM sanse.suppress_row_group('oe', 'levels', 'opened', ARRAY['reached_level_1', 'reached_level_2', 'reached_level_3', 'reached_level_4']);
	PERFORM sanse.suppress_row_group('lm', 'loop_closed_open', 'raised', ARRAY['closed', 'still_open']);
	INSERT INTO pg_temp.sc_member (gid, cid, sign)
	SELECT hashtextextended('md/' || c.area_id || '/' || c.k, 0), c.cid, CASE c.src WHEN 'oe' THEN 1 ELSE -1 END
	  FROM pg_temp.sc_cell c
	 WHERE (c.src = 'oe' AND c.m = 'opened') OR (c.src = 'histm' AND c.m = 'events_opened')
	UNION ALL
	SELECT hashtextextended('ml/' || c.area_id || '/' || split_part(c.k, '/', 1), 0), c.cid, CASE c.src WHEN 'lm' THEN 1 ELSE -1 END
	  FROM pg_temp.sc_cell c
	 WHERE (c.src = 'lm' AND c.m = 'raised') OR (c.src = 'histm' AND c.m = 'loop_raised')
	UNION ALL
	SELECT hashtextextended('gd/' || c.area_id || '/' || c.k, 0), c.cid, CASE c.src WHEN 'gdr' THEN 1 ELSE -1 END
	  FROM pg_temp.sc_cell c
	 WHERE (c.src = 'gdr' AND c.m = 'events_opened'
	        AND EXISTS (SELECT 1 FROM sanse.published_history_day p WHERE p.day = c.k::date))
	    OR c.src = 'histd';
	-- a month or day whose history has no hidden cell adds nothing: its
	-- frozen cells alone would only ask to hide the total when it is hidden
	DELETE FROM pg_temp.sc_member m
	 USING (SELECT x.gid FROM pg_temp.sc_member x JOIN pg_temp.sc_cell c ON c.cid = x.cid
	         WHERE x.sign = -1 AND c.frozen
	        EXCEPT
	        SELECT x.gid FROM pg_temp.sc_member x JOIN pg_temp.sc_cell c ON c.cid = x.cid
	         WHERE NOT c.frozen AND x.sign = 1 AND c.src IN ('oe', 'lm', 'gdr')) f
	 WHERE m.gid = f.gid;
	n_hidden := sanse.suppress_cells();
	SELECT count(*) INTO n_cells FROM pg_temp.sc_cell c WHERE NOT c.frozen;

	-- the published rows: hidden cells NULL, and what is built on them
	DELETE FROM sanse.published_coverage;
	DELETE FROM sanse.published_coverage_by_tier;
	DELETE FROM sanse.published_overdue_events;
	DELETE FROM sanse.published_loop_metrics;
	DELETE FROM sanse.published_grid_daily_report;
	DELETE FROM sanse.published_worker_checkin_rate;
	CREATE TEMP TABLE sc_shown ON COMMIT DROP AS
	SELECT c.src, c.area_id, c.k, jsonb_object_agg(c.m, CASE WHEN c.hidden THEN NULL ELSE c.val END) AS j
	  FROM pg_temp.sc_cell c WHERE NOT c.frozen
	 GROUP BY c.src, c.area_id, c.k;
	CREATE INDEX ON pg_temp.sc_shown (src, area_id, k);
	ANALYZE pg_temp.sc_shown;
	INSERT INTO sanse.published_coverage
	SELECT c.area_id, c.path, c.kind, c.name,
	       (s.j ->> 'residents')::bigint, (s.j ->> 'red')::bigint, (s.j ->> 'yellow')::bigint, (s.j ->> 'blue')::bigint,
	       (s.j ->> 'overdue_now')::bigint, (s.j ->> 'window_met')::bigint,
	       CASE WHEN c.residents > 0 AND s.j ->> 'residents' IS NOT NULL AND s.j ->> 'overdue_now' IS NOT NULL
	            THEN round(1 - c.overdue_now::numeric / c.residents, 4) END
	  FROM pg_temp.sc_cov c JOIN pg_temp.sc_shown s ON s.src = 'cov' AND s.area_id = c.area_id AND s.k = '';
	INSERT INTO sanse.published_coverage_by_tier
	SELECT c.area_id, c.path, c.kind, c.name, t.tier,
	       (s.j ->> t.tier)::bigint, (s.j ->> ('overdue_now:' || t.tier))::bigint, (s.j ->> ('window_met:' || t.tier))::bigint,
	       CASE WHEN t.n > 0 AND s.j ->> t.tier IS NOT NULL AND s.j ->> ('overdue_now:' || t.tier) IS NOT NULL
	            THEN round(1 - t.o::numeric / t.n, 4) END
	  FROM pg_temp.sc_cov c
	  JOIN pg_temp.sc_shown s ON s.src = 'cov' AND s.area_id = c.area_id AND s.k = ''
	 CROSS JOIN LATERAL (VALUES ('red', c.red, c.o_red), ('yellow', c.yellow, c.o_yellow), ('blue', c.blue, c.o_blue)) t(tier, n, o);
	INSERT INTO sanse.published_overdue_events
	SELECT o.area_id, o.path, o.kind, o.name, o.month,
	       (s.j ->> 'opened')::bigint, (s.j ->> 'closed')::bigint, (s.j ->> 'still_open')::bigint,
	       (s.j ->> 'reached_level_1')::bigint, (s.j ->> 'reached_level_2')::bigint,
	       (s.j ->> 'reached_level_3')::bigint, (s.j ->> 'reached_level_4')::bigint,
	       CASE WHEN s.j ->> 'closed' IS NOT NULL THEN o.median_time_to_close END
	  FROM pg_temp.sc_oe o JOIN pg_temp.sc_shown s ON s.src = 'oe' AND s.area_id = o.area_id AND s.k = o.month::text;
	INSERT INTO sanse.published_loop_metrics
	SELECT l.area_id, l.path, l.name, l.month, l.kind,
	       (s.j ->> 'raised')::bigint, (s.j ->> 'answered_in_time')::bigint,
	       CASE WHEN s.j ->> 'raised' IS NOT NULL AND s.j ->> 'answered_in_time' IS NOT NULL THEN l.response_rate END,
	       -- built on the arrivals, at least as many as answered in time
	       CASE WHEN s.j ->> 'raised' IS NOT NULL AND s.j ->> 'answered_in_time' IS NOT NULL THEN l.median_time_to_arrive END,
	       (s.j ->> 'handled')::bigint, (s.j ->> 'closed')::bigint, (s.j ->> 'reopened')::bigint,
	       NULL::numeric,	-- a mean over the ratings, whose number is not shown
	       (s.j ->> 'confirmed_solved')::bigint, (s.j ->> 'still_open')::bigint
	  FROM pg_temp.sc_lm l JOIN pg_temp.sc_shown s ON s.src = 'lm' AND s.area_id = l.area_id AND s.k = l.month || '/' || l.kind;
	INSERT INTO sanse.published_grid_daily_report
	SELECT g.area_id, g.path, g.name, g.day,
	       (s.j ->> 'visits')::bigint, (s.j ->> 'complete_checklists')::bigint, (s.j ->> 'flagged_visits')::bigint,
	       (s.j ->> 'events_opened')::bigint, (s.j ->> 'events_closed')::bigint
	  FROM pg_temp.sc_gdr g JOIN pg_temp.sc_shown s ON s.src = 'gdr' AND s.area_id = g.area_id AND s.k = g.day::text;
	INSERT INTO sanse.published_worker_checkin_rate
	SELECT t.worker_id, wk.name, wk.force, wk.area_id, t.month,
	       (s.j ->> 'windows_due')::bigint, (s.j ->> 'windows_met')::bigint,
	       CASE WHEN t.windows_met + t.windows_missed > 0 AND s.j ->> 'windows_due' IS NOT NULL AND s.j ->> 'windows_met' IS NOT NULL
	            THEN round(t.windows_met::numeric / (t.windows_met + t.windows_missed), 4) END,
	       (s.j ->> 'visits')::bigint, (s.j ->> 'flagged_visits')::bigint,
	       CASE WHEN t.visits > 0 AND s.j ->> 'visits' IS NOT NULL
	            THEN round(t.checklist_items::numeric / (cardinality(sanse.checklist_items()) * t.visits), 4) END
	  FROM sanse.worker_tally t
	  JOIN sanse.worker wk ON wk.id = t.worker_id
	  JOIN pg_temp.sc_shown s ON s.src = 'wk' AND s.area_id = t.worker_id AND s.k = t.month::text;

	INSERT INTO sanse.screen_publication (one, published_at, min_cell, cells, hidden)
	VALUES (true, at, sanse.min_cell_in_force(), n_cells, n_hidden)
	ON CONFLICT (one) DO UPDATE SET published_at = EXCLUDED.published_at, published_clock = EXCLUDED.published_clock,
	                                min_cell = EXCLUDED.min_cell,
	                                cells = EXCLUDED.cells, hidden = EXCLUDED.hidden;
	DROP TABLE pg_temp.sc_cov, pg_temp.sc_oe, pg_temp.sc_lm, pg_temp.sc_gdr, pg_temp.sc_shown;
	RETURN n_hidden;
END
$$;
REVOKE ALL ON FUNCTION publish_screen(timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION publish_screen(timestamptz) IS 'publish the screen views for aggregate-only roles: recorded days not yet published, then the views of now, primary and secondary cell suppression; returns how many cells it hid (run by sanse.sweep)';

-- The sweep's phase: publish when a recorded day is not published yet, or
-- the last publication is ten minutes old on the clock (a replay's sweeps,
-- an hour apart in their own time but not on the clock, publish once a day).
CREATE FUNCTION publish_screen_if_due(at timestamptz DEFAULT now()) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF coalesce((SELECT p.published_clock FROM sanse.screen_publication p)
	            BETWEEN pg_catalog.clock_timestamp() - interval '10 minutes' AND pg_catalog.clock_timestamp(), false)
	   AND NOT EXISTS (SELECT 1 FROM sanse.area_day_recorded r
	                    WHERE r.areas IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sanse.published_history_day p WHERE p.day = r.day)) THEN
		RETURN false;
	END IF;
	PERFORM sanse.publish_screen(at);
	RETURN true;
END
$$;
REVOKE ALL ON FUNCTION publish_screen_if_due(timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION publish_screen_if_due(timestamptz) IS 'publish_screen when a recorded day is not published yet or the last publication is ten minutes old on the clock; true when it published';


-- 80_views.sql: the daily report's days

CREATE OR REPLACE VIEW grid_daily_report_all AS
SELECT s.area_id, a.path::text AS path, a.name, s.day, s.visits, s.complete_checklists, s.flagged_visits,
       s.events_opened, s.events_closed
  FROM (
SELECT x.area_id, d.day,
       sum(x.visits)::bigint AS visits,
       sum(x.complete)::bigint AS complete_checklists,
       sum(x.flagged)::bigint AS flagged_visits,
       sum(x.opened)::bigint AS events_opened,
       sum(x.closed)::bigint AS events_closed
  FROM (SELECT g.day,
               (g.day::timestamp AT TIME ZONE sanse.current_zone()) - interval '3 hours' AS starts,
               ((g.day + 1)::timestamp AT TIME ZONE sanse.current_zone()) + interval '3 hours' AS ends
          FROM (WITH RECURSIVE
                vd(day) AS (
                	SELECT (min(v.at) AT TIME ZONE sanse.current_zone())::date FROM sanse.visit v
                	 WHERE v.at > '-infinity' AND v.at < 'infinity'
                	UNION ALL
                	SELECT greatest(vd.day + 1, n.day)
                	  FROM vd CROSS JOIN LATERAL (
                		SELECT (SELECT (min(v.at) AT TIME ZONE sanse.current_zone())::date FROM sanse.visit v
                		         WHERE v.at >= ((vd.day + 1)::timestamp AT TIME ZONE sanse.current_zone()) - interval '3 hours'
                		           AND v.at < 'infinity') AS day) n
                	 WHERE n.day IS NOT NULL),
                ed(day) AS (
                	SELECT (min(e.due_at) AT TIME ZONE sanse.current_zone())::date FROM sanse.event e
                	 WHERE e.due_at > '-infinity' AND e.due_at < 'infinity'
                	UNION ALL
                	SELECT greatest(ed.day + 1, n.day)
                	  FROM ed CROSS JOIN LATERAL (
                		SELECT (SELECT (min(e.due_at) AT TIME ZONE sanse.current_zone())::date FROM sanse.event e
                		         WHERE e.due_at >= ((ed.day + 1)::timestamp AT TIME ZONE sanse.current_zone()) - interval '3 hours'
                		           AND e.due_at < 'infinity') AS day) n
                	 WHERE n.day IS NOT NULL),
                cd(day) AS (
                	SELECT (min(e.resolved_at) AT TIME ZONE sanse.current_zone())::date FROM sanse.event e
                	 WHERE e.status = 'closed' AND e.resolved_at > '-infinity' AND e.resolved_at < 'infinity'
                	UNION ALL
                	SELECT greatest(cd.day + 1, n.day)
                	  FROM cd CROSS JOIN LATERAL (
                		SELECT (SELECT (min(e.resolved_at) AT TIME ZONE sanse.current_zone())::date FROM sanse.event e
                		         WHERE e.status = 'closed'
                		           AND e.resolved_at >= ((cd.day + 1)::timestamp AT TIME ZONE sanse.current_zone()) - interval '3 hours'
                		           AND e.resolved_at < 'infinity') AS day) n
                	 WHERE n.day IS NOT NULL)
                SELECT vd.day FROM vd WHERE vd.day IS NOT NULL
                UNION SELECT ed.day FROM ed WHERE ed.day IS NOT NULL
                UNION SELECT cd.day FROM cd WHERE cd.day IS NOT NULL) g) d
 CROSS JOIN LATERAL (
	SELECT v.area_id, 1 AS visits, (cardinality(v.checklist) = cardinality(checklist_items()))::int AS complete,
	       (v.flags <> '{}')::int AS flagged, 0 AS opened, 0 AS closed
	  FROM sanse.visit v
	 WHERE v.at >= d.starts AND v.at < d.ends AND (v.at AT TIME ZONE sanse.current_zone())::date = d.day
	UNION ALL
	SELECT e.area_id, 0, 0, 0, 1, 0
	  FROM sanse.event e
	 WHERE e.due_at >= d.starts AND e.due_at < d.ends AND (e.due_at AT TIME ZONE sanse.current_zone())::date = d.day
	UNION ALL
	SELECT e.area_id, 0, 0, 0, 0, 1
	  FROM sanse.event e
	 WHERE e.status = 'closed' AND e.resolved_at >= d.starts AND e.resolved_at < d.ends
	   AND (e.resolved_at AT TIME ZONE sanse.current_zone())::date = d.day) x
 GROUP BY x.area_id, d.day) s
  JOIN sanse.area a ON a.id = s.area_id;
COMMENT ON VIEW grid_daily_report_all IS 'all areas, for the owner (read grid_daily_report): daily grid work report (网格工作报告) per micro grid: visits, complete checklists, flagged visits, events opened (by due day) and closed';


-- 80_views.sql and 78_history.sql: the screen views, published rows for aggregate-only areas

CREATE OR REPLACE VIEW worker_checkin_rate AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.worker_id, wk.name AS worker_name, wk.force, p.area_id, p.month, p.windows_due, p.windows_met,
	       p.checkin_rate, p.visits, p.flagged_visits, p.checklist_completeness
	  FROM sanse.published_worker_checkin_rate p
	  JOIN sanse.worker wk ON wk.id = p.worker_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT t.worker_id, wk.name AS worker_name, wk.force, wk.area_id, t.month,
	       t.windows_met + t.windows_missed AS windows_due, t.windows_met::bigint,
	       CASE WHEN t.windows_met + t.windows_missed > 0
	            THEN round(t.windows_met::numeric / (t.windows_met + t.windows_missed), 4) END AS checkin_rate,
	       t.visits::bigint, t.flagged_visits::bigint,
	       CASE WHEN t.visits > 0
	            THEN round(t.checklist_items::numeric / (cardinality(checklist_items()) * t.visits), 4) END AS checklist_completeness
	  FROM sanse.worker_tally t
	  JOIN sanse.worker wk ON wk.id = t.worker_id
	  JOIN sanse.screen_areas() v ON v.id = wk.area_id AND v.exact
	 WHERE (t.windows_met + t.windows_missed > 0 OR t.visits > 0)
	   AND sanse.screen_sees_exact()) u;
COMMENT ON VIEW worker_checkin_rate IS 'per worker and month (sanse.timezone): windows due for the residents in their care when the outcome was recorded, met on time, check-in rate (打卡率), their visits, flagged visits, checklist completeness';

ALTER VIEW worker_checkin_rate SET (security_barrier = true);

CREATE OR REPLACE VIEW coverage AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.area_id, a.path::text AS path, a.kind, a.name, p.residents, p.red, p.yellow, p.blue, p.overdue_now,
	       p.window_met, p.coverage_rate
	  FROM sanse.published_coverage p
	  JOIN sanse.area a ON a.id = p.area_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT c.area_id, c.path, c.kind, c.name, c.residents, c.red, c.yellow, c.blue, c.overdue_now, c.window_met,
	       c.coverage_rate
	  FROM sanse.coverage_all c
	  JOIN sanse.screen_areas() v ON v.id = c.area_id AND v.exact
	 WHERE sanse.screen_sees_exact()) u;
COMMENT ON VIEW coverage IS 'per area at every level (rolled up the hierarchy) the role may see: residents in the programme by tier, overdue now, current window met, coverage rate = share not overdue (for aggregate-only roles: as published by the sweep, cells suppressed)';

ALTER VIEW coverage SET (security_barrier = true);

CREATE OR REPLACE VIEW coverage_by_tier AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.area_id, a.path::text AS path, a.kind, a.name, p.tier, p.residents, p.overdue_now, p.window_met,
	       p.coverage_rate
	  FROM sanse.published_coverage_by_tier p
	  JOIN sanse.area a ON a.id = p.area_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT c.area_id, c.path, c.kind, c.name, c.tier, c.residents, c.overdue_now, c.window_met, c.coverage_rate
	  FROM sanse.coverage_by_tier_all c
	  JOIN sanse.screen_areas() v ON v.id = c.area_id AND v.exact
	 WHERE sanse.screen_sees_exact()) u;
COMMENT ON VIEW coverage_by_tier IS 'coverage per area (rolled up) the role may see and tier (as text): residents, overdue now, window met, coverage rate (for aggregate-only roles: as published by the sweep, every tier of every area, cells suppressed)';

ALTER VIEW coverage_by_tier SET (security_barrier = true);

CREATE OR REPLACE VIEW overdue_events AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.area_id, a.path::text AS path, a.kind, a.name, p.month, p.opened, p.closed, p.still_open,
	       p.reached_level_1, p.reached_level_2, p.reached_level_3, p.reached_level_4, p.median_time_to_close
	  FROM sanse.published_overdue_events p
	  JOIN sanse.area a ON a.id = p.area_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT o.area_id, o.path, o.kind, o.name, o.month, o.opened, o.closed, o.still_open,
	       o.reached_level_1, o.reached_level_2, o.reached_level_3, o.reached_level_4, o.median_time_to_close
	  FROM sanse.overdue_events_all o
	  JOIN sanse.screen_areas() v ON v.id = o.area_id AND v.exact
	 WHERE sanse.screen_sees_exact()) u;
COMMENT ON VIEW overdue_events IS 'per area (rolled up) the role may see and month of the due time: overdue events opened, closed, still open, by highest level reached, median time to close (for aggregate-only roles: as published by the sweep, cells suppressed)';

ALTER VIEW overdue_events SET (security_barrier = true);

CREATE OR REPLACE VIEW grid_daily_report AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.area_id, a.path::text AS path, a.name, p.day, p.visits, p.complete_checklists, p.flagged_visits,
	       p.events_opened, p.events_closed
	  FROM sanse.published_grid_daily_report p
	  JOIN sanse.area a ON a.id = p.area_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT d.area_id, d.path, d.name, d.day, d.visits, d.complete_checklists, d.flagged_visits, d.events_opened, d.events_closed
	  FROM sanse.grid_daily_report_all d
	  JOIN sanse.screen_areas() v ON v.id = d.area_id AND v.exact
	 WHERE sanse.screen_sees_exact()) u;
COMMENT ON VIEW grid_daily_report IS 'daily grid work report (网格工作报告) per micro grid the role may see: visits, complete checklists, flagged visits, events opened (by due day) and closed (for aggregate-only roles: as published by the sweep, cells suppressed)';

ALTER VIEW grid_daily_report SET (security_barrier = true);

CREATE OR REPLACE VIEW loop_metrics AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.area_id, a.path::text AS path, a.name, p.month, p.kind, p.raised, p.answered_in_time, p.response_rate,
	       p.median_time_to_arrive, p.handled, p.closed, p.reopened, p.mean_rating, p.confirmed_solved, p.still_open
	  FROM sanse.published_loop_metrics p
	  JOIN sanse.area a ON a.id = p.area_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT l.area_id, l.path, l.name, l.month, l.kind, l.raised, l.answered_in_time, l.response_rate,
	       l.median_time_to_arrive, l.handled, l.closed, l.reopened, l.mean_rating, l.confirmed_solved, l.still_open
	  FROM sanse.loop_metrics_all l
	  JOIN sanse.screen_areas() v ON v.id = l.area_id AND v.exact
	 WHERE sanse.screen_sees_exact()) u;
COMMENT ON VIEW loop_metrics IS 'closed loop per area (rolled up) the role may see, month of raising and kind: raised, answered in time, response rate, median time to arrive, handled, closed, reopened, mean rating, confirmed solved by the resident, still open (for aggregate-only roles: as published by the sweep, cells suppressed, no mean rating)';

ALTER VIEW loop_metrics SET (security_barrier = true);

CREATE OR REPLACE VIEW coverage_history AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT a.id AS area_id, a.path::text AS path, a.kind, a.name, d.day,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.residents END AS residents,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.red END AS red,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.yellow END AS yellow,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.blue END AS blue,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.overdue END AS overdue,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.windows_met END AS windows_met,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.events_opened END AS events_opened,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.events_closed END AS events_closed,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_1 END AS open_level_1,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_2 END AS open_level_2,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_3 END AS open_level_3,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_4 END AS open_level_4,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.loop_raised END AS loop_raised,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.loop_answered_in_time END AS loop_answered_in_time,
	       h.coverage_rate, h.response_rate
	  FROM sanse.published_history_day d
	 CROSS JOIN sanse.area a
	  JOIN sanse.screen_areas() v ON v.id = a.id AND NOT v.exact
	  LEFT JOIN sanse.published_coverage_history h ON h.day = d.day AND h.area_id = a.id
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT a.id AS area_id, a.path::text AS path, a.kind, a.name, d.day,
	       coalesce(h.residents, 0)::bigint, coalesce(h.red, 0)::bigint, coalesce(h.yellow, 0)::bigint,
	       coalesce(h.blue, 0)::bigint, coalesce(h.overdue, 0)::bigint, coalesce(h.windows_met, 0)::bigint,
	       coalesce(h.events_opened, 0)::bigint, coalesce(h.events_closed, 0)::bigint,
	       coalesce(h.open_level_1, 0)::bigint, coalesce(h.open_level_2, 0)::bigint,
	       coalesce(h.open_level_3, 0)::bigint, coalesce(h.open_level_4, 0)::bigint,
	       coalesce(h.loop_raised, 0)::bigint, coalesce(h.loop_answered_in_time, 0)::bigint,
	       CASE WHEN h.residents > 0 THEN round(1 - h.overdue::numeric / h.residents, 4) END,
	       CASE WHEN h.loop_raised > 0 THEN round(h.loop_answered_in_time::numeric / h.loop_raised, 4) END
	  FROM sanse.area_day_recorded d
	 CROSS JOIN sanse.area a
	  JOIN sanse.screen_areas() v ON v.id = a.id AND v.exact
	  LEFT JOIN sanse.area_day h ON h.day = d.day AND h.area_id = a.id
	 WHERE d.areas IS NOT NULL AND sanse.screen_sees_exact()) u;
COMMENT ON VIEW coverage_history IS 'daily history per area (rolled up) the role may see and recorded local day, as of the day''s end: residents in the programme by tier, overdue, windows met, overdue events opened, closed and open by level, loop events raised and answered in time, coverage rate, response rate (for aggregate-only roles: the days as published by the sweep, cells suppressed)';

ALTER VIEW coverage_history SET (security_barrier = true);


-- 75_sweeps.sql: the sweep publishes (one call, after record_history)


COMMENT ON FUNCTION sweep(timestamptz) IS 'sweep_overdue, sweep_escalations (overdue events and the loop''s clocks), forget_expired, fold_worker_month, then record_history (the daily history) and publish_screen_if_due (the screen aggregate-only roles read), one sweep at a time (an overlapping one skips, with a WARNING, and is counted in sweep_status)';

-- src/updates/1.2--1.3/40_audit.sql
-- 1.2 -> 1.3, issue 18 items 5, 6 and 12 (forgetting): the audit log's
-- hash chain and erasable free text, an override reason changed alone
-- audited, forgetting and the writes about a person excluding each other.

-- the audit log: the text's seal and key, the chain
ALTER TABLE sanse.audit_log ADD COLUMN text_key bytea, ADD COLUMN text_seal bytea,
	ADD COLUMN prev_id bigint, ADD COLUMN hash bytea;
CREATE INDEX audit_log_resident_ids ON sanse.audit_log USING gin (resident_ids);
COMMENT ON COLUMN sanse.audit_log.text_key IS 'random key of the text''s seal; erased with the text';
COMMENT ON COLUMN sanse.audit_log.text_seal IS 'hmac-sha256(purpose and detail, text_key): in the chain, so a changed text is evident';
COMMENT ON COLUMN sanse.audit_log.prev_id IS 'the row before this one in the chain (NULL for the first)';
COMMENT ON COLUMN sanse.audit_log.hash IS 'sha256 of the previous row''s hash and this row''s act, who, when, residents and text seal; written by sanse';

-- only forgetting's erasure of free text passes
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.audit_log'::regclass THEN
		RAISE EXCEPTION 'trigger function audit_log_append_only() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.audit_log.';
	END IF;
	-- the one change allowed: forgetting erases the free text (and its key)
	-- of a row that names a forgotten resident; the act, who, when, the
	-- residents and the chain stay as they were
	IF TG_OP = 'UPDATE' AND NEW.purpose IS NULL AND NEW.detail IS NULL AND NEW.text_key IS NULL
	   AND (NEW.id, NEW.at, NEW.session_user_name, NEW.current_user_name, NEW.act, NEW.resident_ids,
	        NEW.text_seal, NEW.prev_id, NEW.hash)
	       IS NOT DISTINCT FROM
	       (OLD.id, OLD.at, OLD.session_user_name, OLD.current_user_name, OLD.act, OLD.resident_ids,
	        OLD.text_seal, OLD.prev_id, OLD.hash)
	   AND OLD.act <> 'forget_resident'
	   AND EXISTS (SELECT 1 FROM sanse.resident r WHERE r.id = ANY (OLD.resident_ids) AND r.forgotten_at IS NOT NULL) THEN
		RETURN NEW;
	END IF;
	RAISE EXCEPTION 'sanse.audit_log is append-only: % is refused', TG_OP
		USING ERRCODE = '42501', HINT = 'Audit rows are never changed or removed (forgetting a resident only erases their free text).';
END
$$;

-- The chain head: the last row appended and its hash.  No row until the
-- first append (so a restored head never meets one CREATE EXTENSION made).
CREATE TABLE audit_chain (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	last_id bigint NOT NULL,
	last_hash bytea NOT NULL
);
REVOKE ALL ON audit_chain FROM PUBLIC;
COMMENT ON TABLE audit_chain IS 'the head of the audit log''s hash chain: the last row appended and its hash';
SELECT pg_catalog.pg_extension_config_dump('audit_chain', '');

-- What a row's hash covers, in a text no session setting changes (the time
-- in microseconds since 1970; a record's text form quotes each field).
CREATE FUNCTION audit_row_hash(prev_hash bytea, a audit_log) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT pg_catalog.sha256(coalesce(audit_row_hash.prev_hash, '\x'::bytea)
	       || pg_catalog.convert_to(ROW((audit_row_hash.a).id, (audit_row_hash.a).prev_id,
	                                    (EXTRACT(epoch FROM (audit_row_hash.a).at) * 1000000)::bigint,
	                                    (audit_row_hash.a).session_user_name::text, (audit_row_hash.a).current_user_name::text,
	                                    (audit_row_hash.a).act, (audit_row_hash.a).resident_ids::text,
	                                    pg_catalog.encode((audit_row_hash.a).text_seal, 'hex'))::text, 'UTF8'));
END;
-- The seal of a row's free text under its key.
CREATE FUNCTION audit_text_seal(purpose text, detail text, key bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT hmac(pg_catalog.convert_to(ROW(audit_text_seal.purpose, audit_text_seal.detail)::text, 'UTF8'),
	            audit_text_seal.key, 'sha256');
END;

-- A fresh random key for a row's seal (pgcrypto, bound when created).
CREATE FUNCTION audit_text_key() RETURNS bytea
LANGUAGE sql VOLATILE SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT gen_random_bytes(32);
END;

-- Appends join the chain: under the head's row lock (held to the end of the
-- transaction, so the next append sees this one committed), the row takes
-- the next id, its predecessor and its hash; whatever an INSERT said there
-- is replaced.  The predecessor is the head's row, or the last row this
-- transaction appended after it (the head is written once, at commit).
-- Waits for
-- the head at most lock_timeout 10 s (55P03).  A restore (replica mode)
-- loads rows as they were, hashes and all.
CREATE FUNCTION audit_log_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse SET lock_timeout = '10s' AS $$
DECLARE
	head sanse.audit_chain;
	prev_id bigint;
	prev_hash bytea;
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.audit_log'::regclass THEN
		RAISE EXCEPTION 'trigger function audit_log_chain() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.audit_log.';
	END IF;
	IF NEW.hash IS NOT NULL AND pg_catalog.current_setting('session_replication_role') = 'replica' THEN
		RETURN NEW;
	END IF;
	SELECT * INTO head FROM sanse.audit_chain c FOR UPDATE;
	IF NOT FOUND THEN
		INSERT INTO sanse.audit_chain (one, last_id, last_hash) VALUES (true, 0, '\x') ON CONFLICT DO NOTHING;
		SELECT * INTO head FROM sanse.audit_chain c FOR UPDATE;
	END IF;
	-- rows after the head are this transaction's own (any other appender
	-- wrote the head before it committed, and we hold the head's lock)
	-- (planned at each call, on the log's size now: a plan cached while the
	-- log was small would read it whole)
	EXECUTE 'SELECT a.id, a.hash FROM sanse.audit_log a WHERE a.id > $1 ORDER BY a.id DESC LIMIT 1'
	   INTO prev_id, prev_hash USING head.last_id;
	IF prev_id IS NULL THEN
		prev_id := nullif(head.last_id, 0);
		prev_hash := nullif(head.last_hash, '\x');
	END IF;
	NEW.id := pg_catalog.nextval('sanse.audit_log_id_seq');
	NEW.prev_id := prev_id;
	IF NEW.purpose IS NULL AND NEW.detail IS NULL THEN
		NEW.text_key := NULL;
		NEW.text_seal := NULL;
	ELSE
		NEW.text_key := sanse.audit_text_key();
		NEW.text_seal := sanse.audit_text_seal(NEW.purpose, NEW.detail, NEW.text_key);
	END IF;
	NEW.hash := sanse.audit_row_hash(prev_hash, NEW);
	RETURN NEW;
END
$$;
-- The head follows the transaction's last row, at commit (a deferred
-- constraint trigger: it fires for each row, and writes for the last only;
-- written for each row, the head would pile up versions no one can prune
-- before the commit, and each append would read them all).
CREATE FUNCTION audit_log_chain_head() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	last_id bigint;
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.audit_log'::regclass THEN
		RAISE EXCEPTION 'trigger function audit_log_chain_head() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.audit_log.';
	END IF;
	-- (planned at each call, as above)
	EXECUTE 'SELECT a.id FROM sanse.audit_log a ORDER BY a.id DESC LIMIT 1' INTO last_id;
	IF last_id = NEW.id THEN
		UPDATE sanse.audit_chain c SET last_id = NEW.id, last_hash = NEW.hash WHERE c.last_id < NEW.id;
	END IF;
	RETURN NULL;
END
$$;

-- Rows written before 1.3: the text of those naming a forgotten resident is
-- erased (the new rule allows that), then every row is sealed and chained in
-- id order (with the append-only trigger held back for this one update).
UPDATE sanse.audit_log a SET purpose = NULL, detail = NULL, text_key = NULL
 WHERE a.act <> 'forget_resident' AND (a.purpose IS NOT NULL OR a.detail IS NOT NULL)
   AND EXISTS (SELECT 1 FROM sanse.resident r WHERE r.id = ANY (a.resident_ids) AND r.forgotten_at IS NOT NULL);
ALTER TABLE sanse.audit_log DISABLE TRIGGER audit_log_append_only;
DO $$
DECLARE
	a sanse.audit_log;
	prev sanse.audit_log;
BEGIN
	FOR a IN SELECT * FROM sanse.audit_log x ORDER BY x.id LOOP
		a.prev_id := prev.id;
		IF a.purpose IS NOT NULL OR a.detail IS NOT NULL THEN
			a.text_key := sanse.audit_text_key();
			a.text_seal := sanse.audit_text_seal(a.purpose, a.detail, a.text_key);
		END IF;
		a.hash := sanse.audit_row_hash(prev.hash, a);
		UPDATE sanse.audit_log x SET text_key = a.text_key, text_seal = a.text_seal, prev_id = a.prev_id, hash = a.hash
		 WHERE x.id = a.id;
		prev := a;
	END LOOP;
	IF prev.id IS NOT NULL THEN
		INSERT INTO sanse.audit_chain (one, last_id, last_hash) VALUES (true, prev.id, prev.hash);
	END IF;
END
$$;
ALTER TABLE sanse.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;

CREATE TRIGGER audit_log_chain BEFORE INSERT ON sanse.audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
ALTER TABLE sanse.audit_log ENABLE ALWAYS TRIGGER audit_log_chain;
CREATE CONSTRAINT TRIGGER audit_log_chain_head AFTER INSERT ON sanse.audit_log
	DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION audit_log_chain_head();
ALTER TABLE sanse.audit_log ENABLE ALWAYS TRIGGER audit_log_chain_head;

-- The first row that breaks the chain, NULL when it is whole: a row whose
-- hash does not follow from its predecessor's and its own content, whose
-- text does not match its seal, or whose text is gone though no later
-- forget_resident row (in the chain itself) names one of its residents; for
-- a row deleted, its id (named by the row after it, or by the head for the
-- last).
CREATE FUNCTION audit_verify() RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	broken bigint;
	head sanse.audit_chain;
BEGIN
	SELECT CASE WHEN w.prev_id IS DISTINCT FROM w.before AND w.prev_id IS NOT NULL
	             AND (w.before IS NULL OR w.prev_id > w.before) THEN w.prev_id ELSE w.id END
	  INTO broken
	  FROM (SELECT a.id, a.prev_id, a.hash, a.text_key, a.text_seal, a.purpose, a.detail, a.act, a.resident_ids,
	               lag(a.id) OVER (ORDER BY a.id) AS before,
	               sanse.audit_row_hash(lag(a.hash) OVER (ORDER BY a.id), a) AS expected
	          FROM sanse.audit_log a) w
	 WHERE w.prev_id IS DISTINCT FROM w.before
	    OR w.hash IS DISTINCT FROM w.expected
	    OR (w.text_key IS NOT NULL
	        AND w.text_seal IS DISTINCT FROM sanse.audit_text_seal(w.purpose, w.detail, w.text_key))
	    OR (w.text_key IS NULL AND w.text_seal IS NULL AND (w.purpose IS NOT NULL OR w.detail IS NOT NULL))
	    OR (w.text_key IS NULL AND w.text_seal IS NOT NULL
	        AND (w.purpose IS NOT NULL OR w.detail IS NOT NULL OR w.act = 'forget_resident'
	             OR NOT EXISTS (SELECT 1 FROM sanse.audit_log f
	                             WHERE f.act = 'forget_resident' AND f.id > w.id AND f.resident_ids && w.resident_ids)))
	 ORDER BY w.id
	 LIMIT 1;
	IF broken IS NOT NULL THEN
		RETURN broken;
	END IF;
	-- the head names the last row committed: gone (rows at the end deleted)
	-- or changed, it breaks there (rows after it are this transaction's)
	SELECT * INTO head FROM sanse.audit_chain;
	IF nullif(head.last_id, 0) IS NOT NULL
	   AND NOT EXISTS (SELECT 1 FROM sanse.audit_log a WHERE a.id = head.last_id AND a.hash = head.last_hash) THEN
		RETURN head.last_id;
	END IF;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION audit_verify() FROM PUBLIC;
COMMENT ON FUNCTION audit_verify() IS 'the id of the first audit row that breaks the hash chain (deleted, changed, its text altered), NULL when the log is whole';
REVOKE ALL ON FUNCTION audit_log_chain(), audit_log_chain_head() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_row_hash(bytea, audit_log), audit_text_seal(text, text, bytea), audit_text_key() FROM PUBLIC;

-- forgetting erases the audit's free text; it and the sweep lock first
CREATE OR REPLACE FUNCTION forget(p_residents bigint[]) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
BEGIN
	DELETE FROM sanse.door_token t WHERE t.resident_id = ANY (p_residents);
	UPDATE sanse.tier_history h SET override_reason = NULL
	 WHERE h.resident_id = ANY (p_residents) AND h.override_reason IS NOT NULL;
	UPDATE sanse.visit v SET note = NULL WHERE v.resident_id = ANY (p_residents) AND v.note IS NOT NULL;
	UPDATE sanse.visit_withdrawn v SET note = NULL, reason = 'forgotten' WHERE v.resident_id = ANY (p_residents);
	UPDATE sanse.event_transition t SET note = NULL
	  FROM sanse.event e
	 WHERE t.event_id = e.id AND e.resident_id = ANY (p_residents) AND t.note IS NOT NULL;
	UPDATE sanse.event e SET detail = NULL, action = NULL, feedback = NULL
	 WHERE e.resident_id = ANY (p_residents)
	   AND (e.detail IS NOT NULL OR e.action IS NOT NULL OR e.feedback IS NOT NULL);
	UPDATE sanse.resident r
	   SET name = 'forgotten', factors = '{}', tier_override = NULL, override_reason = NULL,
	       lat = NULL, lon = NULL, id_number = '', active = false, forgotten_at = now()
	 WHERE r.id = ANY (p_residents) AND r.forgotten_at IS NULL;
	GET DIAGNOSTICS n = ROW_COUNT;
	-- the free text of the audit rows that name them (override reasons,
	-- lookup purposes): the act, who, when and the chain stay; the ground
	-- of a forgetting stays (it is the audit of the erasure)
	UPDATE sanse.audit_log a SET purpose = NULL, detail = NULL, text_key = NULL
	 WHERE a.resident_ids && p_residents AND a.act <> 'forget_resident'
	   AND (a.purpose IS NOT NULL OR a.detail IS NOT NULL OR a.text_key IS NOT NULL);
	RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION forget_resident(resident_id bigint, reason text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
BEGIN
	IF reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION 'forgetting a resident needs a reason' USING ERRCODE = '22023';
	ELSIF length(reason) > 2000 THEN
		RAISE EXCEPTION 'the reason is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	PERFORM 1 FROM sanse.resident r WHERE r.id = resident_id AND sanse.caller_sees(r.area_id, 'care')
	   FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'resident % does not exist', coalesce(resident_id::text, 'NULL') USING ERRCODE = '22023';
	END IF;
	PERFORM sanse.forget(ARRAY[resident_id]);
	PERFORM sanse.audit('forget_resident', ARRAY[resident_id], reason);
END
$$;

CREATE OR REPLACE FUNCTION forget_expired(at timestamptz) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	ids bigint[];
BEGIN
	-- locked first (a resident a writer holds is left for the next sweep)
	ids := ARRAY(SELECT r.id FROM sanse.resident r
	              WHERE NOT r.active AND r.forgotten_at IS NULL
	                AND r.deactivated_at < at - sanse.retention()
	              ORDER BY r.id
	                FOR UPDATE SKIP LOCKED);
	IF cardinality(ids) = 0 THEN
		RETURN 0;
	END IF;
	PERFORM sanse.audit('forget_resident', ids, 'retention: inactive longer than ' || sanse.retention()::text);
	RETURN sanse.forget(ids);
END
$$;

-- an override's reason rewritten alone: audited
CREATE OR REPLACE FUNCTION resident_audit_override() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_audit_override() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	IF TG_OP = 'INSERT' THEN
		PERFORM sanse.audit('tier_override', ARRAY[n.id], n.override_reason, 'set on registration', n.written_by)
		   FROM new_rows n WHERE n.tier_override IS NOT NULL;
	ELSE
		PERFORM sanse.audit('tier_override', ARRAY[NEW.id], NEW.override_reason,
		                    CASE WHEN OLD.tier_override IS NOT DISTINCT FROM NEW.tier_override
		                         THEN format('%s, reason changed', NEW.tier_override)
		                         ELSE format('%s -> %s', coalesce(OLD.tier_override::text, 'none'), coalesce(NEW.tier_override::text, 'none')) END,
		                    NEW.written_by);
	END IF;
	RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER resident_audit_override_update AFTER UPDATE ON resident
	FOR EACH ROW WHEN ((OLD.tier_override IS DISTINCT FROM NEW.tier_override
	                    OR (NEW.tier_override IS NOT NULL AND OLD.override_reason IS DISTINCT FROM NEW.override_reason))
	                   AND NEW.forgotten_at IS NULL)
	EXECUTE FUNCTION resident_audit_override();

-- a withdrawal that waited for a forgetting is refused
CREATE OR REPLACE FUNCTION withdraw_visit(visit_id bigint, reason text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	v sanse.visit;
	twin bigint;
	prev timestamptz;
BEGIN
	IF reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION 'withdrawing a visit needs a reason' USING ERRCODE = '22023';
	ELSIF length(reason) > 2000 THEN
		RAISE EXCEPTION 'the reason is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	SELECT * INTO v FROM sanse.visit WHERE id = withdraw_visit.visit_id AND sanse.caller_sees(area_id, 'care');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'visit % does not exist', withdraw_visit.visit_id USING ERRCODE = '22023';
	END IF;
	-- the resident's check-ins wait while its timeline is re-derived
	PERFORM 1 FROM sanse.resident r WHERE r.id = v.resident_id FOR NO KEY UPDATE;
	-- forgotten meanwhile: nothing more is written about them
	IF (SELECT r.forgotten_at FROM sanse.resident r WHERE r.id = v.resident_id) IS NOT NULL THEN
		RAISE EXCEPTION 'the resident of visit % has been forgotten', withdraw_visit.visit_id
			USING ERRCODE = '55000', DETAIL = 'Nothing more is written about a forgotten resident.';
	END IF;
	INSERT INTO sanse.visit_withdrawn (visit_id, resident_id, worker_id, at, checklist, flags, note, recorded_at, reason)
	VALUES (v.id, v.resident_id, v.worker_id, v.at, v.checklist, v.flags, v.note, v.recorded_at, withdraw_visit.reason);
	-- the visitor's own counts
	INSERT INTO sanse.worker_month_pending (worker_id, month, visits, flagged_visits, checklist_items)
	VALUES (v.worker_id, sanse.month_of(v.at), -1, -(v.flags <> '{}')::int, -cardinality(v.checklist));

	SELECT t.id INTO twin FROM sanse.visit t
	 WHERE t.resident_id = v.resident_id AND t.at = v.at AND t.id <> v.id ORDER BY t.id LIMIT 1;
	IF twin IS NOT NULL THEN
		-- another visit at the same instant takes its place
		UPDATE sanse.event SET visit_id = twin, closed_by = (SELECT t.worker_id FROM sanse.visit t WHERE t.id = twin)
		 WHERE event.visit_id = v.id;
		UPDATE sanse.visit SET window_due = NULL WHERE id = v.id;
		UPDATE sanse.visit SET window_due = v.window_due, flags = v.flags WHERE id = twin AND v.window_due IS NOT NULL;
		DELETE FROM sanse.visit WHERE id = v.id;
		RETURN;
	END IF;

	IF v.window_due IS NOT NULL THEN
		INSERT INTO sanse.worker_month_pending (worker_id, month, windows_met)
		SELECT c.worker_id, sanse.month_of(v.window_due), -1 FROM unnest(sanse.carers_of(v.resident_id)) c(worker_id);
	END IF;
	UPDATE sanse.event SET visit_id = NULL WHERE event.visit_id = v.id;
	DELETE FROM sanse.visit WHERE id = v.id;
	prev := (SELECT max(x.at) FROM sanse.visit x WHERE x.resident_id = v.resident_id AND x.at < v.at);
	-- the anchor goes back when the latest visit is withdrawn (the owner may write it)
	UPDATE sanse.resident r SET last_visit_at = (SELECT max(x.at) FROM sanse.visit x WHERE x.resident_id = r.id)
	 WHERE r.id = v.resident_id AND r.last_visit_at IS DISTINCT FROM (SELECT max(x.at) FROM sanse.visit x WHERE x.resident_id = r.id);
	PERFORM sanse.rederive_span(v.resident_id,
		coalesce(prev, (SELECT r.registered_at FROM sanse.resident r WHERE r.id = v.resident_id)),
		(SELECT min(x.at) FROM sanse.visit x WHERE x.resident_id = v.resident_id AND x.at > v.at));
END
$$;

-- src/updates/1.2--1.3/50_conc.sql
-- Issue 18, locks and concurrency (conc): grant changes one at a time;
-- sanse's statements give up on a foreign lock after a bound, and the sweep
-- says who held it; one missed period, one overdue event.

-- Grant changes one at a time (90_area_grant.sql).
CREATE TABLE grant_lock ();
REVOKE ALL ON grant_lock FROM PUBLIC;
COMMENT ON TABLE grant_lock IS 'locked by the area_grant trigger until its transaction ends: grant changes one at a time; no rows, no grants';

CREATE OR REPLACE FUNCTION area_grant_privileges() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	r name;
	roles name[];
	best text;
	aggregate_views text := 'sanse.coverage, sanse.coverage_by_tier, sanse.overdue_events, sanse.grid_daily_report, sanse.loop_metrics, sanse.worker_checkin_rate, sanse.coverage_history';
	-- the district's structure has no row-level security: grant rows manage
	-- only SELECT on it (its writes are granted by hand)
	structure text := 'sanse.area, sanse.worker, sanse.department';
	read_relations text := 'sanse.carer, sanse.visit, sanse.event, sanse.event_step, '
	                       'sanse.event_transition, sanse.tier_history, sanse.open_events, sanse.worker_load, sanse.carer_gaps, sanse.sweep_status';
	resident_read_columns text;
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.area_grant'::regclass THEN
		RAISE EXCEPTION 'trigger function area_grant_privileges() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.area_grant.';
	END IF;
	-- one grant change at a time, to commit (see grant_lock); the queries
	-- below then see what the previous one committed
	LOCK TABLE sanse.grant_lock IN EXCLUSIVE MODE;
	SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO resident_read_columns
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = 'sanse.resident'::regclass AND a.attnum > 0 AND NOT a.attisdropped
	   AND a.attname NOT IN ('factors', 'lat', 'lon', 'id_number_hash', 'id_number');
	-- each branch names only the transition tables its event has
	IF TG_OP = 'INSERT' THEN
		roles := ARRAY(SELECT DISTINCT n.role FROM new_rows n);
	ELSIF TG_OP = 'DELETE' THEN
		roles := ARRAY(SELECT DISTINCT o.role FROM old_rows o);
	ELSE
		roles := ARRAY(SELECT n.role FROM new_rows n UNION SELECT o.role FROM old_rows o);
	END IF;
	FOREACH r IN ARRAY roles LOOP
		CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles x WHERE x.rolname = r);
		SELECT CASE max(CASE g.access WHEN 'care' THEN 3 WHEN 'read' THEN 2 ELSE 1 END)
		         WHEN 3 THEN 'care' WHEN 2 THEN 'read' WHEN 1 THEN 'aggregate' END
		  INTO best FROM sanse.area_grant g
		 WHERE g.role = r AND g.role_oid = (SELECT x.oid FROM pg_catalog.pg_roles x WHERE x.rolname = r);
		EXECUTE format('REVOKE ALL ON %s FROM %I', aggregate_views, r);
		EXECUTE format('REVOKE ALL ON %s FROM %I', read_relations, r);
		EXECUTE format('REVOKE SELECT ON %s FROM %I', structure, r);
		EXECUTE format('REVOKE ALL ON sanse.resident FROM %I', r);
		EXECUTE format('REVOKE ALL (%s, factors, lat, lon, id_number_hash, id_number) ON sanse.resident FROM %I',
		               resident_read_columns, r);
		IF best IS NOT NULL THEN
			EXECUTE format('GRANT SELECT ON %s TO %I', aggregate_views, r);
		END IF;
		IF best IN ('read', 'care') THEN
			EXECUTE format('GRANT SELECT ON %s TO %I', read_relations, r);
			EXECUTE format('GRANT SELECT ON %s TO %I', structure, r);
			EXECUTE format('GRANT SELECT (%s) ON sanse.resident TO %I', resident_read_columns, r);
		END IF;
		IF best = 'care' THEN
			EXECUTE format('GRANT SELECT, INSERT, UPDATE ON sanse.resident TO %I', r);
			EXECUTE format('GRANT INSERT, UPDATE, DELETE ON sanse.carer TO %I', r);
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;


-- One missed period, one event (60_events.sql, 75_sweeps.sql, rederive_span
-- and close_overdue_events in 65_check_in.sql).  Each overdue event keeps its
-- period's anchor: the visit (or registration) its window was derived from,
-- i.e. the latest visit before its due time.  Where a re-derived window left
-- two events for one period (both open, or closed by one visit), the first
-- one opened stays; the others go, and the tally takes each back from the
-- carers it was charged to.
ALTER TABLE event ADD COLUMN anchor_at timestamptz;
COMMENT ON COLUMN event.anchor_at IS 'an overdue event''s missed period: the visit (or registration) its window was derived from; one event a period';
UPDATE event e
   SET anchor_at = coalesce((SELECT max(v.at) FROM visit v WHERE v.resident_id = e.resident_id AND v.at < e.due_at),
                            (SELECT r.registered_at FROM resident r WHERE r.id = e.resident_id))
 WHERE e.kind = 'overdue';
-- the same period for certain: both still open, or closed by the same visit
DELETE FROM event e
 WHERE e.kind = 'overdue'
   AND EXISTS (SELECT 1 FROM event f
                WHERE f.resident_id = e.resident_id AND f.kind = 'overdue' AND f.anchor_at = e.anchor_at AND f.id < e.id
                  AND ((f.status = 'open' AND e.status = 'open') OR f.visit_id = e.visit_id))
   AND NOT EXISTS (SELECT 1 FROM event c WHERE c.parent_id = e.id);
-- any other pair whose anchor cannot be told apart from the visits (a
-- last_visit_at written by hand, a withdrawn visit): the later keeps no anchor
UPDATE event e SET anchor_at = NULL
 WHERE e.kind = 'overdue'
   AND EXISTS (SELECT 1 FROM event f
                WHERE f.resident_id = e.resident_id AND f.kind = 'overdue' AND f.anchor_at = e.anchor_at AND f.id < e.id);
CREATE UNIQUE INDEX event_overdue_period_once ON event (resident_id, anchor_at) WHERE kind = 'overdue';
-- (its body names the columns of event: re-created with the new one, unchanged)
CREATE OR REPLACE FUNCTION tally_missed(events event[], sign int) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	INSERT INTO sanse.worker_month_pending (worker_id, month, windows_missed)
	SELECT w.worker_id, sanse.month_of(e.due_at), tally_missed.sign
	  FROM unnest(tally_missed.events) e
	 CROSS JOIN LATERAL unnest(coalesce(e.charged_to, sanse.carers_of(e.resident_id))) w(worker_id)
	 WHERE e.kind = 'overdue';
END;


-- open_overdue_events and open_overdue_event take the anchor
DROP FUNCTION open_overdue_event(bigint, timestamptz, risk_tier);
DROP FUNCTION open_overdue_events(bigint[], timestamptz[], risk_tier[]);
CREATE FUNCTION open_overdue_events(p_residents bigint[], p_dues timestamptz[], p_tiers risk_tier[],
                                    p_anchors timestamptz[]) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
BEGIN
	WITH created AS (
		INSERT INTO sanse.event (resident_id, area_id, tier, level, assignee_id, due_at, level_since, next_step_at, charged_to, anchor_at)
		SELECT r.id, r.area_id, m.tier, 1, sanse.leader_for(r.area_id, 1), m.due, m.due,
		       sanse.zone_add(m.due, p.escalate_after), sanse.carers_of(r.id), m.anchor
		  FROM unnest(p_residents, p_dues, p_tiers, p_anchors) m(resident_id, due, tier, anchor)
		  JOIN sanse.resident r ON r.id = m.resident_id
		  JOIN sanse.tier_policy p ON p.tier = m.tier
		-- either unique index of overdue events: event_overdue_once (the
		-- window's) or event_overdue_period_once (the period's)
		ON CONFLICT DO NOTHING
		RETURNING id, assignee_id, level_since)
	INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
	SELECT id, 1, assignee_id, level_since FROM created;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

CREATE FUNCTION open_overdue_event(p_resident bigint, p_due timestamptz, p_tier risk_tier, p_anchor timestamptz) RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, sanse
RETURN sanse.open_overdue_events(ARRAY[p_resident], ARRAY[p_due], ARRAY[p_tier], ARRAY[p_anchor]);

CREATE OR REPLACE FUNCTION resident_keep_missed_window() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_keep_missed_window() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	IF sanse.due_at(OLD.next_visit) <= now() THEN
		PERFORM sanse.open_overdue_event(OLD.id, sanse.due_at(OLD.next_visit), OLD.tier,
		                                 coalesce(OLD.last_visit_at, OLD.registered_at));
	END IF;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION close_overdue_events(p_resident bigint, p_visit bigint, p_at timestamptz,
                                     p_worker bigint, p_late_due timestamptz) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
BEGIN
	IF p_late_due IS NOT NULL THEN
		-- the period the visit came late for began at the visit before it
		PERFORM sanse.open_overdue_event(p_resident, p_late_due, (SELECT r.tier FROM sanse.resident r WHERE r.id = p_resident),
			coalesce((SELECT max(v.at) FROM sanse.visit v WHERE v.resident_id = p_resident AND v.at < p_at),
			         (SELECT r.registered_at FROM sanse.resident r WHERE r.id = p_resident)));
	END IF;
	DELETE FROM sanse.event e
	 WHERE e.resident_id = p_resident AND e.status <> 'closed' AND e.kind = 'overdue' AND e.due_at > p_at;
	PERFORM sanse.escalate_events(p_at, p_resident);
	DELETE FROM sanse.event_step s USING sanse.event e
	 WHERE s.event_id = e.id AND e.resident_id = p_resident AND e.status <> 'closed' AND e.kind = 'overdue'
	   AND s.level > 1 AND s.at > p_at;
	UPDATE sanse.event e
	   SET (level, level_since, assignee_id) =
	       (SELECT s.level, s.at, s.assignee_id FROM sanse.event_step s
	         WHERE s.event_id = e.id ORDER BY s.level DESC LIMIT 1),
	       status = 'closed', resolved_at = p_at, visit_id = p_visit, closed_by = p_worker,
	       next_step_at = NULL
	 WHERE e.resident_id = p_resident AND e.status <> 'closed' AND e.kind = 'overdue';
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION sweep_overdue(at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	ids bigint[];
	dues timestamptz[];
	tiers sanse.risk_tier[];
	anchors timestamptz[];
BEGIN
	PERFORM sanse.check_sweep_time(at);
	-- Lock the due residents and open the event of each missed window once,
	-- unless its missed period has its event already (a window re-derived
	-- after it was missed: one missed period, one event).  A resident whose
	-- row another transaction holds (a check-in, a writer, or a role keeping
	-- its own town's rows locked) is skipped, not waited for: the next sweep
	-- opens its event with the same due time and steps, or a late check-in
	-- opens and closes it, so no town's row locks hold up another's events.
	SELECT array_agg(d.id), array_agg(d.due), array_agg(d.tier), array_agg(d.anchor) INTO ids, dues, tiers, anchors
	  FROM (SELECT r.id, r.tier, sanse.due_at(r.next_visit) AS due, coalesce(r.last_visit_at, r.registered_at) AS anchor
	          FROM sanse.resident r
	         WHERE r.active AND r.next_visit IS NOT NULL
	           AND sanse.due_at(r.next_visit) <= sweep_overdue.at
	           FOR NO KEY UPDATE OF r SKIP LOCKED) d
	 WHERE NOT EXISTS (SELECT 1 FROM sanse.event e
	                    WHERE e.resident_id = d.id AND e.kind = 'overdue'
	                      AND (e.due_at = d.due OR e.anchor_at = d.anchor));
	IF ids IS NULL THEN
		RETURN 0;
	END IF;
	RETURN sanse.open_overdue_events(ids, dues, tiers, anchors);
END
$$;

CREATE OR REPLACE FUNCTION rederive_span(p_resident bigint, p_from timestamptz, p_to timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	until timestamptz := coalesce(p_to, now());
	anchor timestamptz := p_from;
	anchor_missed boolean := false;	-- the anchor's period has its missed window
	cur_tier sanse.risk_tier := sanse.tier_at(p_resident, p_from);
	w sanse.visit_window;
	m record;
	ev record;
	closer record;
	carers bigint[] := sanse.carers_of(p_resident);
BEGIN
	IF pg_catalog.to_regclass('pg_temp.sanse_span_missed') IS NULL THEN
		CREATE TEMP TABLE sanse_span_missed (due timestamptz PRIMARY KEY, tier sanse.risk_tier, anchor timestamptz) ON COMMIT DROP;
		CREATE TEMP TABLE sanse_span_visit (id bigint PRIMARY KEY, window_due timestamptz, late boolean) ON COMMIT DROP;
	END IF;
	TRUNCATE sanse_span_missed, sanse_span_visit;

	-- walk the moments of the span: its visits (the first of each instant
	-- is the anchor), its tier changes, and its end
	FOR m IN
		SELECT x.at, x.visit_id, x.new_tier, x.is_visit
		  FROM (SELECT DISTINCT ON (v.at) v.at, v.id AS visit_id, NULL::sanse.risk_tier AS new_tier, true AS is_visit
		          FROM sanse.visit v
		         WHERE v.resident_id = p_resident AND v.at > p_from AND (p_to IS NULL OR v.at <= p_to)
		         ORDER BY v.at, v.id) x
		UNION ALL
		SELECT h.changed_at, NULL, h.new_tier, false
		  FROM sanse.tier_history h
		 WHERE h.resident_id = p_resident AND h.changed_at > p_from AND h.changed_at < until
		UNION ALL
		SELECT until, NULL, NULL, false WHERE p_to IS NULL
		ORDER BY 1, 4
	LOOP
		IF cur_tier IS NOT NULL THEN
			w := sanse.window_after(cur_tier, anchor);
			-- one missed period, one event: the first due time that passed
			-- after the anchor, whatever tier changes re-derive it to later
			IF sanse.due_at(w) <= m.at AND NOT anchor_missed THEN
				INSERT INTO sanse_span_missed VALUES (sanse.due_at(w), cur_tier, anchor) ON CONFLICT DO NOTHING;
				anchor_missed := true;
			END IF;
		END IF;
		IF m.is_visit THEN
			INSERT INTO sanse_span_visit VALUES (m.visit_id,
				CASE WHEN cur_tier IS NOT NULL AND w @> m.at THEN sanse.due_at(w) END,
				cur_tier IS NOT NULL AND m.at >= sanse.due_at(w));
			anchor := m.at;
			anchor_missed := false;
		ELSIF m.new_tier IS NOT NULL OR m.at < until THEN
			cur_tier := m.new_tier;
		END IF;
	END LOOP;

	-- events of the span that should not exist (a window met after all)
	DELETE FROM sanse.event e
	 WHERE e.resident_id = p_resident AND e.kind = 'overdue'
	   AND e.due_at > p_from AND (p_to IS NULL OR e.due_at <= p_to)
	   AND NOT EXISTS (SELECT 1 FROM sanse_span_missed s WHERE s.due = e.due_at);
	-- those that stay keep the period they were missed in (cleared first, so
	-- that anchors moving from one event to another never meet)
	UPDATE sanse.event e SET anchor_at = NULL
	  FROM sanse_span_missed s
	 WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = s.due
	   AND e.anchor_at IS DISTINCT FROM s.anchor;
	UPDATE sanse.event e SET anchor_at = s.anchor
	  FROM sanse_span_missed s
	 WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = s.due
	   AND e.anchor_at IS NULL;
	-- and those that should
	FOR ev IN SELECT s.due, s.tier, s.anchor FROM sanse_span_missed s ORDER BY s.due LOOP
		PERFORM sanse.open_overdue_event(p_resident, ev.due, ev.tier, ev.anchor);
		SELECT v.id, v.at INTO closer FROM sanse.visit v
		 WHERE v.resident_id = p_resident AND v.at >= ev.due AND (p_to IS NULL OR v.at <= p_to)
		 ORDER BY v.at, v.id LIMIT 1;
		IF closer.id IS NOT NULL THEN
			IF NOT EXISTS (SELECT 1 FROM sanse.event e
			                WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = ev.due
			                  AND e.status = 'closed' AND e.visit_id = closer.id AND e.resolved_at = closer.at) THEN
				PERFORM sanse.replay_event(e.id, closer.at, closer.id)
				   FROM sanse.event e WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = ev.due;
			END IF;
		ELSE
			-- still open: reopened ones climb again up to now; the sweep goes on
			PERFORM sanse.replay_event(e.id, until, NULL)
			   FROM sanse.event e
			  WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = ev.due AND e.status = 'closed';
		END IF;
	END LOOP;

	-- visits: which window each met, which came late; windows met are
	-- credited to (and taken back from) the current carers
	INSERT INTO sanse.worker_month_pending (worker_id, month, windows_met)
	SELECT c.worker_id, sanse.month_of(d.due), d.sign
	  FROM unnest(carers) c(worker_id), (SELECT v.window_due AS due, -1 AS sign FROM sanse.visit v JOIN sanse_span_visit s ON s.id = v.id
	         WHERE v.window_due IS DISTINCT FROM s.window_due AND v.window_due IS NOT NULL
	        UNION ALL
	        SELECT s.window_due, 1 FROM sanse.visit v JOIN sanse_span_visit s ON s.id = v.id
	         WHERE v.window_due IS DISTINCT FROM s.window_due AND s.window_due IS NOT NULL
	        UNION ALL
	        SELECT v.window_due, -1 FROM sanse.visit v
	         WHERE v.resident_id = p_resident AND v.window_due IS NOT NULL AND v.at > p_from
	           AND (p_to IS NULL OR v.at <= p_to)
	           AND NOT EXISTS (SELECT 1 FROM sanse_span_visit s WHERE s.id = v.id)) d;
	UPDATE sanse.visit v SET window_due = NULL
	 WHERE v.resident_id = p_resident AND v.window_due IS NOT NULL AND v.at > p_from
	   AND (p_to IS NULL OR v.at <= p_to)
	   AND v.window_due IS DISTINCT FROM (SELECT s.window_due FROM sanse_span_visit s WHERE s.id = v.id);
	UPDATE sanse.visit v SET window_due = s.window_due
	  FROM sanse_span_visit s
	 WHERE s.id = v.id AND s.window_due IS NOT NULL AND v.window_due IS DISTINCT FROM s.window_due;

	-- the late flag, and the flagged count of the visitor
	WITH changed AS (
		UPDATE sanse.visit v
		   SET flags = CASE WHEN s.late THEN array_append(v.flags, 'late') ELSE array_remove(v.flags, 'late') END
		  FROM sanse_span_visit s
		 WHERE s.id = v.id AND s.late <> ('late' = ANY (v.flags))
		RETURNING v.worker_id, v.at, v.flags, s.late)
	INSERT INTO sanse.worker_month_pending (worker_id, month, flagged_visits)
	SELECT c.worker_id, sanse.month_of(c.at), CASE WHEN c.late THEN 1 ELSE -1 END
	  FROM changed c
	 WHERE cardinality(c.flags) = CASE WHEN c.late THEN 1 ELSE 0 END;
END
$$;

-- Sanse's lock bound (75_sweeps.sql): check_in, the closed loop's functions
-- and the sweep give up a lock wait after 5 s with 55P03; the sweep gives up
-- only the phase, records the holder for sweep_status and audits it.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_act_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_act_check
	CHECK (act IN ('tier_override', 'rule_change', 'policy_change', 'grant_change',
	               'token_revocation', 'id_lookup', 'forget_resident', 'lock_timeout'));

CREATE OR REPLACE FUNCTION check_in(token text, worker_id bigint, at timestamptz DEFAULT now(),
                                    checklist text[] DEFAULT '{}', note text DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'check_in' LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, sanse SET lock_timeout = '5s';	-- sanse's lock bound (README)

CREATE TABLE sweep_lock_timeout (
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	phase text NOT NULL,
	holder_pid integer,
	holder name,
	relation text,
	mode text
);
CREATE INDEX sweep_lock_timeout_at ON sweep_lock_timeout (at);
REVOKE ALL ON sweep_lock_timeout FROM PUBLIC;
COMMENT ON TABLE sweep_lock_timeout IS 'each sweep phase that gave up waiting for a lock (lock_timeout): when, which phase, and the session that held it (login, pid, relation, mode)';

CREATE OR REPLACE FUNCTION lock_holders(OUT pid integer, OUT holder name, OUT relation text, OUT mode text)
RETURNS SETOF record
LANGUAGE sql STABLE SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT l.pid, a.usename, pg_catalog.format('%I.%I', 'sanse', c.relname), l.mode
	  FROM pg_catalog.pg_locks l
	  JOIN pg_catalog.pg_class c ON c.oid = l.relation
	  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
	 WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_catalog.pg_backend_pid()
	   AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
	   AND c.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = 'sanse')
	   AND c.relname <> 'sweep_lock'
	   AND (l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
	        OR (l.mode IN ('RowShareLock', 'RowExclusiveLock')
	            AND a.xact_start <= pg_catalog.clock_timestamp() - pg_catalog.current_setting('lock_timeout')::interval))
	 ORDER BY l.mode IN ('RowShareLock', 'RowExclusiveLock'), a.xact_start, l.pid, 3;
END;

REVOKE ALL ON FUNCTION lock_holders() FROM PUBLIC;
COMMENT ON FUNCTION lock_holders() IS 'sessions that may hold up sanse''s statements: locks on sanse''s tables in SHARE or stronger modes, then row-lock modes held longer than lock_timeout';

CREATE OR REPLACE FUNCTION sweep_gave_up(phase text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	h record;
	holders text;
BEGIN
	SELECT * INTO h FROM sanse.lock_holders() LIMIT 1;
	SELECT string_agg(format('%s (pid %s, %s on %s)', coalesce(x.holder::text, 'unknown login'), x.pid, x.mode, x.relation), '; ')
	  INTO holders FROM (SELECT * FROM sanse.lock_holders() LIMIT 5) x;
	INSERT INTO sanse.sweep_lock_timeout (phase, holder_pid, holder, relation, mode)
	VALUES (sweep_gave_up.phase, h.pid, h.holder, h.relation, h.mode);
	PERFORM sanse.audit('lock_timeout', '{}', NULL,
		format('sanse.sweep gave up %s after waiting %s for a lock held by %s', sweep_gave_up.phase,
		       pg_catalog.current_setting('lock_timeout'), coalesce(holders, 'a session that has let go since')));
	RAISE WARNING USING ERRCODE = '55P03',
		MESSAGE = format('sanse.sweep: %s gave up after waiting %s for a lock held by %s; left to the next sweep',
		                 sweep_gave_up.phase, pg_catalog.current_setting('lock_timeout'), coalesce(holders, 'a session that has let go since')),
		HINT = 'The holder is named in sanse.sweep_status and sanse.audit_log (act lock_timeout).';
END
$$;

REVOKE ALL ON FUNCTION sweep_gave_up(text) FROM PUBLIC;

CREATE OR REPLACE VIEW sweep_status AS
SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END AS sweeps_skipped,
       (SELECT l.pid FROM pg_catalog.pg_locks l
         WHERE l.locktype = 'relation' AND l.relation = 'sanse.sweep_lock'::regclass
           AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
           AND l.granted
         LIMIT 1) AS running_pid,
       (SELECT count(*) FROM sanse.sweep_lock_timeout) AS lock_timeouts,
       t.at AS last_lock_timeout_at, t.phase AS last_lock_phase, t.holder AS last_lock_holder,
       t.holder_pid AS last_lock_holder_pid, t.relation AS last_lock_relation, t.mode AS last_lock_mode
  FROM sanse.sweep_skipped s
  LEFT JOIN LATERAL (SELECT * FROM sanse.sweep_lock_timeout x ORDER BY x.at DESC LIMIT 1) t ON true;
COMMENT ON VIEW sweep_status IS 'sweeps skipped since install because another was running, the pid of the sweep running now, and how many sweep phases gave up waiting for a lock: the last one''s time, phase and holder (login, pid, table, mode)';


-- Sanse's lock bound (75_sweeps.sql) on the closed loop's functions, as on
-- check_in and sweep: a town's role that locks a table or holds rows holds
-- another town's call up for at most 5 s, which then fails with 55P03.
DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
	          WHERE p.pronamespace = 'sanse'::regnamespace
	            AND p.proname IN ('raise_event', 'dispatch_task', 'arrive', 'handle_event', 'whistle', 'feed_back', 'evaluate')
	          ORDER BY p.oid LOOP
		EXECUTE format('ALTER FUNCTION %s SET lock_timeout = %L', f, '5s');
	END LOOP;
END
$$;


-- src/updates/1.2--1.3/90_sweep.sql
-- sanse.sweep() as 75_sweeps.sql has it: it gained the publication of the
-- screen (30_cells) and the lock bound (50_conc), so it is replaced once, here,
-- after both concerns' objects exist.
CREATE OR REPLACE FUNCTION sweep(at timestamptz DEFAULT now(),
                                 OUT overdue_opened integer, OUT escalations integer, OUT skipped boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse SET lock_timeout = '5s' AS $$
DECLARE
	holder int;
BEGIN
	PERFORM sanse.check_sweep_time(at);
	overdue_opened := 0;
	escalations := 0;
	BEGIN
		LOCK TABLE sanse.sweep_lock IN EXCLUSIVE MODE NOWAIT;
	EXCEPTION WHEN lock_not_available THEN
		SELECT l.pid INTO holder FROM pg_catalog.pg_locks l
		 WHERE l.locktype = 'relation' AND l.relation = 'sanse.sweep_lock'::regclass AND l.granted
		   AND l.pid <> pg_catalog.pg_backend_pid()
		 LIMIT 1;
		PERFORM pg_catalog.nextval('sanse.sweep_skipped');
		RAISE WARNING 'sanse.sweep skipped: another sweep is running (pid %)', coalesce(holder::text, 'unknown')
			USING HINT = 'Skips are counted in sanse.sweep_status.';
		skipped := true;
		RETURN;
	END;
	BEGIN
		overdue_opened := sanse.sweep_overdue(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: overdue residents changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('overdue events');
	END;
	BEGIN
		escalations := sanse.sweep_escalations(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: open events changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('escalations');
	END;
	BEGIN
		PERFORM sanse.forget_expired(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: residents to forget changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('forgetting');
	END;
	BEGIN
		PERFORM sanse.fold_worker_month();
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: the check-in tally changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('tally fold');
	END;
	BEGIN
		PERFORM sanse.record_history(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: the daily history changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('daily history');
	END;
	-- the screen aggregate-only roles read (77_published.sql)
	BEGIN
		PERFORM sanse.publish_screen_if_due(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: the screen''s numbers changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('screen publication');
	END;
	skipped := false;
END
$$;
