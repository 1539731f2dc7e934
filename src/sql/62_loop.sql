-----------------------------------------------------------------------------
-- The closed loop (闭环处置, spec 7): warnings, findings, requests and tasks
-- go call > arrive > handle > feed back > evaluate.  Every transition of an
-- event is one function, sanse.loop_transition, which does the move the
-- table sanse.loop_move allows (61_loop_stages.sql); arrive, handle_event,
-- whistle, feed_back and evaluate are its pinned names.  They run as the
-- owner (granted to the app, not to PUBLIC), refuse a wrong stage (55000), a
-- worker who may not act (42501), a time ahead of the clock (22008) and
-- unknown values (22023), and take a retry of the same transition (same
-- worker, same time) as done.  The clocks are the events' escalation steps:
-- sanse.sweep climbs them at logical times.  The helpers of the loop (here,
-- in 63_loop_calls.sql and 64_loop_authority.sql) run only inside the
-- pinned functions, whose search_path is pinned, and name everything by its
-- schema: they carry no SET of their own, which would cost every call
-- (2-6 us each, measured; together several per cent of a transition).
-----------------------------------------------------------------------------

-- The event to move, locked.  Outside the calling role's care subtree it
-- does not exist (22023, the words of an id that names nothing, so nothing
-- tells an event elsewhere, its kind or its stage); a missed visit the caller
-- may see is refused (a visit closes those).  Its resident is locked first
-- (FOR SHARE, in the order forget_resident takes resident and events), so a
-- forgetting waits for the transition or the transition for the forgetting,
-- and a forgotten resident's event takes none (55000).
CREATE OR REPLACE FUNCTION loop_event(p_event bigint) RETURNS event
LANGUAGE plpgsql AS $$
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

-- A move the event's stage does not allow (55000), naming the stages it is
-- allowed from (sanse.loop_move); a stage that is no move at all (22023).
CREATE OR REPLACE FUNCTION loop_refuse_stage(e event, p_stage text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
	wanted text;
	done text;
BEGIN
	SELECT string_agg(m.from_status, ' or ' ORDER BY f.position), min(s.done) INTO wanted, done
	  FROM sanse.loop_move m
	  JOIN sanse.event_status f ON f.value = m.from_status
	  JOIN sanse.loop_stage s ON s.value = m.stage
	 WHERE m.stage = p_stage;
	IF wanted IS NULL THEN
		RAISE EXCEPTION 'unknown loop transition "%"', coalesce(p_stage, 'NULL')
			USING ERRCODE = '22023', HINT = 'The transitions of an event are the stages of sanse.loop_move with a from_status.';
	END IF;
	RAISE EXCEPTION 'event % is %, so it cannot be %', e.id, e.status, done
		USING ERRCODE = '55000', DETAIL = format('Only an event that is %s can be %s.', wanted, done);
END
$$;

-- End the current clock at p_at: the steps due by then are reached, whether
-- or not a sweep took them; those dated after it never happened (an arrival
-- or handling synced late) and are removed.  The last step left is the
-- level reached at that time (level, assignee_id, at); removed names the
-- steps removed ('L2 <time>, ...'; NULL for none).  One statement removes
-- them and reads the last step left (its sub-select sees the rows as they
-- were, so it leaves out those the DELETE takes).  (e is the event as
-- locked: no step due by p_at, nothing to climb.)
CREATE OR REPLACE FUNCTION loop_end_clock(e event, p_since timestamptz, p_at timestamptz,
                                          OUT level smallint, OUT assignee_id bigint, OUT at timestamptz, OUT removed text)
LANGUAGE plpgsql AS $$
BEGIN
	IF e.next_step_at <= p_at THEN
		PERFORM sanse.escalate_events(p_at, NULL, e.id);
	END IF;
	WITH gone AS (
		DELETE FROM sanse.event_step s WHERE s.event_id = e.id AND s.at > p_at AND s.at > p_since
		RETURNING s.level, s.at),
	kept AS (
		SELECT s.level, s.assignee_id, s.at FROM sanse.event_step s
		 WHERE s.event_id = e.id AND (s.at > p_at AND s.at > p_since) IS NOT TRUE
		 ORDER BY s.at DESC, s.level DESC LIMIT 1)
	SELECT l.level, l.assignee_id, l.at,
	       (SELECT string_agg(format('L%s %s', g.level, g.at), ', ' ORDER BY g.at, g.level) FROM gone g)
	  INTO level, assignee_id, at, removed
	  FROM (SELECT 1) one LEFT JOIN kept l ON true;
END
$$;

-- What a retry proves again as the first call did, before it is taken as
-- done: an arrival at a resident's door its token (28000), a whistle its
-- department (22023), an evaluation that the caller took no part in the
-- round (42501).
CREATE OR REPLACE FUNCTION loop_check_standing(e event, st loop_stage, p_worker bigint, p_token text, p_note text, p_by text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	token_nonce bytea;
	t record;
BEGIN
	IF st.value = 'arrived' AND e.resident_id IS NOT NULL THEN
		token_nonce := sanse.door_token_verify(p_token, p_worker, 'arrival');
		SELECT d.resident_id, d.revoked_at INTO t FROM sanse.door_token d WHERE d.nonce = token_nonce;
		IF NOT FOUND THEN
			PERFORM sanse.door_token_refuse(p_worker, 'unknown', 'arrival');
		ELSIF t.revoked_at IS NOT NULL THEN
			PERFORM sanse.door_token_refuse(p_worker, 'revoked', 'arrival');
		ELSIF t.resident_id <> e.resident_id THEN
			PERFORM sanse.door_token_refuse(p_worker, 'for another door', 'arrival');
		END IF;
	ELSIF st.value = 'whistled' AND (p_note IS NULL OR NOT EXISTS (SELECT 1 FROM sanse.department d WHERE d.code = p_note)) THEN
		RAISE EXCEPTION 'unknown department "%"', coalesce(p_note, 'NULL')
			USING ERRCODE = '22023', HINT = 'Departments are the rows of sanse.department.';
	ELSIF st.value = 'still_here' AND NOT EXISTS (SELECT 1 FROM sanse.feed_departure d
	                                              WHERE d.event_id = e.id AND d.confirmed_at IS NULL) THEN
		RAISE EXCEPTION 'event % is not a departure a department reported', e.id
			USING ERRCODE = '55000', HINT = 'Only the task that confirms a reported departure can be answered "still here".';
	ELSIF NOT st.by_worker AND sanse.loop_took_part(e, p_by) THEN
		RAISE EXCEPTION 'whoever arrived at or handled event % may not evaluate it', e.id
			USING ERRCODE = '42501',
			      DETAIL = 'Neither the role that arrived or handled (for a resident''s evaluation, or fed back), nor a member of it, nor a login that may act as it, evaluates.';
	END IF;
	RETURN true;
END
$$;

-- Is this the retry of a transition done already (the same worker at the
-- same time; an evaluation with the same words)?  The event it made (the
-- whistled child), or NULL.
CREATE OR REPLACE FUNCTION loop_done_already(e event, st loop_stage, p_worker bigint, p_at timestamptz, p_note text)
RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF NOT st.by_worker THEN
		RETURN (SELECT e.id WHERE EXISTS (
			SELECT 1 FROM sanse.event_transition t JOIN sanse.loop_stage s ON s.value = t.stage AND NOT s.by_worker
			 WHERE t.event_id = e.id AND t.at = p_at AND t.note IS NOT DISTINCT FROM p_note));
	ELSIF st.value = 'whistled' THEN
		-- the parent's lock orders them
		RETURN (SELECT c.id FROM sanse.event c
		         WHERE c.parent_id = e.id AND c.department = p_note AND c.first_called_at = p_at
		           AND c.raised_by IS NOT DISTINCT FROM p_worker
		         ORDER BY c.id LIMIT 1);
	END IF;
	RETURN CASE WHEN CASE st.value WHEN 'arrived' THEN e.arrived_at = p_at AND e.arrived_by IS NOT DISTINCT FROM p_worker
	                               WHEN 'still_here' THEN e.status = 'closed' AND e.handled_at = p_at AND e.handled_by IS NOT DISTINCT FROM p_worker
	                               WHEN 'handled' THEN e.handled_at = p_at AND e.handled_by IS NOT DISTINCT FROM p_worker
	                               WHEN 'fed_back' THEN e.fed_back_at = p_at AND e.fed_back_by IS NOT DISTINCT FROM p_worker END
	            THEN e.id END;
END
$$;

-- The values a transition carries: an evaluation's rating (1-5), whether
-- it was solved and by whom (22023); its text within free_text_max() characters (22001).
CREATE OR REPLACE FUNCTION loop_check_values(st loop_stage, p_note text, p_rating integer, p_solved boolean, p_by text)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF NOT st.by_worker THEN
		IF p_rating IS NULL OR p_rating NOT BETWEEN 1 AND 5 THEN
			RAISE EXCEPTION 'rating % is not between 1 and 5', coalesce(p_rating::text, 'NULL') USING ERRCODE = '22023';
		END IF;
		IF p_solved IS NULL THEN
			RAISE EXCEPTION 'say whether the problem was solved' USING ERRCODE = '22023';
		END IF;
		IF p_by IS NULL OR p_by NOT IN ('resident', 'supervisor') THEN
			RAISE EXCEPTION 'an evaluation is by resident or supervisor, not "%"', coalesce(p_by, 'NULL') USING ERRCODE = '22023';
		END IF;
	END IF;
	IF p_note IS NOT NULL THEN	-- (NULL passes)
		PERFORM sanse.check_free_text(p_note, st.note_is);
	END IF;
	RETURN true;
END
$$;

-- One transition of a loop event (spec 7): the event locked, inside the
-- caller's care; the caller's standing; a retry taken as done; the move
-- sanse.loop_move allows from the event's status (55000 otherwise); its
-- values; its time, not ahead of the clock nor before the stage it follows
-- (22008); the named worker (42501); then the clocks the move ends and
-- starts, and the transition appended.  Returns the event (a whistle: the
-- child event it called).
CREATE OR REPLACE FUNCTION loop_transition(p_event bigint, p_stage text, p_worker bigint, p_at timestamptz,
                                           p_note text DEFAULT NULL, p_token text DEFAULT NULL, p_rating integer DEFAULT NULL,
                                           p_solved boolean DEFAULT NULL, p_by text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	st sanse.loop_stage;
	m sanse.loop_move;
	e sanse.event;
	note text := p_note;	-- the transition's
	done bigint;
	since timestamptz;
	ok boolean;	-- the checks are called as expressions (no statement of their own)
BEGIN
	SELECT * INTO st FROM sanse.loop_stage s WHERE s.value = p_stage;
	e := sanse.loop_event(p_event);
	IF NOT st.by_worker THEN
		note := format('%s by %s: %s', p_rating, p_by, coalesce(p_note, ''));
	END IF;
	ok := sanse.loop_check_standing(e, st, p_worker, p_token, p_note, p_by);
	done := sanse.loop_done_already(e, st, p_worker, p_at, note);
	IF done IS NOT NULL THEN
		RETURN done;
	END IF;
	SELECT * INTO m FROM sanse.loop_move x WHERE x.from_status = e.status AND x.stage = p_stage;
	IF NOT FOUND THEN
		PERFORM sanse.loop_refuse_stage(e, p_stage);
	END IF;
	ok := sanse.loop_check_values(st, p_note, p_rating, p_solved, p_by);
	since := CASE m.not_before WHEN 'called' THEN e.called_at WHEN 'arrived' THEN e.arrived_at
	                           WHEN 'handled' THEN e.handled_at WHEN 'fed_back' THEN e.fed_back_at END;
	ok := sanse.loop_time(p_at, st.noun, since,
	                      CASE m.not_before WHEN 'arrived' THEN format('the arrival at event %s', e.id)
	                                        ELSE format('event %s was %s', e.id, replace(m.not_before, '_', ' ')) END);
	IF st.by_worker AND NOT sanse.may_act(e.id, p_worker) THEN
		PERFORM sanse.loop_refuse_worker(e, p_worker, st.verb);
	END IF;
	IF m.to_status = 'handled' THEN
		IF EXISTS (SELECT 1 FROM sanse.event c WHERE c.parent_id = e.id AND c.status IN ('called', 'arrived')) THEN
			RAISE EXCEPTION 'event % has whistled events not yet handled', e.id
				USING ERRCODE = '55000', HINT = 'Each department must handle its child event first.';
		END IF;
	END IF;
	-- a transition without words of its own (an arrival) that ends its clock
	IF p_stage = 'still_here' THEN
		-- the departure answered before the task closes (its close then
		-- confirms nothing), and the history says why
		note := sanse.feed_departure_refute(e.id, p_worker, p_at, p_note);
	END IF;
	-- late says which steps a sweep had taken that it removes (loop_move_event)
	ok := sanse.loop_move_event(e, m, since, p_worker, p_at, note, p_rating, p_solved, p_by, m.ends_clock AND st.note_is IS NULL);
	IF p_stage = 'whistled' THEN
		RETURN sanse.call_event('task', e.resident_id, e.area_id, e.tier, 'whistled for ' || p_note, 'department',
		                        p_at, p_worker, e.id, p_note);
	END IF;
	RETURN e.id;
END
$$;
REVOKE ALL ON FUNCTION loop_transition(bigint, text, bigint, timestamptz, text, text, integer, boolean, text) FROM PUBLIC;
COMMENT ON FUNCTION loop_transition(bigint, text, bigint, timestamptz, text, text, integer, boolean, text) IS 'one transition of a closed-loop event by sanse.loop_move: lock, authorise, check the time, end and start the clocks, append the transition; arrive, handle_event, whistle, feed_back and evaluate call it';

-- The move itself, once allowed: the clock the move ends (the level reached
-- by p_at), the level it climbs, the clock it starts, the stage's record on
-- the event (a new round clears the last round's), and the transition
-- (with p_says_removed and no words of its own, the steps the clock's end
-- removed, if any).
CREATE OR REPLACE FUNCTION loop_move_event(e event, m loop_move, p_since timestamptz, p_worker bigint, p_at timestamptz,
                                           p_note text, p_rating integer, p_solved boolean, p_by text,
                                           p_says_removed boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	lvl sanse.event_step := ROW(e.id, e.level, e.assignee_id, e.level_since);
	again boolean := m.to_status = 'called' AND coalesce(m.from_status <> 'called', false);	-- called again: a new round
	ended record;
	note text := p_note;
BEGIN
	IF m.ends_clock THEN
		ended := sanse.loop_end_clock(e, p_since, p_at);
		lvl := ROW(e.id, ended.level, ended.assignee_id, ended.at);
		IF p_says_removed THEN
			note := CASE WHEN ended.removed IS NOT NULL
			             THEN format('synced %s after its time; removed escalation steps a sweep had taken: %s',
			                         date_trunc('second', now() - p_at), ended.removed) END;
		END IF;
	ELSIF m.climbs THEN
		lvl := ROW(e.id, least(e.level + 1, 4), sanse.leader_for(e.area_id, least(e.level + 1, 4)), p_at);
		INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
		VALUES (e.id, lvl.level, lvl.assignee_id, p_at) ON CONFLICT DO NOTHING;
	END IF;
	IF m.to_status <> m.from_status OR m.ends_clock OR m.starts_clock OR m.climbs THEN	-- a whistle leaves the event as it is
		UPDATE sanse.event x
		   SET status = m.to_status, level = lvl.level, level_since = lvl.at, assignee_id = lvl.assignee_id,
		       next_step_at = CASE WHEN m.starts_clock AND lvl.level < 4
		                           THEN sanse.zone_add(p_at, sanse.step_interval(x.kind, x.tier, m.to_status))
		                           WHEN NOT m.starts_clock AND m.to_status = m.from_status THEN x.next_step_at END,
		       called_at = CASE WHEN again THEN p_at ELSE x.called_at END,
		       arrived_at = CASE WHEN m.stage = 'arrived' THEN p_at WHEN NOT again THEN x.arrived_at END,
		       arrived_by = CASE WHEN m.stage = 'arrived' THEN p_worker WHEN NOT again THEN x.arrived_by END,
		       handled_at = CASE WHEN m.stage IN ('handled', 'still_here') THEN p_at WHEN NOT again THEN x.handled_at END,
		       handled_by = CASE WHEN m.stage IN ('handled', 'still_here') THEN p_worker WHEN NOT again THEN x.handled_by END,
		       action = CASE WHEN m.stage IN ('handled', 'still_here') THEN p_note WHEN NOT again THEN x.action END,
		       fed_back_at = CASE WHEN m.stage = 'fed_back' THEN p_at WHEN NOT again THEN x.fed_back_at END,
		       fed_back_by = CASE WHEN m.stage = 'fed_back' THEN p_worker WHEN NOT again THEN x.fed_back_by END,
		       feedback = CASE WHEN m.stage = 'fed_back' THEN p_note WHEN NOT again THEN x.feedback END,
		       rating = coalesce(p_rating, x.rating), solved = coalesce(p_solved, x.solved),
		       evaluated_by = coalesce(p_by, x.evaluated_by), reopened = x.reopened + again::int,
		       resolved_at = CASE WHEN m.to_status = 'closed' THEN p_at ELSE x.resolved_at END
		 WHERE x.id = e.id;
	END IF;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) VALUES (e.id, m.stage, p_at, p_worker, note);
	RETURN true;
END
$$;

-- The pinned transitions, each the one above with its own words.
-- 报到: presence, proved by the door token for an event about a resident.
-- An arrival synced after a sweep escalated the event removes the steps
-- dated after it (spec 7) and says so in its transition's note.
-- In C (src/loop_path.c): the plain arrival in three statements with saved
-- plans, anything else by sanse.loop_transition before anything is written.
CREATE OR REPLACE FUNCTION arrive(event_id bigint, worker_id bigint, token text DEFAULT NULL, at timestamptz DEFAULT now())
RETURNS void AS 'MODULE_PATHNAME', 'loop_arrive' LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, sanse;

-- 网格吹哨: a child task for a department, with its own clocks; its id.
CREATE OR REPLACE FUNCTION whistle(event_id bigint, department text, worker_id bigint, at timestamptz DEFAULT now())
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse
AS $$ BEGIN RETURN sanse.loop_transition(whistle.event_id, 'whistled', whistle.worker_id, whistle.at, whistle.department); END $$;

-- 处置: refused while a department whistled for has not handled its event.
-- In C as arrive is.
CREATE OR REPLACE FUNCTION handle_event(event_id bigint, worker_id bigint, action text, at timestamptz DEFAULT now())
RETURNS void AS 'MODULE_PATHNAME', 'loop_handle_event' LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, sanse;

-- 反馈
CREATE OR REPLACE FUNCTION feed_back(event_id bigint, worker_id bigint, note text, at timestamptz DEFAULT now())
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse
AS $$ DECLARE id bigint; BEGIN id := sanse.loop_transition(feed_back.event_id, 'fed_back', feed_back.worker_id, feed_back.at, feed_back.note); END $$;

-- 评价: by the resident or a supervisor, never by whoever took part in the
-- round (loop_took_part).  A rating of 2 or less, or not solved, reopens the
-- event one level up; otherwise it closes.  The rating is an integer so
-- every driver's plain integer parameter binds.
CREATE OR REPLACE FUNCTION evaluate(event_id bigint, rating integer, solved boolean, by text, comment text DEFAULT NULL,
                                    at timestamptz DEFAULT now())
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse
AS $$ DECLARE id bigint; BEGIN id := sanse.loop_transition(evaluate.event_id, CASE WHEN evaluate.rating <= 2 OR NOT evaluate.solved THEN 'reopened' ELSE 'closed' END,
                                                         NULL, evaluate.at, evaluate.comment, NULL, evaluate.rating, evaluate.solved, evaluate.by); END $$;

REVOKE ALL ON FUNCTION arrive(bigint, bigint, text, timestamptz), whistle(bigint, text, bigint, timestamptz),
	handle_event(bigint, bigint, text, timestamptz), feed_back(bigint, bigint, text, timestamptz),
	evaluate(bigint, integer, boolean, text, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION arrive(bigint, bigint, text, timestamptz) IS 'report in (报到) at an event; the door token proves presence for an event about a resident';
COMMENT ON FUNCTION whistle(bigint, text, bigint, timestamptz) IS 'whistle (网格吹哨) for a department: a child task event at level 3 with its own clocks; returns its id';
COMMENT ON FUNCTION handle_event(bigint, bigint, text, timestamptz) IS 'handle (处置) an arrived event; refused while whistled child events are unhandled';
COMMENT ON FUNCTION feed_back(bigint, bigint, text, timestamptz) IS 'feed back (反馈) on a handled event';
COMMENT ON FUNCTION evaluate(bigint, integer, boolean, text, text, timestamptz) IS 'evaluate (评价) a fed-back event: rating 1-5, solved; 2 or less or unsolved reopens it one level up, otherwise it closes';

REVOKE ALL ON FUNCTION loop_event(bigint), loop_refuse_stage(event, text), loop_end_clock(event, timestamptz, timestamptz),
	loop_check_standing(event, loop_stage, bigint, text, text, text), loop_done_already(event, loop_stage, bigint, timestamptz, text),
	loop_check_values(loop_stage, text, integer, boolean, text),
	loop_move_event(event, loop_move, timestamptz, bigint, timestamptz, text, integer, boolean, text, boolean) FROM PUBLIC;
