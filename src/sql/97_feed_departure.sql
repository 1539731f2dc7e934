-----------------------------------------------------------------------------
-- A departure that is not true (spec 9 with spec 7's moves): a department
-- reported a person left, the micro-grid leader went to the door
-- (sanse.arrive, with the door token) and found them still there.
-- sanse.still_here closes the task through sanse.loop_transition (the move
-- arrived > still_here > closed of sanse.loop_move, authorised as every
-- loop move: the caller's care, the bound worker), records the answer on
-- the departure, so the close confirms nothing: the care, the factors and
-- the department's assertions stay.  The department's later rows saying
-- left are rejected (with the event in the reason) until its list settles
-- it: a row naming the person without left, or a snapshot leaving them out.
-- Then a new left raises a new task.
-----------------------------------------------------------------------------

-- The departure of event p_event answered "still here" (called by
-- loop_transition, as the owner, once the move is allowed): the transition's
-- note, which says why the task closed.
CREATE OR REPLACE FUNCTION feed_departure_refute(p_event bigint, p_worker bigint, p_at timestamptz, p_note text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	d sanse.feed_departure;
BEGIN
	UPDATE sanse.feed_departure x SET refuted_at = p_at, refuted_by = p_worker
	 WHERE x.event_id = p_event AND x.confirmed_at IS NULL AND x.refuted_at IS NULL
	RETURNING * INTO d;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'event % is not a departure a department reported', p_event
			USING ERRCODE = '55000', HINT = 'Only the task that confirms a reported departure can be answered "still here".';
	END IF;
	-- the leader's note whole (within free_text_max(), checked before); the
	-- department and batch cut short so the words fit the note's room
	RETURN format('still here: not left as %s reported (batch %s); the care goes on%s',
	              left(d.department, 64), left(d.batch, 100), ': ' || nullif(btrim(p_note), ''));
END
$$;
REVOKE ALL ON FUNCTION feed_departure_refute(bigint, bigint, timestamptz, text) FROM PUBLIC;
COMMENT ON FUNCTION feed_departure_refute(bigint, bigint, timestamptz, text) IS 'sanse.still_here''s step inside loop_transition: the departure answered "still here" before its task closes; returns the transition''s note';

-- The leader's answer (pinned beside spec 7's moves): the person reported
-- left is still there.  The event must be a departure task in arrived (the
-- door token proved the leader came): it closes, handled by the worker with
-- the note, and nothing of the care changes.
CREATE OR REPLACE FUNCTION still_here(event_id bigint, worker_id bigint, note text DEFAULT NULL, at timestamptz DEFAULT now())
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse
AS $$ BEGIN PERFORM sanse.loop_transition(still_here.event_id, 'still_here', still_here.worker_id, still_here.at, still_here.note); END $$;
REVOKE ALL ON FUNCTION still_here(bigint, bigint, text, timestamptz) FROM PUBLIC;
ALTER FUNCTION still_here(bigint, bigint, text, timestamptz) SET lock_timeout = '5s';
COMMENT ON FUNCTION still_here(bigint, bigint, text, timestamptz) IS 'answer a departure task (a department reported the person left) at the door: the person is still there; the task closes, the care and the department''s assertions stay';

-- apply_feed's last step: a department's list that names a person without
-- left again (matched), or a snapshot that leaves them out, settles a
-- departure answered "still here"; a later left is a new report.
CREATE OR REPLACE FUNCTION feed_settle_departures(department text, batch text, mode text, t timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
BEGIN
	IF pg_catalog.to_regclass('pg_temp.feed_work') IS NULL OR pg_catalog.to_regclass('pg_temp.feed_allowed') IS NULL THEN
		RAISE EXCEPTION 'feed_settle_departures() is a step of sanse.apply_feed' USING ERRCODE = '55000', HINT = 'Call sanse.apply_feed.';
	END IF;
	UPDATE sanse.feed_departure d SET settled_at = t, settled_batch = batch
	 WHERE d.department = department AND d.refuted_at IS NOT NULL AND d.settled_at IS NULL
	   AND (EXISTS (SELECT 1 FROM pg_temp.feed_work w WHERE w.resident_id = d.resident_id AND w.outcome = 'matched')
	        OR (mode = 'snapshot'
	            AND NOT EXISTS (SELECT 1 FROM pg_temp.feed_work w WHERE w.resident_id = d.resident_id)
	            AND EXISTS (SELECT 1 FROM sanse.resident r JOIN pg_temp.feed_allowed f ON f.area_id = r.area_id
	                         WHERE r.id = d.resident_id)));
END
$$;
REVOKE ALL ON FUNCTION feed_settle_departures(text, text, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION feed_settle_departures(text, text, text, timestamptz) IS 'apply_feed''s last step: a list naming the person without left again, or a snapshot leaving them out, settles a departure answered "still here"';
