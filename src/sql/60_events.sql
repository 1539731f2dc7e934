-----------------------------------------------------------------------------
-- Overdue events and the three-level backup (三级补位)
-----------------------------------------------------------------------------

-- Every kind of event climbs the same ladder.  Overdue events (section 5) are
-- open or closed; the closed loop's kinds (section 7) go through stages
-- called > arrived > handled > fed_back > closed, each stored with its time
-- and worker.  The loop's vocabularies are tables, one each, read by
-- everyone and written by the extension only: the value, its place in the
-- order and what it means (the catalog answers "what are the valid values?").
CREATE TABLE event_kind (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL
);
COMMENT ON TABLE event_kind IS 'vocabulary of event.kind: overdue (a missed visit), then the closed loop''s warning, finding, request, task';
GRANT SELECT ON event_kind TO PUBLIC;
INSERT INTO event_kind (value, position, meaning) VALUES
	('overdue', 1, 'a missed visit window (section 5): open until a visit closes it'),
	('warning', 2, 'a smart early warning: a sensor, a health monitor or the hotline'),
	('finding', 3, 'a problem a worker found at the door'),
	('request', 4, 'the resident or the family asked for help'),
	('task', 5, 'dispatched from above, or whistled for a department');

CREATE TABLE event_scale (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL,
	start_level smallint NOT NULL UNIQUE CHECK (start_level BETWEEN 1 AND 4)
);
COMMENT ON TABLE event_scale IS 'vocabulary of event.scale: small problems in the grid, big ones by departments, major ones by the task force; start_level is the level an event of the scale starts at';
GRANT SELECT ON event_scale TO PUBLIC;
INSERT INTO event_scale (value, position, meaning, start_level) VALUES
	('grid', 1, 'solved in the grid: starts with the micro-grid leader (level 1)', 1),
	('department', 2, 'solved by departments jointly: starts with the total-grid leader, who whistles for them (level 3)', 3),
	('task_force', 3, 'a major problem: starts with the district''s task force (level 4)', 4);

CREATE TABLE event_status (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL
);
COMMENT ON TABLE event_status IS 'vocabulary of event.status: open or closed for an overdue event, the closed loop''s stages for the other kinds (which may follow which: sanse.loop_move)';
GRANT SELECT ON event_status TO PUBLIC;
INSERT INTO event_status (value, position, meaning) VALUES
	('open', 1, 'an overdue event not yet closed by a visit'),
	('called', 2, 'a loop event waiting for a worker to arrive (呼叫); its arrival clock runs (loop_policy.arrive_within)'),
	('arrived', 3, 'a worker reported in (报到); its handling clock runs (loop_policy.handle_within)'),
	('handled', 4, 'handled (处置); no clock runs'),
	('fed_back', 5, 'the outcome was fed back (反馈) and waits for an evaluation'),
	('closed', 6, 'closed: an overdue event by a visit, a loop event by its evaluation (评价)');

-- The readers of the kinds and scales, in their order.
CREATE OR REPLACE FUNCTION event_kinds() RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE
RETURN (SELECT array_agg(k.value ORDER BY k.position) FROM sanse.event_kind k);
COMMENT ON FUNCTION event_kinds() IS 'event kinds (the values of sanse.event_kind in order): overdue (a missed visit), then the closed loop''s warning, finding, request, task';
CREATE OR REPLACE FUNCTION event_scales() RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE
RETURN (SELECT array_agg(s.value ORDER BY s.position) FROM sanse.event_scale s);
COMMENT ON FUNCTION event_scales() IS 'event scales (the values of sanse.event_scale in order), starting at level 1, 3 and 4';

CREATE TABLE event (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	resident_id bigint REFERENCES resident (id),
	area_id bigint NOT NULL REFERENCES area (id),
	kind text NOT NULL DEFAULT 'overdue' REFERENCES event_kind (value),
	status text NOT NULL DEFAULT 'open' REFERENCES event_status (value),
	tier risk_tier,
	level smallint NOT NULL DEFAULT 1 CHECK (level BETWEEN 1 AND 4),
	assignee_id bigint REFERENCES worker (id),
	due_at timestamptz NOT NULL,
	level_since timestamptz NOT NULL,
	next_step_at timestamptz,
	resolved_at timestamptz,
	visit_id bigint REFERENCES visit (id),
	closed_by bigint REFERENCES worker (id),
	created_at timestamptz NOT NULL DEFAULT now(),
	charged_to bigint[],
	scale text NOT NULL DEFAULT 'grid' REFERENCES event_scale (value),
	parent_id bigint REFERENCES event (id),
	department text REFERENCES department (code),
	detail text CONSTRAINT event_detail_length CHECK (length(detail) <= @SANSE_FREE_TEXT_MAX@),
	raised_by bigint REFERENCES worker (id),
	called_at timestamptz,
	arrived_at timestamptz,
	arrived_by bigint REFERENCES worker (id),
	handled_at timestamptz,
	handled_by bigint REFERENCES worker (id),
	action text CONSTRAINT event_action_length CHECK (length(action) <= @SANSE_FREE_TEXT_MAX@),
	fed_back_at timestamptz,
	fed_back_by bigint REFERENCES worker (id),
	feedback text CONSTRAINT event_feedback_length CHECK (length(feedback) <= @SANSE_FREE_TEXT_MAX@),
	rating smallint,
	solved boolean,
	evaluated_by text,
	reopened int NOT NULL DEFAULT 0,
	first_called_at timestamptz,	-- the loop's retry key (62_loop.sql)
	anchor_at timestamptz,
	CHECK ((status = 'closed') = (resolved_at IS NOT NULL)),
	CONSTRAINT event_open_has_clock CHECK (status IN ('closed', 'handled', 'fed_back') OR level = 4 OR next_step_at IS NOT NULL),
	CONSTRAINT event_overdue_is_a_missed_window CHECK (kind <> 'overdue'
		OR (resident_id IS NOT NULL AND tier IS NOT NULL AND status IN ('open', 'closed'))),
	CONSTRAINT event_loop_stages CHECK (kind = 'overdue' OR (status <> 'open' AND called_at IS NOT NULL))
);
CREATE UNIQUE INDEX event_overdue_once ON event (resident_id, due_at) WHERE kind = 'overdue';
-- One missed period, one event: every window until the next visit is
-- derived from the same anchor (the last visit, or registration) — a tier
-- override, a change of the tier's cadence or of the classification moves its
-- due time, never the period missed.  An overdue event keeps its period's
-- anchor, and a period has one: the event of the first due time that passed.
CREATE UNIQUE INDEX event_overdue_period_once ON event (resident_id, anchor_at) WHERE kind = 'overdue';
CREATE INDEX event_open_next_step ON event (next_step_at) WHERE status <> 'closed';
CREATE INDEX event_area_due ON event (area_id, due_at);
CREATE INDEX event_parent ON event (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX event_assignee ON event (assignee_id);
CREATE INDEX event_called_at ON event (called_at) WHERE kind <> 'overdue';
COMMENT ON TABLE event IS 'events escalating micro grid > general grid > total grid > task force: overdue (one per missed window) and the closed loop''s warnings, findings, requests and tasks';
COMMENT ON COLUMN event.level_since IS 'logical time the current level was reached (derived from due_at and escalate_after)';
COMMENT ON COLUMN event.next_step_at IS 'logical time of the next escalation step while open';
COMMENT ON COLUMN event.anchor_at IS 'an overdue event''s missed period: the visit (or registration) its window was derived from; one event a period';
COMMENT ON COLUMN event.charged_to IS 'the resident''s carers when the window was missed: the workers whose check-in rate it counts against';

CREATE TABLE event_step (
	event_id bigint NOT NULL REFERENCES event (id) ON DELETE CASCADE,
	level smallint NOT NULL CHECK (level BETWEEN 1 AND 4),
	assignee_id bigint REFERENCES worker (id),
	at timestamptz NOT NULL,
	PRIMARY KEY (event_id, level, at)
);
COMMENT ON TABLE event_step IS 'every escalation step of an event: level, assignee and logical time';

CREATE OR REPLACE FUNCTION zone_add(t timestamptz, i interval) RETURNS timestamptz
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION zone_add(timestamptz, interval) IS 't + i with calendar parts counted in zone sanse.timezone';

-- The leader responsible at an escalation level for a resident in micro grid area_id.
-- PL/pgSQL, so its plan is kept for the session (a SQL function is planned
-- again on every call of the statement that calls it): ltree's operators
-- through the sanse.path_* wrappers, inlined where the query is planned.
-- One plan serves every area and level (three index probes), also when the
-- caller plans its own statements for each call (escalate_events).
CREATE OR REPLACE FUNCTION leader_for(area_id bigint, level int) RETURNS bigint
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, sanse SET plan_cache_mode = force_generic_plan AS $$
BEGIN
	RETURN (SELECT w.id
	          FROM sanse.area m, sanse.area a, sanse.worker w
	         WHERE m.id = leader_for.area_id
	           AND sanse.path_equals(a.path, sanse.path_ancestor(m.path, CASE leader_for.level WHEN 4 THEN 1
	                                                                      ELSE sanse.path_depth(m.path) - leader_for.level + 1 END))
	           AND w.area_id = a.id AND w.active
	           AND w.role = (sanse.worker_roles())[leader_for.level + 1]
	         ORDER BY w.id
	         LIMIT 1);
END
$$;
COMMENT ON FUNCTION leader_for(bigint, int) IS 'lowest-id active leader of a micro grid''s level: 1 micro grid, 2 general grid, 3 total grid, 4 task force of the district';

-- The closed loop's clocks (spec 7): how long an event of a kind may stay
-- called (arrive_within) and arrived (handle_within) before it climbs a
-- level.  The row with tier NULL serves events without a resident and tiers
-- without a row of their own.
CREATE TABLE loop_policy (
	kind text NOT NULL REFERENCES event_kind (value) CHECK (kind <> 'overdue'),
	tier risk_tier,
	arrive_within interval NOT NULL CHECK (arrive_within > interval '0'),
	handle_within interval NOT NULL CHECK (handle_within > interval '0'),
	CONSTRAINT loop_policy_once UNIQUE NULLS NOT DISTINCT (kind, tier)
);
COMMENT ON TABLE loop_policy IS 'closed-loop clocks per kind and tier (NULL: events without a resident, and the default): arrive within, handle within';
GRANT SELECT ON loop_policy TO PUBLIC;
INSERT INTO loop_policy (kind, tier, arrive_within, handle_within) VALUES
	('warning', NULL, '15 minutes', '2 hours'),
	('warning', 'red', '15 minutes', '2 hours'),
	('warning', 'yellow', '15 minutes', '2 hours'),
	('warning', 'blue', '15 minutes', '2 hours'),
	('request', NULL, '2 hours', '1 day'),
	('request', 'red', '30 minutes', '4 hours'),
	('finding', NULL, '1 day', '3 days'),
	('task', NULL, '1 day', '3 days');
SELECT pg_catalog.pg_extension_config_dump('loop_policy', '');

-- The interval between an event's escalation steps on its current clock:
-- an overdue event's tier's escalate_after; a loop event's arrive_within
-- while called, handle_within once arrived; none after handling.
CREATE OR REPLACE FUNCTION step_interval(kind text, tier risk_tier, status text) RETURNS interval
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
BEGIN
	IF kind = 'overdue' THEN
		RETURN (SELECT p.escalate_after FROM sanse.tier_policy p WHERE p.tier = tier);
	ELSIF status = 'called' THEN
		RETURN (SELECT l.arrive_within FROM sanse.loop_policy l
		         WHERE l.kind = kind AND (l.tier = tier OR l.tier IS NULL)
		         ORDER BY l.tier IS NULL LIMIT 1);
	ELSIF status = 'arrived' THEN
		RETURN (SELECT l.handle_within FROM sanse.loop_policy l
		         WHERE l.kind = kind AND (l.tier = tier OR l.tier IS NULL)
		         ORDER BY l.tier IS NULL LIMIT 1);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION step_interval(text, risk_tier, text) IS 'interval between escalation steps on an event''s current clock (NULL: no clock)';

-- Apply every escalation step due by p_at (optionally for one resident, or
-- one event), each at its logical time; returns the number of steps.
-- Set-based (a catch-up sweep meets tens of thousands of lapsed clocks): one
-- statement per batch of at most 5,000 events (oldest clock first, locked
-- FOR UPDATE so a concurrent change is seen) takes every step each is due by
-- p_at at once: the clock's interval once per (kind, tier, status), the step
-- times from it (levels climb to 4, so at most three), the leaders once per
-- (area, level).  Planned for each call's values (force_custom_plan), so the
-- one statement serves the sweep (every open event) and a check-in (one
-- resident's) alike: a generic plan cannot drop the "p_resident IS NULL OR" branch.
-- The leaders are found through the area hierarchy in the statement (what
-- leader_for answers, without a function call per area and level).  With
-- p_until (sanse.sweep) no batch starts after that time: the rest is left to
-- the next sweep.
CREATE OR REPLACE FUNCTION escalate_events(p_at timestamptz, p_resident bigint DEFAULT NULL, p_event bigint DEFAULT NULL,
                                           p_until timestamptz DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET plan_cache_mode = force_custom_plan AS $$
DECLARE
	n int;
	total int := 0;
	batch int := CASE WHEN p_until IS NULL THEN 5000 ELSE sanse.sweep_batch() END;
BEGIN
	LOOP
		WITH due AS MATERIALIZED (
			SELECT e.id, e.area_id, e.level, e.next_step_at, e.kind, e.tier, e.status
			  FROM sanse.event e
			 WHERE e.status <> 'closed' AND e.next_step_at <= p_at	-- handled events have no clock
			   AND (p_resident IS NULL OR e.resident_id = p_resident)
			   AND (p_event IS NULL OR e.id = p_event)
			 ORDER BY e.next_step_at, e.id
			 LIMIT batch
			   FOR UPDATE OF e),
		clock AS MATERIALIZED (
			SELECT k.kind, k.tier, k.status, sanse.step_interval(k.kind, k.tier, k.status) AS every
			  FROM (SELECT DISTINCT d.kind, d.tier, d.status FROM due d) k),
		times AS MATERIALIZED (	-- the event's next three clock times: t[j] is step j's
			SELECT d.id, d.area_id, d.level, ARRAY[d.next_step_at, t2, sanse.zone_add(t2, c.every)] AS t
			  FROM due d
			  JOIN clock c ON c.kind = d.kind AND c.tier IS NOT DISTINCT FROM d.tier AND c.status = d.status
			 CROSS JOIN LATERAL (SELECT sanse.zone_add(d.next_step_at, c.every) AS t2) x),
		steps AS MATERIALIZED (
			SELECT m.id, m.area_id, (m.level + j)::smallint AS level, m.t[j] AS at, j,
			       CASE WHEN m.level + j < 4 THEN m.t[j + 1] END AS next_at
			  FROM times m
			 CROSS JOIN LATERAL generate_series(1, 4 - m.level) j
			 WHERE m.t[j] <= p_at),
		ladder AS MATERIALIZED (	-- each (area, level) stepped to: the area whose leader it is
			SELECT p.area_id, p.level, a.id AS lead_area
			  FROM (SELECT DISTINCT s.area_id, s.level FROM steps s) p
			  JOIN sanse.area m ON m.id = p.area_id
			  LEFT JOIN sanse.area a
			    ON sanse.path_equals(a.path, sanse.path_ancestor(m.path, CASE p.level WHEN 4 THEN 1
			                                                         ELSE sanse.path_depth(m.path) - p.level + 1 END))),
		leaders AS MATERIALIZED (	-- leader_for's answer, once per area and level
			SELECT l.area_id, l.level,
			       (SELECT w.id FROM sanse.worker w
			         WHERE w.area_id = l.lead_area AND w.active AND w.role = (sanse.worker_roles())[l.level + 1]
			         ORDER BY w.id LIMIT 1) AS leader
			  FROM ladder l),
		placed AS (
			SELECT s.*, l.leader FROM steps s JOIN leaders l USING (area_id, level)),
		stepped AS (
			UPDATE sanse.event e
			   SET level = p.level, level_since = p.at, assignee_id = p.leader, next_step_at = p.next_at
			  FROM (SELECT DISTINCT ON (id) * FROM placed ORDER BY id, j DESC) p
			 WHERE e.id = p.id)
		INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
		SELECT id, level, leader, at FROM placed ORDER BY j, id;
		GET DIAGNOSTICS n = ROW_COUNT;
		EXIT WHEN n = 0;
		total := total + n;
		-- a bounded sweep (sanse.sweep) starts no batch after p_until
		EXIT WHEN pg_catalog.clock_timestamp() >= p_until;
	END LOOP;
	RETURN total;
END
$$;

-- Open the overdue event of each (resident, due, tier whose window was
-- missed, anchor the window was derived from) at level 1 unless it exists, or
-- unless the period of that anchor has its event already (its window
-- re-derived since: event_overdue_period_once); the one place events are
-- created.  Events are charged to the carers of the moment they are opened.
CREATE OR REPLACE FUNCTION open_overdue_events(p_residents bigint[], p_dues timestamptz[], p_tiers risk_tier[],
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

CREATE OR REPLACE FUNCTION open_overdue_event(p_resident bigint, p_due timestamptz, p_tier risk_tier, p_anchor timestamptz) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	RETURN sanse.open_overdue_events(ARRAY[p_resident], ARRAY[p_due], ARRAY[p_tier], ARRAY[p_anchor]);
END
$$;

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
CREATE TRIGGER resident_keep_missed_window AFTER UPDATE ON resident
	FOR EACH ROW
	WHEN (OLD.next_visit IS NOT NULL AND OLD.next_visit IS DISTINCT FROM NEW.next_visit
	      AND OLD.last_visit_at IS NOT DISTINCT FROM NEW.last_visit_at)
	EXECUTE FUNCTION resident_keep_missed_window();

CREATE INDEX event_due_at ON event (due_at);
CREATE INDEX event_closed_at ON event (resolved_at) WHERE status = 'closed';
CREATE INDEX event_area_closed_at ON event (area_id, resolved_at) WHERE status = 'closed';
-- Replay one overdue event's escalation from its due time up to p_until and,
-- with a visit, close it there (the level its schedule had reached then).
CREATE OR REPLACE FUNCTION replay_event(p_event bigint, p_until timestamptz, p_visit bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	e sanse.event;
	esc interval;
	visitor bigint;
BEGIN
	SELECT * INTO e FROM sanse.event WHERE id = p_event FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'event % does not exist', p_event USING ERRCODE = '22023';
	END IF;
	SELECT p.escalate_after INTO esc FROM sanse.tier_policy p WHERE p.tier = e.tier;
	DELETE FROM sanse.event_step s WHERE s.event_id = p_event AND s.level > 1;
	e.level := 1;
	e.level_since := e.due_at;
	e.assignee_id := (SELECT s.assignee_id FROM sanse.event_step s WHERE s.event_id = p_event AND s.level = 1);
	e.next_step_at := sanse.zone_add(e.due_at, esc);
	WHILE e.level < 4 AND e.next_step_at <= p_until LOOP
		e.level := e.level + 1;
		e.level_since := e.next_step_at;
		e.assignee_id := sanse.leader_for(e.area_id, e.level);
		INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
		VALUES (p_event, e.level, e.assignee_id, e.level_since);
		e.next_step_at := CASE WHEN e.level < 4 THEN sanse.zone_add(e.level_since, esc) END;
	END LOOP;
	IF p_visit IS NULL THEN
		UPDATE sanse.event
		   SET level = e.level, level_since = e.level_since, assignee_id = e.assignee_id,
		       next_step_at = CASE WHEN e.level < 4 THEN e.next_step_at END,
		       status = 'open', resolved_at = NULL, visit_id = NULL, closed_by = NULL
		 WHERE id = p_event;
	ELSE
		SELECT v.worker_id INTO visitor FROM sanse.visit v WHERE v.id = p_visit;
		UPDATE sanse.event
		   SET level = e.level, level_since = e.level_since, assignee_id = e.assignee_id,
		       next_step_at = NULL, status = 'closed', resolved_at = p_until, visit_id = p_visit,
		       closed_by = visitor
		 WHERE id = p_event;
	END IF;
END
$$;

SELECT pg_catalog.pg_extension_config_dump('event', '');
SELECT pg_catalog.pg_extension_config_dump('event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('event_step', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON event FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON event_step FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
REVOKE ALL ON FUNCTION resident_keep_missed_window() FROM PUBLIC;
REVOKE ALL ON FUNCTION replay_event(bigint, timestamptz, bigint) FROM PUBLIC;
