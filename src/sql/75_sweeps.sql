-----------------------------------------------------------------------------
-- Sweeps: a lock only sanse can take, visible skips, no future times
-----------------------------------------------------------------------------

-- Nobody holds a privilege on this table, so only the owner (sweep runs as
-- the owner) can lock it: an advisory lock could be taken by any login and
-- would switch every sweep off.
CREATE TABLE sweep_lock ();
REVOKE ALL ON sweep_lock FROM PUBLIC;
COMMENT ON TABLE sweep_lock IS 'locked by sanse.sweep for its run; no rows, no grants';

-- Skipped sweeps, counted even when the skipping transaction rolls back.
CREATE SEQUENCE sweep_skipped;
REVOKE ALL ON sweep_skipped FROM PUBLIC;

-- Sanse's lock bound: check_in, the closed loop's functions and the sweep
-- wait at most lock_timeout = 5s for each lock another session holds (their
-- declarations SET it), then give up with 55P03 — a role's LOCK TABLE or
-- long-held row locks in its own town hold up other towns for that long at
-- most.  The sweep gives up only the phase that waited (the next sweep does
-- it, every time derived from the data) and records here who held the lock,
-- for sweep_status, with a lock_timeout row in the audit log.
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

-- Who holds up a phase that gave up: sessions holding a lock on one of
-- sanse's tables in a mode that blocks its writes (SHARE or stronger), first;
-- then sessions that hold a row-level lock mode on one (SELECT … FOR UPDATE,
-- UPDATE) in a transaction older than the bound, which may hold the rows it
-- waited for.  Read from pg_locks and pg_stat_activity only: no table of
-- sanse is read (it may be the one locked).  The login is pg_stat_activity's
-- usename (a SET ROLE inside that session is not visible from outside).
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

-- A sweep phase gave up waiting for a lock (called from its handler, the
-- phase rolled back): recorded for sweep_status, audited, and a WARNING
-- with 55P03.
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

-- A hot standby (recovery in progress: a streaming replica BI reads, or a
-- server demoted by a switchover) can write nothing; sweep() there returns
-- at once and sweep_status says why.  One function, so that every caller
-- asks the same question.
CREATE OR REPLACE FUNCTION on_standby() RETURNS boolean
LANGUAGE sql VOLATILE PARALLEL SAFE
RETURN pg_catalog.pg_is_in_recovery();
COMMENT ON FUNCTION on_standby() IS 'true on a hot standby (recovery in progress): sanse.sweep() writes nothing there';

CREATE OR REPLACE VIEW sweep_status AS
SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END AS sweeps_skipped,
       (SELECT l.pid FROM pg_catalog.pg_locks l
         WHERE l.locktype = 'relation' AND l.relation = 'sanse.sweep_lock'::regclass
           AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
           AND l.granted
         LIMIT 1) AS running_pid,
       (SELECT count(*) FROM sanse.sweep_lock_timeout) AS lock_timeouts,
       t.at AS last_lock_timeout_at, t.phase AS last_lock_phase, t.holder AS last_lock_holder,
       t.holder_pid AS last_lock_holder_pid, t.relation AS last_lock_relation, t.mode AS last_lock_mode,
       sb.standby,
       CASE WHEN sb.standby THEN 'this server is a hot standby (recovery in progress): sanse.sweep() writes '
                                 'nothing here; sweeps run on the primary, and here once it is promoted' END AS paused_because,
       g.at AS last_sweep_at, g.ended_at - g.started_at AS last_sweep_took,
       g.overdue_opened AS last_overdue_opened, g.escalations AS last_escalations,
       coalesce(g.overdue_left OR g.escalations_left, false) AS work_left,
       g.overdue_left, g.escalations_left
  FROM sanse.sweep_skipped s
 CROSS JOIN (SELECT sanse.on_standby() AS standby) sb
  LEFT JOIN LATERAL (SELECT * FROM sanse.sweep_lock_timeout x ORDER BY x.at DESC LIMIT 1) t ON true
  LEFT JOIN sanse.sweep_progress g ON true;
COMMENT ON VIEW sweep_status IS 'sweeps skipped since install because another was running, the pid of the sweep running now, and how many sweep phases gave up waiting for a lock: the last one''s time, phase and holder (login, pid, table, mode); standby: true on a hot standby, where sweeps write nothing (paused_because says so); the last sweep that ran: its time, how long it took, events opened, steps taken, and work_left (overdue_left, escalations_left) when a catch-up left work to the next call';

-- Sweep times: at most 5 minutes ahead, as check_in (a sweep dated ahead
-- would open events for windows still open and charge their carers).
CREATE OR REPLACE FUNCTION check_sweep_time(at timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF at IS NULL OR at > pg_catalog.clock_timestamp() + interval '5 minutes' OR at = '-infinity' THEN
		RAISE EXCEPTION 'a sweep cannot be dated %', CASE WHEN at IS NULL THEN 'NULL' WHEN at = '-infinity' THEN '-infinity' ELSE 'ahead of the server clock' END
			USING ERRCODE = '22008', DETAIL = 'A sweep may be dated at most 5 minutes ahead of the server clock.';
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION sweep_overdue(at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	b record;
	n integer := 0;
	ids bigint[];
	i integer := 1;
BEGIN
	PERFORM sanse.check_sweep_time(at);
	-- Lock the due residents and open the event of each missed window once,
	-- unless its missed period has its event already (a window re-derived
	-- after it was missed: one missed period, one event).  A resident whose
	-- row another transaction holds (a check-in, a writer, or a role keeping
	-- its own town's rows locked) is skipped, not waited for: the next sweep
	-- opens its event with the same due time and steps, or a late check-in
	-- opens and closes it, so no town's row locks hold up another's events.
	-- In batches of 5,000 (open_due_events, 75_catch_up.sql), at level 1;
	-- sweep_escalations takes the steps.
	ids := sanse.due_without_event(at, NULL);
	WHILE i <= cardinality(ids) LOOP
		b := sanse.open_due_events(at, ids[i:i + 4999], false);
		n := n + b.opened;
		i := i + 5000;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION sweep_overdue(timestamptz) IS 'open the overdue event of every window due by at that has none; returns how many';

CREATE OR REPLACE FUNCTION sweep_escalations(at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.check_sweep_time(at);
	RETURN sanse.escalate_events(at);
END
$$;
COMMENT ON FUNCTION sweep_escalations(timestamptz) IS 'apply every escalation step due by at, each at its logical time; returns how many';

-- sweep()'s phases a catch-up defers: the coverage counts folded, the
-- history of every day that ended since the last one recorded, and the
-- screen aggregate-only roles read (77_published.sql) when due; each given
-- up alone, as sweep's phases.
CREATE OR REPLACE FUNCTION sweep_daily_phases(at timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	-- the micro grids written since the last fold, counted again
	-- (80_area_count.sql; until then coverage counts them from their residents)
	BEGIN
		PERFORM sanse.area_count_fold();
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: the coverage counts changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('coverage counts');
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
END
$$;
REVOKE ALL ON FUNCTION sweep_daily_phases(timestamptz) FROM PUBLIC;

-- Runs as the owner (only the owner can lock sweep_lock); revoked from
-- PUBLIC: grant EXECUTE to the role that schedules sweeps.
-- Under REPEATABLE READ or SERIALIZABLE (a DBA's session default) a phase
-- whose rows changed after the transaction's snapshot fails with 40001; it
-- is rolled back alone and left to the next sweep, which reaches the same
-- state because every step time is derived from the data.
CREATE OR REPLACE FUNCTION sweep(at timestamptz DEFAULT now(),
                                 OUT overdue_opened integer, OUT escalations integer, OUT skipped boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse SET lock_timeout = '5s' AS $$
DECLARE
	holder int;
	began timestamptz := pg_catalog.clock_timestamp();
	until timestamptz := pg_catalog.clock_timestamp() + sanse.sweep_budget();
	c record;
	overdue_left boolean := false;
	escalations_left boolean := false;
	-- the last call left catch-up work: this one is still part of it
	catching_up boolean := coalesce((SELECT p.overdue_left OR p.escalations_left FROM sanse.sweep_progress p), false);
BEGIN
	PERFORM sanse.check_sweep_time(at);
	overdue_opened := 0;
	escalations := 0;
	-- On a hot standby nothing can be written (nor the lock taken): return
	-- at once, quietly.  A job still pointed here after a switchover runs
	-- every minute; a NOTICE reaches its caller but not the server log (at
	-- the default log_min_messages), and sweep_status says why.
	IF sanse.on_standby() THEN
		RAISE NOTICE 'sanse.sweep: this server is a hot standby; nothing swept here'
			USING HINT = 'Sweeps run on the primary (see sanse.sweep_status).';
		skipped := true;
		RETURN;
	END IF;
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
	-- A catch-up is bounded (75_catch_up.sql): each event opened at the level
	-- its schedule reached, with its steps, in batches; no batch started
	-- after sweep_budget(); what is left is the next call's.
	BEGIN
		c := sanse.sweep_catch_up(at, until);
		overdue_opened := c.opened;
		escalations := c.climbed;
		overdue_left := c.more;
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: overdue residents changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('overdue events');
	END;
	-- quiet and silent devices and the partitions of readings
	-- (74_device_sweep.sql), before the clocks run, so that a warning found
	-- late climbs in this sweep
	PERFORM sanse.sweep_device_phases(at);
	BEGIN
		escalations := escalations + sanse.escalate_events(at, p_until => until);
		escalations_left := EXISTS (SELECT 1 FROM sanse.event e WHERE e.status <> 'closed' AND e.next_step_at <= at);
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
	-- A call of a catch-up (one that leaves work to the next, or follows one
	-- that did, up to the call that ends it) records no history and publishes
	-- no screen: it holds the rows it opened and stepped until it commits, and
	-- those phases can take seconds at a province's scale.  The first call
	-- after the catch-up does them (every day that ended since the last one
	-- recorded, with every event the catch-up opened; the screen when due).
	IF NOT (overdue_left OR escalations_left OR catching_up) THEN
		PERFORM sanse.sweep_daily_phases(at);
	END IF;
	PERFORM sanse.sweep_progress_record(at, began, overdue_opened, escalations, overdue_left, escalations_left);
	skipped := false;
END
$$;

-- One pg_cron job per database: pg_cron keys jobs by (name, user) whatever
-- their database, so one name for every database would make the second
-- database to schedule silently take over the first one's job.
CREATE OR REPLACE FUNCTION sweep_job_name() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN 'sanse-sweep:' || current_database();
COMMENT ON FUNCTION sweep_job_name() IS 'name of this database''s pg_cron sweep job: sanse-sweep:<database>';

CREATE OR REPLACE FUNCTION schedule_sweeps(schedule text DEFAULT '* * * * *') RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = '55000',
			      HINT = format('CREATE EXTENSION pg_cron here if this is the database named by cron.database_name; '
			                    'otherwise run in that database: SELECT cron.schedule_in_database(%L, %L, %L, %L);',
			                    sanse.sweep_job_name(), schedule, 'SELECT sanse.sweep()', current_database());
	END IF;
	-- pg_cron lives here, so cron.schedule runs the job in this database (and,
	-- unlike cron.schedule_in_database, needs no superuser)
	RETURN cron.schedule(sanse.sweep_job_name(), schedule, 'SELECT sanse.sweep()');
END
$$;
COMMENT ON FUNCTION schedule_sweeps(text) IS 'create or update this database''s pg_cron job sanse-sweep:<database> that runs sanse.sweep()';

CREATE OR REPLACE FUNCTION unschedule_sweeps() RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	job bigint;
	dropped boolean := false;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = '55000',
			      HINT = format('In the database named by cron.database_name run: SELECT cron.unschedule(%L);',
			                    sanse.sweep_job_name());
	END IF;
	-- this database's job only (and one named sanse-sweep by an older sanse)
	FOR job IN EXECUTE 'SELECT j.jobid FROM cron.job j
	                     WHERE j.jobname IN ($1, ''sanse-sweep'') AND j.database = current_database()
	                       AND j.username = current_user'
	           USING sanse.sweep_job_name() LOOP
		EXECUTE 'SELECT cron.unschedule($1)' USING job;
		dropped := true;
	END LOOP;
	RETURN dropped;
END
$$;
COMMENT ON FUNCTION unschedule_sweeps() IS 'drop this database''s pg_cron sweep job; false if there was none';

-- The sweep job of this database and how its last run ended, for the DBA and
-- the screen (pg_cron shows a role its own jobs; a superuser sees all).
CREATE OR REPLACE FUNCTION sweep_job(OUT jobid bigint, OUT jobname text, OUT schedule text, OUT username text,
                          OUT active boolean, OUT last_status text, OUT last_start timestamptz,
                          OUT last_end timestamptz, OUT last_message text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = '55000',
			      HINT = format('In the database named by cron.database_name: SELECT * FROM cron.job_run_details '
			                    'WHERE jobid = (SELECT jobid FROM cron.job WHERE jobname = %L) ORDER BY runid DESC LIMIT 1;',
			                    sanse.sweep_job_name());
	END IF;
	RETURN QUERY EXECUTE
		'SELECT j.jobid, j.jobname::text, j.schedule::text, j.username::text, j.active,
		        d.status::text, d.start_time, d.end_time, d.return_message::text
		   FROM cron.job j
		   LEFT JOIN LATERAL (SELECT r.status, r.start_time, r.end_time, r.return_message
		                        FROM cron.job_run_details r WHERE r.jobid = j.jobid
		                       ORDER BY r.runid DESC LIMIT 1) d ON true
		  WHERE j.jobname IN ($1, ''sanse-sweep'') AND j.database = current_database()
		  ORDER BY j.jobid'
		USING sanse.sweep_job_name();
END
$$;
COMMENT ON FUNCTION sweep_job() IS 'this database''s pg_cron sweep job and its last run: status (succeeded, failed, running), times, message';

REVOKE ALL ON FUNCTION sweep(timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION sweep(timestamptz) IS 'sweep_overdue, sweep_device_phases (quiet warnings and silent tasks, the partitions of readings), sweep_escalations (overdue events and the loop''s clocks), forget_expired, fold_worker_month, area_count_fold (the coverage counts), then record_history (the daily history) and publish_screen_if_due (the screen aggregate-only roles read), one sweep at a time (an overlapping one skips, with a WARNING, and is counted in sweep_status); on a hot standby it writes nothing and returns skipped';
