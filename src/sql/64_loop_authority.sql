-----------------------------------------------------------------------------
-- Who may act on a loop event, and when (spec 7): a transition's time
-- (22008); the workers a calling role may name (acts_for); the workers who
-- may act on an event (may_act, 42501 otherwise); and who may not evaluate
-- it, having taken part in its round (loop_took_part).  Raising an event
-- (63_loop_calls.sql) asks the first two, every transition (62_loop.sql)
-- all of them.  Run only inside those (search_path pinned there), with every
-- name schema-qualified: no SET search_path of their own.
-----------------------------------------------------------------------------

-- A loop transition's time (spec 7, 22008): given and finite, at most 5
-- minutes ahead of the server clock, at most sanse.max_backdate behind it
-- (as a check-in), and not before the stage it follows (since).  True once
-- it passes: called as an expression, it costs no statement of its own.
CREATE OR REPLACE FUNCTION loop_time(at timestamptz, what text, since timestamptz DEFAULT NULL, since_what text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql AS $$
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
	RETURN true;
END
$$;

-- May the calling role name this worker (spec 7)?  A worker bound to a
-- db_role only as that role (the role acting, or a member of it); an unbound
-- worker only inside the caller's care subtree.
CREATE OR REPLACE FUNCTION acts_for(p_worker bigint) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
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
-- area, or staff of a department whistled for it.  One query (acts_for's
-- test is asked of the same worker row), written once as a set-returning
-- SQL function the planner inlines into the statement that reads it (one
-- SELECT, STABLE, no SET, not SECURITY DEFINER, not STRICT): may_act asks
-- it, and so does the hot path of arrive and handle_event (src/loop_path.c),
-- planned once with its statement.  No row: no such event or worker.
CREATE OR REPLACE FUNCTION loop_may_act(p_event bigint, p_worker bigint) RETURNS TABLE (may boolean)
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN w.db_role IS NULL THEN sanse.caller_sees(w.area_id, 'care')
	            WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = w.db_role) THEN false
	            ELSE pg_catalog.pg_has_role(sanse.acting_role(), w.db_role, 'MEMBER') END
	       AND coalesce(
	       w.active
	       AND ((e.resident_id IS NOT NULL
	             AND EXISTS (SELECT 1 FROM sanse.carer c WHERE c.resident_id = e.resident_id AND c.worker_id = w.id))
	            OR (w.role <> 'member' AND sanse.path_contains(wa.path, ea.path))
	            OR (w.department IS NOT NULL
	                AND (e.department = w.department
	                     OR EXISTS (SELECT 1 FROM sanse.event c WHERE c.parent_id = e.id AND c.department = w.department)))),
	       false)
	  FROM sanse.event e
	  JOIN sanse.area ea ON ea.id = e.area_id
	  JOIN sanse.worker w ON w.id = p_worker
	  JOIN sanse.area wa ON wa.id = w.area_id
	 WHERE e.id = p_event
$$;

-- (PL/pgSQL so its plan is kept for the session: a transition calls it once.)
CREATE OR REPLACE FUNCTION may_act(p_event bigint, p_worker bigint) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN coalesce((SELECT m.may FROM sanse.loop_may_act(p_event, p_worker) m), false);
END
$$;

-- A worker who may not act on the event (42501).
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
LANGUAGE plpgsql STABLE AS $$
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

REVOKE ALL ON FUNCTION acts_for(bigint), may_act(bigint, bigint), loop_may_act(bigint, bigint), loop_refuse_worker(event, bigint, text), loop_took_part(event, text) FROM PUBLIC;
