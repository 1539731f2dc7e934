-----------------------------------------------------------------------------
-- The closed loop's stages as data (闭环处置, spec 7): which stage an event
-- may enter from which, where that leaves it, what bounds the time, and
-- which clock ends and which starts.  sanse.loop_transition (62_loop.sql)
-- does every move by these rows; the transitions themselves are kept in
-- sanse.event_transition.  The clocks' lengths are sanse.loop_policy's
-- (60_events.sql); its triggers are here.
-----------------------------------------------------------------------------

-- The stages a transition records (event_transition.stage): a vocabulary,
-- with the words the refusals use (the verb "worker 7 may not <verb> event
-- 12", the participle "event 12 is called, so it cannot be <done>", the noun
-- "<noun> cannot be dated ...", and what the transition's text is).  Who
-- makes it: a named worker (by_worker), or for an evaluation the resident or
-- a supervisor, who must not have taken part in the round.
CREATE TABLE loop_stage (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL,
	verb text NOT NULL,
	done text NOT NULL,
	noun text NOT NULL,
	note_is text,
	by_worker boolean NOT NULL
);
COMMENT ON TABLE loop_stage IS 'vocabulary of event_transition.stage: the closed loop''s transitions (call, arrival, whistle, handling, feedback, an evaluation that reopens or closes, and a departure task answered "still here"), with the words their refusals use';
COMMENT ON COLUMN loop_stage.by_worker IS 'made by a named worker the caller acts for (true), or an evaluation by the resident or a supervisor who took no part in the round (false)';
COMMENT ON COLUMN loop_stage.note_is IS 'what the transition''s text (event_transition.note) is: the call''s detail, the action, the department, the feedback note, the evaluation''s comment';
GRANT SELECT ON loop_stage TO PUBLIC;
INSERT INTO loop_stage (value, position, meaning, verb, done, noun, note_is, by_worker) VALUES
	('called', 1, 'raised, dispatched or whistled for (呼叫): the event waits for a worker to arrive', 'call', 'called', 'a call', 'detail', true),
	('arrived', 2, 'a worker reported in (报到): for an event about a resident, at the door, proved by its token', 'arrive at', 'arrived at', 'an arrival', NULL, true),
	('whistled', 3, 'a department was whistled for (网格吹哨): a child task with its own clocks; the event stays where it is', 'whistle for', 'whistled for', 'a whistle', 'department', true),
	('handled', 4, 'handled (处置), once every whistled child event is handled', 'handle', 'handled', 'a handling', 'action', true),
	('fed_back', 5, 'the outcome was fed back (反馈)', 'feed back on', 'fed back', 'a feedback', 'note', true),
	('reopened', 6, 'evaluated (评价) with a rating of 2 or less, or not solved: called again one level up', 'evaluate', 'evaluated', 'an evaluation', 'comment', false),
	('closed', 7, 'evaluated (评价) and closed: solved, rated 3 or more', 'evaluate', 'evaluated', 'an evaluation', 'comment', false),
	('still_here', 8, 'a departure a department reported answered at the door: the person is still there; the task closes and the care goes on', 'answer "still here" to', 'answered "still here"', 'a "still here" answer', 'note', true),
	('cancelled', 9, 'closed by sanse before anyone arrived: a quiet warning a reading synced late disproved (no move of sanse.loop_move: nobody makes it)', 'cancel', 'cancelled', 'a cancellation', 'note', false);

-- The moves: from a status (NULL: a new event), a transition of a stage
-- leads to a status.  `at` may not precede the time the event entered
-- not_before; ends_clock: the clock of the status left (called: arrival,
-- arrived: handling) ends at `at`, its steps due by then reached and those
-- dated after it removed; starts_clock: the clock of the status entered
-- starts at `at`; climbs: one level up at `at` (level 4 at most).  A move
-- that changes the status and starts no clock leaves none running.
CREATE TABLE loop_move (
	from_status text REFERENCES event_status (value),
	stage text NOT NULL REFERENCES loop_stage (value),
	to_status text NOT NULL REFERENCES event_status (value),
	not_before text REFERENCES event_status (value),
	ends_clock boolean NOT NULL,
	starts_clock boolean NOT NULL,
	climbs boolean NOT NULL,
	CONSTRAINT loop_move_once UNIQUE NULLS NOT DISTINCT (from_status, stage)
);
COMMENT ON TABLE loop_move IS 'the closed loop''s moves: from which status a stage may be entered, the status it leads to, the stage whose time bounds it, which clock ends and which starts';
GRANT SELECT ON loop_move TO PUBLIC;
INSERT INTO loop_move (from_status, stage, to_status, not_before, ends_clock, starts_clock, climbs) VALUES
	(NULL, 'called', 'called', NULL, false, true, false),
	('called', 'arrived', 'arrived', 'called', true, true, false),
	('called', 'whistled', 'called', 'called', false, false, false),
	('arrived', 'whistled', 'arrived', 'called', false, false, false),
	('arrived', 'handled', 'handled', 'arrived', true, false, false),
	('handled', 'fed_back', 'fed_back', 'handled', false, false, false),
	('fed_back', 'reopened', 'called', 'fed_back', false, true, true),
	('fed_back', 'closed', 'closed', 'fed_back', false, false, false),
	-- only a departure task (sanse.still_here, 97_feed_departure.sql)
	('arrived', 'still_here', 'closed', 'arrived', true, false, false);

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
	stage text NOT NULL REFERENCES loop_stage (value),
	at timestamptz NOT NULL,
	worker_id bigint REFERENCES worker (id),
	-- a worker's text within free_text_max(), and room for the words sanse
	-- puts around it ('4 by resident: …', 'still here: not left as …')
	note text CHECK (length(note) <= @SANSE_FREE_TEXT_MAX@ + 256),
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
