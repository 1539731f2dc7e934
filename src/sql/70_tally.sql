-----------------------------------------------------------------------------
-- worker_month: check-in rates kept as they happen
--
-- A window's outcome counts for the resident's carers at the moment it is
-- recorded: met when the visit that met it is stored, missed when its overdue
-- event is opened.  Reassigning a carer later does not rewrite history.  An
-- event that is removed (an on-time visit that reached the server after a
-- sweep) is taken back from exactly the workers it was charged to.
--
-- Writers only append to worker_month_pending (check_in, the event
-- triggers), so a check-in never waits for another check-in or a sweep over a
-- shared counter, and no lock order can deadlock them; each sweep folds the
-- pending rows into worker_month.  worker_tally adds both.
-----------------------------------------------------------------------------

-- Calendar month of a time in sanse.timezone (the zone when the row is tallied).
CREATE OR REPLACE FUNCTION month_of(t timestamptz) RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
RETURN date_trunc('month', t AT TIME ZONE sanse.current_zone())::date;
COMMENT ON FUNCTION month_of(timestamptz) IS 'first day of the month of t in sanse.timezone';

CREATE TABLE worker_month (
	worker_id bigint NOT NULL REFERENCES worker (id) ON DELETE CASCADE,
	month date NOT NULL,
	windows_met bigint NOT NULL DEFAULT 0,
	windows_missed bigint NOT NULL DEFAULT 0,
	visits bigint NOT NULL DEFAULT 0,
	flagged_visits bigint NOT NULL DEFAULT 0,
	checklist_items bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (worker_id, month)
);
CREATE INDEX worker_month_month ON worker_month (month);
COMMENT ON TABLE worker_month IS 'per worker and month (sanse.timezone): windows of residents in their care met and missed, their visits, flagged visits and checklist items ticked; folded from worker_month_pending by each sweep';

-- Each row counts its numbers once for every worker in workers.
CREATE TABLE worker_month_pending (
	worker_id bigint NOT NULL,
	month date NOT NULL,
	windows_met int NOT NULL DEFAULT 0,
	windows_missed int NOT NULL DEFAULT 0,
	visits int NOT NULL DEFAULT 0,
	flagged_visits int NOT NULL DEFAULT 0,
	checklist_items int NOT NULL DEFAULT 0
);

CREATE OR REPLACE VIEW worker_tally AS
SELECT t.worker_id, t.month,
       sum(t.windows_met)::bigint AS windows_met, sum(t.windows_missed)::bigint AS windows_missed,
       sum(t.visits)::bigint AS visits, sum(t.flagged_visits)::bigint AS flagged_visits,
       sum(t.checklist_items)::bigint AS checklist_items
  FROM (SELECT m.worker_id, m.month, m.windows_met, m.windows_missed, m.visits, m.flagged_visits, m.checklist_items
          FROM sanse.worker_month m
        UNION ALL
        SELECT p.worker_id, p.month, p.windows_met, p.windows_missed, p.visits, p.flagged_visits, p.checklist_items
          FROM sanse.worker_month_pending p) t
 GROUP BY t.worker_id, t.month;
COMMENT ON VIEW worker_tally IS 'worker_month plus the rows not folded into it yet';

CREATE OR REPLACE FUNCTION fold_worker_month() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n bigint;
BEGIN
	WITH moved AS (
		DELETE FROM sanse.worker_month_pending RETURNING *)
	INSERT INTO sanse.worker_month AS m (worker_id, month, windows_met, windows_missed, visits, flagged_visits, checklist_items)
	SELECT p.worker_id, p.month, sum(p.windows_met), sum(p.windows_missed), sum(p.visits),
	       sum(p.flagged_visits), sum(p.checklist_items)
	  FROM moved p
	 GROUP BY 1, 2
	 ORDER BY 1, 2
	ON CONFLICT (worker_id, month) DO UPDATE
	   SET windows_met = m.windows_met + excluded.windows_met,
	       windows_missed = m.windows_missed + excluded.windows_missed,
	       visits = m.visits + excluded.visits,
	       flagged_visits = m.flagged_visits + excluded.flagged_visits,
	       checklist_items = m.checklist_items + excluded.checklist_items;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION fold_worker_month() FROM PUBLIC;
COMMENT ON FUNCTION fold_worker_month() IS 'fold worker_month_pending into worker_month; returns the number of (worker, month) rows written';

-- (PL/pgSQL: planned once a session; a check-in that comes late calls it.)
CREATE OR REPLACE FUNCTION tally_missed(events event[], sign int) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	INSERT INTO sanse.worker_month_pending (worker_id, month, windows_missed)
	SELECT w.worker_id, sanse.month_of(e.due_at), tally_missed.sign
	  FROM unnest(tally_missed.events) e
	 CROSS JOIN LATERAL unnest(coalesce(e.charged_to, sanse.carers_of(e.resident_id))) w(worker_id)
	 WHERE e.kind = 'overdue';
END
$$;
REVOKE ALL ON FUNCTION tally_missed(event[], int) FROM PUBLIC;

CREATE OR REPLACE FUNCTION event_tally() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'event_tally', '{sanse.event}');
	-- only missed windows count (the closed loop's events are not tallied)
	IF TG_OP = 'INSERT' THEN
		-- one pending row per (carer, month) of the statement's new events: a
		-- catch-up sweep opens thousands in one statement (75_catch_up.sql)
		INSERT INTO sanse.worker_month_pending (worker_id, month, windows_missed)
		SELECT w.worker_id, sanse.month_of(n.due_at), count(*)
		  FROM new_events n
		 CROSS JOIN LATERAL unnest(coalesce(n.charged_to, sanse.carers_of(n.resident_id))) w(worker_id)
		 WHERE n.kind = 'overdue'
		 GROUP BY 1, 2;
	ELSIF EXISTS (SELECT 1 FROM old_events o WHERE o.kind = 'overdue') THEN
		PERFORM sanse.tally_missed(ARRAY(SELECT ROW(o.*)::sanse.event FROM old_events o WHERE o.kind = 'overdue'), -1);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER event_tally_insert AFTER INSERT ON event
	REFERENCING NEW TABLE AS new_events
	FOR EACH STATEMENT EXECUTE FUNCTION event_tally();
CREATE TRIGGER event_tally_delete AFTER DELETE ON event
	REFERENCING OLD TABLE AS old_events
	FOR EACH STATEMENT EXECUTE FUNCTION event_tally();

-- Recompute the whole tally from visits and events, e.g. after rows were
-- loaded with triggers off or sanse.timezone changed.  Met windows are
-- credited to the current carers (history of carers is not kept).
CREATE OR REPLACE FUNCTION rebuild_worker_month() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n bigint;
BEGIN
	-- no check-in, event or fold while we count
	LOCK TABLE sanse.visit, sanse.event IN SHARE MODE;
	LOCK TABLE sanse.worker_month, sanse.worker_month_pending IN EXCLUSIVE MODE;
	DELETE FROM sanse.worker_month_pending;
	DELETE FROM sanse.worker_month;
	INSERT INTO sanse.worker_month (worker_id, month, windows_met, windows_missed, visits, flagged_visits, checklist_items)
	SELECT x.worker_id, x.month, sum(x.met), sum(x.missed), sum(x.visits), sum(x.flagged), sum(x.items)
	  FROM (SELECT v.worker_id, sanse.month_of(v.at) AS month, 0 AS met, 0 AS missed, 1 AS visits,
	               (v.flags <> '{}')::int AS flagged, cardinality(v.checklist) AS items
	          FROM sanse.visit v
	        UNION ALL
	        SELECT c.worker_id, sanse.month_of(v.window_due), 1, 0, 0, 0, 0
	          FROM sanse.visit v CROSS JOIN LATERAL unnest(sanse.carers_of(v.resident_id)) c(worker_id)
	         WHERE v.window_due IS NOT NULL
	        UNION ALL
	        SELECT w.worker_id, sanse.month_of(e.due_at), 0, 1, 0, 0, 0
	          FROM sanse.event e
	         CROSS JOIN LATERAL unnest(coalesce(e.charged_to, sanse.carers_of(e.resident_id))) AS w(worker_id)
	         WHERE e.kind = 'overdue') x
	 GROUP BY x.worker_id, x.month;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION rebuild_worker_month() IS 'recompute worker_month from visits and events (met windows credited to current carers); returns the number of rows';
REVOKE ALL ON FUNCTION rebuild_worker_month() FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('worker_month', '');
SELECT pg_catalog.pg_extension_config_dump('worker_month_pending', '');
CREATE INDEX worker_month_pending_worker ON worker_month_pending (worker_id, month);
COMMENT ON TABLE worker_month_pending IS 'tally rows appended by check_in and the event triggers since the last sweep, one per worker; each sweep folds them into worker_month';
CREATE TRIGGER a_restore_guard BEFORE INSERT ON worker_month FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON worker_month_pending FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
REVOKE ALL ON FUNCTION event_tally() FROM PUBLIC;
